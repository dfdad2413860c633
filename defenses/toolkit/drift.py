"""Modality-induced drift (docs/reference.md, ReGap §4-5).

Paired (default): delta_L^m = mean_i [h_L(x_i^m) - h_L(x_i^text)] over items that exist in both modality m and
text with the same source (same `source_id` and label). Unpaired fallback: mean over the modality-m set minus the
mean over the text set. `classes` chooses harmful+benign pairs (default) or benign only. Variants relative to the
refusal unit direction r_hat of the same layer: `full` = delta, `orth` = delta - <delta, r_hat> r_hat,
`par` = <delta, r_hat> r_hat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from defenses.toolkit.collect import Activations

if TYPE_CHECKING:
    import torch

Variant = Literal["full", "orth", "par"]
VARIANTS: tuple[str, ...] = ("full", "orth", "par")


@dataclass(frozen=True)
class Drift:
    layer: int
    modality: str
    vector: torch.Tensor  # raw mean drift [d]
    n_pairs: int  # 0 for the unpaired estimator
    estimator: str

    def variant(self, kind: str, refusal_unit: torch.Tensor | None) -> torch.Tensor:
        return apply_variant(self.vector, kind, refusal_unit)


def apply_variant(delta: torch.Tensor, kind: str, refusal_unit: torch.Tensor | None) -> torch.Tensor:
    if kind == "full":
        return delta.clone()
    if kind not in VARIANTS:
        raise ValueError(f"drift variant must be one of {VARIANTS}, got {kind!r}")
    if refusal_unit is None:
        raise ValueError(f"drift variant {kind!r} needs the refusal direction of the layer")
    r = refusal_unit.float() / refusal_unit.float().norm().clamp_min(1e-12)
    parallel = delta.float().dot(r) * r
    return delta.float() - parallel if kind == "orth" else parallel


def _pair_key(sample) -> tuple[str, str] | None:
    return (sample.source_id, sample.label) if sample.source_id is not None else None


def estimate_drift(acts: Activations, layer: int, modality: str, *, reference: str = "text",
                   classes: str = "both", estimator: str = "paired") -> Drift:
    """Drift of `modality` against `reference` (text) at `layer`."""
    import torch

    if classes not in ("both", "benign_only"):
        raise ValueError("classes must be 'both' or 'benign_only'")
    keep_label = (lambda s: True) if classes == "both" else (lambda s: s.label == "benign")
    states = acts.states[layer].float()
    mod_rows = [i for i, s in enumerate(acts.samples) if s.modality == modality and keep_label(s)]
    ref_rows = [i for i, s in enumerate(acts.samples) if s.modality == reference and keep_label(s)]
    if not mod_rows or not ref_rows:
        raise ValueError(f"drift {modality} vs {reference} at layer {layer}: need samples of both modalities")
    if estimator == "paired":
        ref_by_key: dict[tuple[str, str], int] = {}
        for i in ref_rows:
            key = _pair_key(acts.samples[i])
            if key is not None:
                ref_by_key.setdefault(key, i)
        pairs = [(i, ref_by_key[k]) for i in mod_rows if (k := _pair_key(acts.samples[i])) in ref_by_key]
        if not pairs:
            raise ValueError(f"drift {modality} vs {reference}: no pairs share a source_id; use estimator='unpaired'")
        a = torch.tensor([p[0] for p in pairs])
        b = torch.tensor([p[1] for p in pairs])
        return Drift(layer, modality, (states[a] - states[b]).mean(dim=0), len(pairs), "paired")
    if estimator == "unpaired":
        vec = states[torch.tensor(mod_rows)].mean(dim=0) - states[torch.tensor(ref_rows)].mean(dim=0)
        return Drift(layer, modality, vec, 0, "unpaired")
    raise ValueError(f"estimator must be 'paired' or 'unpaired', got {estimator!r}")


def pooled_drift(drifts: list[Drift]) -> torch.Tensor:
    """One drift for all modalities: the pair-weighted mean of per-modality paired drifts (equal weights for
    unpaired ones), i.e. the mean over every pair of the calibration set."""
    import torch

    if not drifts:
        raise ValueError("no drifts to pool")
    weights = torch.tensor([float(d.n_pairs or 1) for d in drifts])
    stacked = torch.stack([d.vector.float() for d in drifts])
    return (weights.unsqueeze(1) * stacked).sum(dim=0) / weights.sum()


def drift_diagnostics(delta: torch.Tensor, refusal_raw: torch.Tensor) -> dict[str, float]:
    """What the spec asks to log per layer and modality (section 4): ||delta||, cos(delta, r_hat), <delta, r_hat>,
    and ||delta|| / ||r|| (the drift's size in units of the text harmful-benign gap)."""
    delta, r = delta.float(), refusal_raw.float()
    r_norm = r.norm().clamp_min(1e-12)
    dot = float(delta.dot(r) / r_norm)
    norm = float(delta.norm())
    return {"norm": norm, "cos": dot / max(norm, 1e-12), "dot": dot, "norm_over_gap": norm / float(r_norm)}
