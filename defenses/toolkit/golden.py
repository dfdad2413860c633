"""The golden refusal vector (docs/reference.md, OmniSteer §2.4).

Per layer: stack the pure-modality refusal vectors (text, image, audio, video: whichever exist) as rows of X,
**uncentred**; take the top right-singular vector of X; flip it if it points against the mean of the rows; scale
it by the mean L2 norm of the rows. Centred PCA is deliberately not offered as a substitute (defect D2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

PURE_MODALITIES: tuple[str, ...] = ("text", "image", "audio", "video")


@dataclass(frozen=True)
class GoldenVector:
    layer: int
    vector: torch.Tensor  # v_L = direction * mean norm, float32 [d]
    modalities: tuple[str, ...]
    singular_values: torch.Tensor

    @property
    def norm(self) -> float:
        """n_L = ||v_L||: the scale of OmniSteer's loss thresholds."""
        return float(self.vector.norm())

    @property
    def unit(self) -> torch.Tensor:
        """d_L = v_L / ||v_L||: what is applied at inference."""
        return self.vector / self.vector.norm().clamp_min(1e-12)


def golden_vector(layer: int, vectors: Mapping[str, torch.Tensor],
                  modalities: Sequence[str] = PURE_MODALITIES) -> GoldenVector:
    """The golden vector from per-modality raw refusal vectors (keys: modality names)."""
    import torch

    used = tuple(m for m in modalities if m in vectors)
    if len(used) < 2:
        raise ValueError(f"layer {layer}: the golden vector needs refusal vectors of at least two pure modalities "
                         f"({', '.join(modalities)}), got {sorted(vectors)}")
    x = torch.stack([vectors[m].double() for m in used])  # [M, d], not centred
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    top = vh[0]
    if torch.dot(top, x.mean(dim=0)) < 0:
        top = -top
    scale = x.norm(dim=1).mean()
    return GoldenVector(layer, (top * scale).float(), used, s.float())
