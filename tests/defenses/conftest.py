"""Loaded tiny backends and defense contexts for defense tests (one load per model per session)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_backend(cache_dir: Path) -> Callable[[str], object]:
    """`tiny_backend("tiny-omni")` -> the loaded backend, built into the session cache on first use."""
    from defenses.cli_common import load_backend
    from harness.registries import default_registries

    loaded: dict[str, object] = {}

    def get(kind: str):
        if kind not in loaded:
            loaded[kind] = load_backend(default_registries(), kind, cache_dir)
        return loaded[kind]

    return get


@pytest.fixture(scope="session")
def make_context(cache_dir: Path) -> Callable[..., object]:
    """`make_context("tiny-omni", evaluation_samples=...)` -> the DefenseContext `harness run` would build."""
    from defenses.cli_common import defense_context
    from harness.registries import default_registries

    def make(model: str, evaluation_samples: Sequence = (), seed: int = 0):
        return defense_context(default_registries(), model, cache_dir, seed=seed, show_progress=False,
                               evaluation_samples=evaluation_samples)

    return make
