"""Loaded tiny backends and a `smoke`-task sample loader for defense tests (session-scoped, built once)."""

from __future__ import annotations

from collections.abc import Callable
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
    from harness.registries import default_registries
    from harness.runner import resolve_samples_loader
    from tasks.base import TaskContext

    return resolve_samples_loader(default_registries(), TaskContext(cache_dir=cache_dir))
