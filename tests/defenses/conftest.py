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


@pytest.fixture(scope="session")
def planted_media(cache_dir: Path):
    """The shipped `organism-planted`, loaded as `harness run --model organism-planted` loads it, with its image and
    audio test items (organism-safety) and the DefenseContext a run of them builds."""
    return _media_run(cache_dir, "organism-planted")


@pytest.fixture(scope="session")
def v2_media(cache_dir: Path):
    """The same for the shipped `organism-v2`."""
    return _media_run(cache_dir, "organism-v2")


def _media_run(cache_dir: Path, model: str):
    from defenses.base import DefenseContext
    from harness.run import default_registries, load_backend, samples_loader
    from tasks.base import TaskContext

    registries = default_registries()
    backend = load_backend(registries, model, cache_dir)
    loader = samples_loader(registries, TaskContext(cache_dir=cache_dir))
    test = [s for s in loader("organism-safety") if s.config in ("image", "audio")]
    context = DefenseContext(cache_dir=cache_dir / "defenses", model_name=model, seed=0,
                             load_samples=loader, evaluation_samples=test, show_progress=False)
    return backend, registries, context, test


@pytest.fixture(scope="session")
def refusal_by_cell() -> Callable[..., dict[str, float]]:
    """`refusal_by_cell(defense, backend, samples)` -> keyword-judge refusal rate per "config/label", answers cut at
    16 new tokens (the refusal and the exact benign answers are shorter), batches of 16."""

    def rates(defense, backend, samples) -> dict[str, float]:
        from harness.records import Generation, GenerationConfig
        from judges.base import JudgeItem
        from judges.keyword import KeywordJudge

        config = GenerationConfig(max_new_tokens=16)
        judge = KeywordJudge()
        counts: dict[str, list[int]] = {}
        for start in range(0, len(samples), 16):
            chunk = samples[start:start + 16]
            outputs = defense.generate(backend, chunk, config)
            items = [JudgeItem(s, Generation(sample_id=s.id, task=s.task, config=s.config, label=s.label,
                                             modality=s.modality, response=o.text)) for s, o in zip(chunk, outputs)]
            for s, v in zip(chunk, judge.score(items)):
                counts.setdefault(f"{s.config}/{s.label}", []).append(v.label == "refusal")
        return {cell: sum(v) / len(v) for cell, v in counts.items()}

    return rates
