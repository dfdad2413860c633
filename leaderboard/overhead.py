"""Overhead ratio: generation seconds per sample of a defense run over those of the undefended run.

A ratio is only formed where it means something: the baseline is a `none` run of the same model (revision,
folder fingerprint, backend, dtype, generation settings) on the same samples (identical samples.jsonl) and the
comparison is made per (batch size, device) of the recorded generation sessions. A baseline that came with the same
submission (so ran on the same machine) is preferred. Calibration time (`setup_s`) is not generation time and is
left out; the run page shows it. Without a matching baseline the ratio is `n/a`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leaderboard.runs import RunRecord

BASELINE_DEFENSE = "none"


@dataclass(frozen=True)
class Overhead:
    ratio: float | None
    basis: str  # how it was formed, or why it could not be


def session_timing(info: Mapping[str, Any]) -> dict[tuple[int, str], tuple[float, int]]:
    """(batch size, device) -> (generation seconds, samples generated), summed over the run's sessions."""
    out: dict[tuple[int, str], tuple[float, int]] = {}
    for s in info.get("sessions") or ():
        if not isinstance(s, Mapping):
            continue
        try:
            seconds, generated = float(s.get("generate_s") or 0.0), int(s.get("generated") or 0)
            key = (int(s.get("batch_size") or 0), str(s.get("device") or ""))
        except (TypeError, ValueError):
            continue
        if generated > 0 and seconds > 0:
            old = out.get(key, (0.0, 0))
            out[key] = (old[0] + seconds, old[1] + generated)
    return out


def _comparable(a: RunRecord, b: RunRecord) -> bool:
    keys = ("model", "model_revision", "model_fingerprint", "backend", "dtype", "generation", "system_prompt")
    return (a.samples_sha256 is not None and a.samples_sha256 == b.samples_sha256
            and all(a.spec.get(k) == b.spec.get(k) for k in keys))


def baseline_for(run: RunRecord, records: Sequence[RunRecord]) -> RunRecord | None:
    candidates = [r for r in records if r.defense == BASELINE_DEFENSE and r.key != run.key and _comparable(run, r)]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (r.origin != run.origin, r.key))  # same submission first


def run_overhead(run: RunRecord, records: Sequence[RunRecord]) -> tuple[float, float] | None:
    """(defense generation seconds, baseline seconds for the same samples) over matching sessions."""
    base = baseline_for(run, records)
    if base is None:
        return None
    mine, theirs = session_timing(run.info), session_timing(base.info)
    spent = expected = 0.0
    for key, (seconds, generated) in mine.items():
        if key in theirs:
            b_seconds, b_generated = theirs[key]
            spent += seconds
            expected += b_seconds / b_generated * generated
    return (spent, expected) if expected > 0 else None


def entry_overhead(defense: str, runs: Sequence[RunRecord], records: Sequence[RunRecord]) -> Overhead:
    if defense == BASELINE_DEFENSE:
        return Overhead(1.0, "the baseline itself")
    spent = expected = 0.0
    paired = 0
    for run in runs:
        pair = run_overhead(run, records)
        if pair:
            spent += pair[0]
            expected += pair[1]
            paired += 1
    if not paired:
        return Overhead(None, "no `none` run of this model on the same samples with the same batch size and device")
    return Overhead(spent / expected, f"{paired} of {len(runs)} run(s) paired with a `none` run on the same "
                                      "samples, batch size and device")
