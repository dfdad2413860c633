"""ReGap on the tiny Qwen2.5-Omni with the `smoke` task split by source: 0-40 % calibration, 40-70 % validation,
70-100 % test (so calibration never overlaps what the tests evaluate)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from defenses.base import DefenseContext
from harness.records import Sample

SPLITS = {"calibration": "0-40%", "validation": "40-70%", "test": "70-100%"}
PARAMS = {"calibration": "smoke", "calibration_part": SPLITS["calibration"], "validation": "smoke",
          "validation_part": SPLITS["validation"]}


def held_out(load_task: Callable[[str], list[Sample]]) -> list[Sample]:
    from defenses.toolkit.splits import take_part

    return take_part(load_task("smoke"), SPLITS["test"])


def make(backend: Any, load_task: Callable[[str], list[Sample]], cache: Path, name: str = "regap",
         evaluation: list[Sample] | None = None, model_name: str = "tiny-omni", **params: Any):
    from harness.run import default_registries
    from judges.keyword import refusal_flags

    defense = default_registries().defenses.get(name)(**{**PARAMS, **params})
    defense.setup(backend, DefenseContext(cache_dir=cache, model_name=model_name, load_samples=load_task,
                                          evaluation_samples=evaluation if evaluation is not None
                                          else held_out(load_task), show_progress=False,
                                          refusals=refusal_flags))
    return defense
