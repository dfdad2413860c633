"""The settings of `harness analyze` and the plan of its pass: the fit / held-out split (by source, seeded, so
pairs stay together) and the paired-drift bookkeeping, both fixed before any model loads."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.records import Sample, content_hash, slug

SCHEMA = "omni-safety-analysis/1"
ANALYSES_DIR = "analyses"
POSITIONS = ("last", "content")
STATE_FILE = "state.pt"


@dataclass(frozen=True)
class AnalysisSettings:
    """What determines an analysis besides the model and the samples (all of it enters the content hash)."""

    layers: str = "embed,all"  # `embed` (the input embeddings) and/or a layer spec (defenses/toolkit/layers.py)
    positions: tuple[str, ...] = ("last",)
    reference: str = "text"  # the configuration the text refusal direction and the drift are measured against
    holdout: float = 0.5  # share of sources in the held-out part
    seed: int = 0
    moments: str = "auto"  # "auto", "full" or "diag" second moments (see `moments_kind`)

    def __post_init__(self) -> None:
        bad = [p for p in self.positions if p not in POSITIONS]
        if bad or not self.positions:
            raise ValueError(f"--positions: {', '.join(bad) or 'none given'}; choose from {', '.join(POSITIONS)}")
        parse_layers(self.layers)
        if not 0.0 < self.holdout < 1.0:
            raise ValueError(f"--holdout must be between 0 and 1 (exclusive), got {self.holdout}")
        if self.moments not in ("auto", "full", "diag"):
            raise ValueError(f"--moments must be auto, full or diag, got {self.moments!r}")


def parse_layers(spec: str) -> tuple[bool, Any]:
    """(`embed` asked for, the LayerSpec of the rest or None); ValueError naming --layers on bad syntax."""
    from defenses.toolkit.layers import LayerSpec

    parts = [p.strip() for p in spec.split(",") if p.strip()]
    embed = "embed" in parts
    rest = ",".join(p for p in parts if p != "embed")
    if not embed and not rest:
        raise ValueError("--layers is empty; give e.g. embed,all or band:2-5")
    try:
        return embed, LayerSpec.parse(rest) if rest else None
    except ValueError as exc:
        raise ValueError(f"--layers: {exc}") from None


def resolve_layers(spec: str, num_layers: int) -> tuple[int, ...]:
    """Sorted layer indices, -1 (EMBED) first when `embed` is asked for."""
    embed, rest = parse_layers(spec)
    try:
        layers = rest.resolve(num_layers) if rest is not None else ()
    except ValueError as exc:
        raise ValueError(f"--layers: {exc}") from None
    return ((-1,) if embed else ()) + tuple(layers)


@dataclass
class Plan:
    """The order of the pass and the bookkeeping fixed before it: parts, paired-drift weights, configurations."""

    fit: list[Sample]
    held_out: list[Sample]
    drift_weights: dict[str, dict[str, float]]  # sample id -> {media config: weight}
    pairs: dict[str, int]
    configs: list[str]
    modalities: dict[str, str]  # config -> modality signature


def analysis_id(model: str, backend_info: dict[str, Any], samples: Sequence[Sample], settings: AnalysisSettings) -> str:
    sample_hash = content_hash([s.to_dict() for s in samples])
    return f"{slug(model)}__analysis__{content_hash({'model': backend_info, 'samples': sample_hash, 'settings': asdict(settings)}, 12)}"


def _source(sample: Sample) -> str:
    return sample.source_id if sample.source_id is not None else sample.id


def held_out_sources(samples: Sequence[Sample], settings: AnalysisSettings) -> set[tuple[str, str]]:
    """(label, source) pairs of the held-out part. Per label, the sources of the reference configuration are ranked
    by a seeded hash and the first round(holdout x n) are held out (at least one, never all of two or more); the
    sources only other configurations have are split the same way among themselves."""
    groups: dict[tuple[str, bool], list[str]] = {}
    in_reference = {(s.label, _source(s)) for s in samples if s.config == settings.reference}
    for s in samples:
        key = (s.label, (s.label, _source(s)) in in_reference)
        members = groups.setdefault(key, [])
        if _source(s) not in members:
            members.append(_source(s))
    held: set[tuple[str, str]] = set()
    for (label, _), sources in groups.items():
        ranked = sorted(sources, key=lambda k: hashlib.sha256(f"{settings.seed}:{label}:{k}".encode()).hexdigest())
        n = min(max(round(settings.holdout * len(ranked)), 1), max(len(ranked) - 1, 1))
        held.update((label, k) for k in ranked[:n])
    return held


def plan(samples: Sequence[Sample], settings: AnalysisSettings) -> Plan:
    """Split by source (pairs stay together), and pair every media row with the reference row of the same source
    and label (the first one, as the toolkit's paired drift does)."""
    configs = list(dict.fromkeys(s.config for s in samples))
    if settings.reference not in configs:
        import difflib

        close = difflib.get_close_matches(settings.reference, configs, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"--reference {settings.reference!r} is not among the configurations of the samples "
                         f"({', '.join(configs)}){hint}")
    labels = {s.label for s in samples if s.config == settings.reference}
    if not {"harmful", "benign"} <= labels:
        raise ValueError(f"the reference configuration {settings.reference!r} needs harmful and benign samples")
    modalities = {c: next(s.modality for s in samples if s.config == c) for c in configs}
    partner: dict[tuple[str, str], str] = {}
    for s in samples:
        if s.config == settings.reference and s.source_id is not None:
            partner.setdefault((s.source_id, s.label), s.id)
    weights: dict[str, dict[str, float]] = {}
    pairs: dict[str, int] = {}
    for s in samples:
        if s.config == settings.reference or s.source_id is None:
            continue
        ref = partner.get((s.source_id, s.label))
        if ref is None:
            continue
        weights.setdefault(s.id, {})[s.config] = 1.0
        weights.setdefault(ref, {})
        weights[ref][s.config] = weights[ref].get(s.config, 0.0) - 1.0
        pairs[s.config] = pairs.get(s.config, 0) + 1
    held_keys = held_out_sources(samples, settings)
    fit = [s for s in samples if (s.label, _source(s)) not in held_keys]
    held = [s for s in samples if (s.label, _source(s)) in held_keys]
    for part, name in ((fit, "fit"), (held, "held-out")):
        have = {(s.config, s.label) for s in part}
        if not {(settings.reference, "harmful"), (settings.reference, "benign")} <= have:
            raise ValueError(f"the {name} part has no harmful or no benign {settings.reference!r} sample; "
                             "give more samples or change --holdout")
    return Plan(fit, held, weights, pairs, configs, modalities)
