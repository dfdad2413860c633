"""Inference-time defenses (see `defenses.base` for the contract)."""

from defenses.base import Defense, DefenseContext, NoDefense

__all__ = ["Defense", "DefenseContext", "NoDefense"]
