"""Loaded tiny backends, defense contexts and a task sample loader for defense tests (session-scoped, built once)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from harness.records import Sample


@pytest.fixture(scope="session")
def omni(tiny_omni_path: Path):
    from harness.backends.qwen_omni import QwenOmniBackend

    backend = QwenOmniBackend(str(tiny_omni_path))
    backend.load()
    return backend


@pytest.fixture(scope="session")
def load_task(cache_dir: Path) -> Callable[[str], list[Sample]]:
    """Task selector -> samples, as `harness run` gives defenses (`smoke` media rendered into the session cache)."""
    from harness.run import default_registries, samples_loader
    from tasks.base import TaskContext

    return samples_loader(default_registries(), TaskContext(cache_dir=cache_dir))


@pytest.fixture(scope="session")
def tiny_backend(cache_dir: Path) -> Callable[[str], object]:
    """`tiny_backend("tiny-omni")` -> the loaded backend, built into the session cache on first use."""
    from harness.run import default_registries, load_backend

    loaded: dict[str, object] = {}

    def get(kind: str):
        if kind not in loaded:
            loaded[kind] = load_backend(default_registries(), kind, cache_dir)
        return loaded[kind]

    return get


@pytest.fixture(scope="session")
def make_context(cache_dir: Path) -> Callable[..., object]:
    """`make_context("tiny-omni", evaluation_samples=...)` -> the DefenseContext `harness run` would build."""
    from harness.run import default_registries, defense_context
    from tasks.base import TaskContext

    def make(model: str, evaluation_samples: Sequence = (), seed: int = 0):
        return defense_context(default_registries(), model, TaskContext(cache_dir=cache_dir), seed=seed,
                               show_progress=False, evaluation_samples=evaluation_samples)

    return make
