"""Calibration data for defenses: loaded through the task registry, capped per group, split for validation and
checked to be disjoint from the samples a run evaluates (docs/reference.md, defect D17).

Two samples overlap when they share an id, a `source_id` (the same underlying item in another modality or
split) or their message content (`splits.check_disjoint`). A defense that calibrated on items it is then scored on
would report an optimistic RSR / BAR, so an overlap is an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

# Re-exported: the one overlap check of the toolkit lives in splits.py.
from defenses.toolkit.splits import CalibrationDataError, Identity, check_disjoint, take_part  # noqa: F401
from harness.records import Sample
from tasks.base import select

LABELS: tuple[str, ...] = ("harmful", "benign")


@dataclass(frozen=True)
class CalibrationSplit:
    train: list[Sample]
    validation: list[Sample]
    description: str  # e.g. "organism-calibration (+ validation organism-validation)"


def labelled(samples: Sequence[Sample], what: str) -> list[Sample]:
    """The harmful and benign samples; an error if either class is missing."""
    kept = [s for s in samples if s.label in LABELS]
    have = {s.label for s in kept}
    if have != set(LABELS):
        raise CalibrationDataError(f"{what} needs harmful and benign samples; it has {sorted(have) or 'none'}")
    return kept


def holdout(samples: Sequence[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(kept, held out): per label, `fraction` of the source items (at least one) in a seeded hash order.

    Grouping by `source_id` keeps one item's modality variants on one side, so validation is not the training
    data in another modality.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")

    def group(s: Sample) -> str:
        return s.source_id if s.source_id is not None else s.id

    held_groups: set[tuple[str, str]] = set()
    for label in sorted({s.label for s in samples}):
        groups = sorted({group(s) for s in samples if s.label == label},
                        key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
        n = max(1, round(fraction * len(groups))) if len(groups) > 1 else 0
        held_groups.update((label, g) for g in groups[:n])
    held = [s for s in samples if (s.label, group(s)) in held_groups]
    kept = [s for s in samples if (s.label, group(s)) not in held_groups]
    return kept, held


def load_split(context, data: str | None, validation: str | None, *, what: str, n_per_group: int | None = None,
               holdout_fraction: float = 0.2, seed: int = 0, data_part: str = "",
               validation_part: str = "") -> CalibrationSplit:
    """Training and validation samples for a defense from task selectors, checked against the run's samples.

    `validation=None` holds out `holdout_fraction` of `data` by source_id. `data_part` / `validation_part` keep a
    part of each selector's sources (`"0-80%"`, splits.take_part), so one task can give both, disjoint by source,
    and neither needs the split a run tunes on. `n_per_group` caps each (task, configuration, label) group of both
    parts (seeded, as `--limit` does).
    """
    if not data:
        raise CalibrationDataError(f"{what} needs calibration data: pass data=TASK_SELECTOR (e.g. "
                                   f"organism-calibration) or a trained artifact")
    if context.load_samples is None:
        raise CalibrationDataError(f"{what}: this context cannot load task samples (no load_samples)")
    data_name = f"{data} [{data_part}]" if data_part else data
    train = labelled(take_part(context.load_samples(data), data_part, seed), f"{what} data {data_name!r}")
    if validation:
        val_name = f"{validation} [{validation_part}]" if validation_part else validation
        val = labelled(take_part(context.load_samples(validation), validation_part, seed),
                       f"{what} validation {val_name!r}")
        check_disjoint(train, val, what=f"{what} data {data_name!r}", against=f"its validation data {val_name!r}")
        description = f"{data_name} (+ validation {val_name})"
    else:
        train, val = holdout(train, holdout_fraction, seed)
        train, val = labelled(train, f"{what} data {data!r}"), labelled(val, f"{what} held-out validation")
        description = f"{data_name} (validation: {holdout_fraction:.0%} held out by source_id, seed {seed})"
    if n_per_group is not None:
        train, val = select(train, n_per_group, seed), select(val, n_per_group, seed)
    evaluation = list(context.evaluation_samples)
    check_disjoint(train, evaluation, what=f"{what} calibration data {data_name!r}")
    check_disjoint(val, evaluation, what=f"{what} validation data")
    return CalibrationSplit(train, val, description)
