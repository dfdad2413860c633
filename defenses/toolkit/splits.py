"""Calibration data hygiene: source-level parts of a sample set, and the disjointness check against the samples
a run evaluates (docs/reference.md, defect D17).

`take_part(samples, "0-40%")` keeps the samples whose `source_id` (the id when there is none) falls in the
first 40 % of a seeded hash order of sources, so every modality version of one source lands in the same part
and two parts with non-overlapping ranges never share a source. It lets a benchmark without its own splits
serve as calibration, validation and test (e.g. the `smoke` task on the tiny models).

`find_overlap` counts evaluation samples that share a source id, a sample id or the message content with the
calibration samples. A calibration set is allowed to pair text and media versions of one source with each
other; only overlap with the evaluation set matters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.records import Sample, content_hash

_PART = re.compile(r"^(\d+(?:\.\d+)?)%?-(\d+(?:\.\d+)?)%$")


def parse_part(part: str) -> tuple[float, float] | None:
    """`"a-b%"` -> (a, b) as fractions; `""` -> None (the whole set)."""
    text = part.strip().replace(" ", "")
    if not text:
        return None
    m = _PART.match(text)
    if not m:
        raise ValueError(f"a part must look like '0-40%' (a range of percent of sources), got {part!r}")
    lo, hi = float(m.group(1)) / 100.0, float(m.group(2)) / 100.0
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"part {part!r}: need 0 <= start < end <= 100")
    return lo, hi


def source_key(sample: Sample) -> str:
    return sample.source_id if sample.source_id is not None else sample.id


def _bucket(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def take_part(samples: Sequence[Sample], part: str, seed: int = 0) -> list[Sample]:
    """The samples whose source falls into `part` of the seeded source order (all samples for `""`)."""
    bounds = parse_part(part)
    if bounds is None:
        return list(samples)
    lo, hi = bounds
    return [s for s in samples if lo <= _bucket(source_key(s), seed) < hi]


def _content(sample: Sample) -> str:
    return content_hash([m.to_dict() for m in sample.messages])


@dataclass(frozen=True)
class Identity:
    """What identifies a set of samples for overlap checks; JSON-able, so it can be stored with an artifact."""

    ids: frozenset[str]
    source_ids: frozenset[str]
    contents: frozenset[str]

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Identity:
        return cls(frozenset(s.id for s in samples), frozenset(s.source_id for s in samples if s.source_id),
                   frozenset(_content(s) for s in samples))

    def to_dict(self) -> dict[str, list[str]]:
        return {"ids": sorted(self.ids), "source_ids": sorted(self.source_ids), "contents": sorted(self.contents)}

    @classmethod
    def from_dict(cls, d: dict[str, list[str]]) -> Identity:
        return cls(frozenset(d["ids"]), frozenset(d["source_ids"]), frozenset(d["contents"]))


@dataclass(frozen=True)
class Overlap:
    """Evaluation samples that share something with the calibration samples."""

    by_source: int
    by_id: int
    by_content: int
    n_evaluation: int
    examples: tuple[str, ...] = field(default_factory=tuple)  # "id (reason)" of the first few

    @property
    def any(self) -> bool:
        return bool(self.by_source or self.by_id or self.by_content)

    def describe(self, what: str, against: str = "the evaluated samples") -> str:
        shown = ", ".join(self.examples)
        return (f"{what} overlaps {against}: of {self.n_evaluation} samples there, {self.by_source} share a "
                f"source_id, {self.by_id} a sample id and {self.by_content} the exact content with it (e.g. {shown})")


def find_overlap(calibration: Identity | Sequence[Sample], evaluation: Sequence[Sample], shown: int = 5) -> Overlap:
    cal = calibration if isinstance(calibration, Identity) else Identity.of(calibration)
    n_source = n_id = n_content = 0
    examples: list[str] = []
    for s in evaluation:
        reasons = []
        if s.source_id is not None and s.source_id in cal.source_ids:
            n_source += 1
            reasons.append(f"source_id {s.source_id!r}")
        if s.id in cal.ids:
            n_id += 1
            reasons.append("same sample id")
        if _content(s) in cal.contents:
            n_content += 1
            reasons.append("same content")
        if reasons and len(examples) < shown:
            examples.append(f"{s.id} ({', '.join(reasons)})")
    return Overlap(n_source, n_id, n_content, len(evaluation), tuple(examples))


class CalibrationDataError(ValueError):
    """Calibration data are missing, unusable, or overlap the evaluation samples."""


class CalibrationOverlapError(CalibrationDataError):
    """Calibration data overlap the evaluated samples (defect D17)."""


def check_disjoint(calibration: Identity | Sequence[Sample], evaluation: Sequence[Sample], *, what: str,
                   allow: bool = False, warn: Callable[[str], None] | None = None,
                   against: str = "the evaluated samples", override: str | None = None) -> Overlap:
    """Refuse (or, with `allow`, warn loudly) when `calibration` shares sources, ids or content with `evaluation`.
    `override` names the parameter that allows it, for defenses that offer one (e.g. `allow_overlap=true`)."""
    overlap = find_overlap(calibration, evaluation)
    if overlap.any:
        message = overlap.describe(what, against)
        if not allow:
            raise CalibrationOverlapError(
                f"{message}. Calibrate on data disjoint from the test set (another split, or a part such as "
                f"'0-40%' of the sources) so the reported rates are not optimistic (defect D17)"
                + (f", or pass {override} to go on anyway." if override else "."))
        (warn or _stderr)(f"WARNING: {message}; going on as allowed, but results may be optimistic")
    return overlap


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr)
