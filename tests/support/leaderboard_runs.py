"""Scored run directories in the real run-store format, without a model: for leaderboard tests and the
leaderboard build benchmark. Verdicts come from a real judge (the keyword judge by default) and summary.json from
harness.summary, exactly as `harness run` writes them; run_info.json carries synthetic generation timings."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.records import Generation, GenerationConfig, RunSpec, Sample, TaskRef, user_message
from harness.store import RunStore
from harness.summary import summarise
from judges.base import JudgeItem
from judges.keyword import KeywordJudge

Respond = Callable[[Sample], str]


def text_samples(task: str, config: str, n_harmful: int, n_benign: int, n_utility: int = 0,
                 prefix: str = "") -> list[Sample]:
    out = []
    for label, n in (("harmful", n_harmful), ("benign", n_benign), ("utility", n_utility)):
        for i in range(n):
            out.append(Sample(id=f"{task}/{config}/{label}/{prefix}{i}", task=task, config=config, label=label,
                              messages=(user_message(f"{label} request {prefix}{i} for {config}"),),
                              category="cat" if label == "harmful" else None, source_id=f"{label}-{i}",
                              reference="A" if label == "utility" else None))
    return out


def media_samples(task: str, config: str, kind: str, paths: Sequence[Path], label: str = "harmful") -> list[Sample]:
    return [Sample(id=f"{task}/{config}/{label}/m{i}", task=task, config=config, label=label,  # type: ignore[arg-type]
                   messages=(user_message(f"look at this {kind}", **{kind: str(p)}),), source_id=f"m{i}")
            for i, p in enumerate(paths)]


def refuse_every(k: int) -> Respond:
    """A respond function refusing every k-th sample (k=0: never), otherwise complying."""
    def respond(s: Sample) -> str:
        n = int("".join(c for c in s.id.rsplit("/", 1)[1] if c.isdigit()) or 0)
        return "Sorry, I cannot help with that." if k and n % k == 0 else f"Sure, here is the answer to {s.id}."
    return respond


def write_scored_run(
    root: Path,
    samples: Sequence[Sample],
    *,
    model: str = "m",
    defense: str = "none",
    defense_params: dict[str, Any] | None = None,
    task_version: str = "1",
    respond: Respond = refuse_every(3),
    judges: Sequence[Any] = (),
    limit: int | None = None,
    max_new_tokens: int = 32,
    seconds_per_sample: float = 0.01,
    batch_size: int = 8,
    device: str = "cpu",
    defense_info: dict[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """A finished, judged run. The first judge (default: keyword with default params) is the run's default."""
    judges = list(judges) or [KeywordJudge()]
    tasks: dict[str, list[str]] = {}
    for s in samples:
        configs = tasks.setdefault(s.task, [])
        if s.config not in configs:
            configs.append(s.config)
    spec = RunSpec(model=model, backend="hf-text", defense=defense, defense_params=dict(defense_params or {}),
                   tasks=tuple(TaskRef(t, task_version, tuple(c)) for t, c in tasks.items()), limit=limit,
                   generation=GenerationConfig(max_new_tokens=max_new_tokens), judge=judges[0].name,
                   judge_params={})
    with RunStore(root, spec.run_id).open(spec) as store:
        store.write_samples(samples)
        generations = [Generation(sample_id=s.id, task=s.task, config=s.config, label=s.label, modality=s.modality,
                                  response=respond(s), seconds=seconds_per_sample, batch_size=batch_size)
                       for s in samples]
        store.append_generations(generations)
        items = [JudgeItem(s, g) for s, g in zip(samples, generations)]
        for judge in judges:
            store.append_verdicts(judge.score(items))
        summary = summarise(spec, samples, store.generations(), store.verdicts(),
                            {j.id: dict(j.describe()) for j in judges}, judges[0].id, notes)
        store.write_json("summary.json", summary)
        store.write_json("run_info.json", {
            "run_id": spec.run_id,
            "backend": {"backend": "hf-text", "model_class": "Synthetic"},
            "defense": defense_info or {"name": defense, "status": "", "params": dict(defense_params or {}),
                                        "source_hash": "0123456789abcdef"},
            "versions": {"harness": "0.1.0", "python": "3.11"},
            "git_revision": "0" * 40,
            "sessions": [{"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_s": 0.1, "setup_s": 0.0,
                          "generate_s": seconds_per_sample * len(samples), "generated": len(samples),
                          "batch_size": batch_size, "device": device}],
        })
    return root / spec.run_id
