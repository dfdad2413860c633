"""Judges score generations (see `judges.base` for the contract)."""

from judges.base import Judge, JudgeItem

__all__ = ["Judge", "JudgeItem"]
