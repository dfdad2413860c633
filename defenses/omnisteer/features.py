"""Golden vectors and cached last-token features for OmniSteer training.

Golden vectors (docs/reference.md, OmniSteer §2.4): per target layer, the per-modality difference-of-means refusal
vectors of the calibration data (last prompt token, unmodified model) go into the toolkit's uncentred SVD. Only
the modalities asked for are used; one that the data lack is an error, never replaced by another estimate
(defect D2).

Features (defect D5): the frozen model runs once per sample and layer stage, not once per optimiser step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from defenses.toolkit.collect import Activations
from defenses.toolkit.directions import Direction, cosine, diff_of_means
from defenses.toolkit.golden import PURE_MODALITIES, GoldenVector, golden_vector

if TYPE_CHECKING:
    import torch


class GoldenVectorError(ValueError):
    """The calibration data cannot give the golden vectors asked for."""


@dataclass(frozen=True)
class Golden:
    vectors: dict[int, GoldenVector]  # layer -> golden vector
    refusal: dict[str, dict[int, Direction]]  # modality -> layer -> refusal vector

    def diagnostics(self) -> dict[str, dict[str, float]]:
        """Per layer: n_L, each modality's ||r|| and cos(r, v_L) (the 2.5-style regression check)."""
        out: dict[str, dict[str, float]] = {}
        for layer, g in self.vectors.items():
            row = {"golden_norm": g.norm}
            for m in g.modalities:
                r = self.refusal[m][layer]
                row[f"norm_{m}"] = r.norm
                row[f"cos_{m}"] = cosine(r.raw, g.vector)
            out[str(layer)] = row
        return out


def golden_modalities(samples: Sequence, requested: Sequence[str] | None) -> tuple[str, ...]:
    """The modalities whose refusal vectors make the golden vector.

    Default: the pure modalities (text, image, audio, video) for which the data have harmful and benign samples.
    Asked-for modalities the data lack are an error.
    """
    have = {s.modality for s in samples if s.label == "harmful"} & {s.modality for s in samples if s.label == "benign"}
    if requested:
        missing = [m for m in requested if m not in have]
        if missing:
            raise GoldenVectorError(
                f"omnisteer: no refusal vector for modalities {missing}: the calibration data have harmful and "
                f"benign samples only for {sorted(have)}. Missing vectors are an error (no PCA fallback, D2).")
        return tuple(requested)
    found = tuple(m for m in PURE_MODALITIES if m in have)
    if len(found) < 2:
        raise GoldenVectorError(
            f"omnisteer: the golden vector needs refusal vectors of at least two pure modalities "
            f"({', '.join(PURE_MODALITIES)}); the calibration data have harmful and benign samples for "
            f"{sorted(have) or 'none'}. Add pure-modality samples or name modalities with golden_modalities=[...]. "
            f"Missing vectors are an error (no PCA fallback, D2).")
    return found


def compute_golden(acts: Activations, layers: Sequence[int], modalities: Sequence[str]) -> Golden:
    """Golden vectors at `layers` from unmodified last-token states `acts` (which must cover `layers`)."""
    refusal = {m: {layer: diff_of_means(acts, layer, modality=m) for layer in layers} for m in modalities}
    vectors = {layer: golden_vector(layer, {m: refusal[m][layer].raw for m in modalities}, modalities)
               for layer in layers}
    for layer, g in vectors.items():
        if not bool(g.vector.isfinite().all()) or g.norm == 0.0:
            raise GoldenVectorError(f"omnisteer: the golden vector at layer {layer} is zero or not finite")
    return Golden(vectors, refusal)


def harmful_mask(samples: Sequence) -> torch.Tensor:
    import torch

    return torch.tensor([s.label == "harmful" for s in samples], dtype=torch.bool)
