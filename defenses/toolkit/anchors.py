"""Per-layer text anchors and anchor-normalised projections (docs/reference.md, ReGap §3 and 8).

From text-only harmful and benign samples, per layer L: the harmful mean mu_H,L, the benign mean mu_B,L and the
raw refusal direction r_L = mu_H,L - mu_B,L. The normalised projection of a state h is

    z_L(h) = <h - mu_B,L, r_L> / ||r_L||^2

so z = 0 at the benign-text mean and z = 1 at the harmful-text mean; it equals the spec's
(s - mu_B) / (mu_H - mu_B) with s = <h, r_hat>. `ZScorer` holds the anchors of a few layers on the model device,
so a hook can score a batch without copying activations to the CPU (defect D4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from defenses.toolkit.collect import Activations
from defenses.toolkit.directions import Direction, diff_of_means

if TYPE_CHECKING:
    import torch


def text_directions(acts: Activations, layers: Sequence[int] | None = None, *,
                    text_modality: str = "text") -> dict[int, Direction]:
    """Difference-of-means directions from the text-only samples of `acts`, one per layer."""
    if not any(s.modality == text_modality for s in acts.samples):
        raise ValueError(f"no {text_modality!r} samples among the calibration samples: the text-aligned refusal "
                         "direction needs harmful and benign text-only samples")
    return {layer: diff_of_means(acts, layer, modality=text_modality) for layer in (layers or acts.layers)}


def stack_directions(directions: Mapping[int, Direction], num_layers: int) -> dict[str, torch.Tensor]:
    """[num_layers, d] tensors `refusal.raw`, `anchor.harmful`, `anchor.benign` (for an artifact)."""
    import torch

    missing = [layer for layer in range(num_layers) if layer not in directions]
    if missing:
        raise ValueError(f"directions missing at layers {missing}")
    rows = [directions[layer] for layer in range(num_layers)]
    return {
        "refusal.raw": torch.stack([d.raw for d in rows]),
        "anchor.harmful": torch.stack([d.harmful_mean for d in rows]),
        "anchor.benign": torch.stack([d.benign_mean for d in rows]),
    }


def unstack_directions(tensors: Mapping[str, torch.Tensor], n_harmful: int, n_benign: int) -> dict[int, Direction]:
    raw, harm, benign = tensors["refusal.raw"], tensors["anchor.harmful"], tensors["anchor.benign"]
    return {layer: Direction(layer, raw[layer], harm[layer], benign[layer], n_harmful, n_benign)
            for layer in range(raw.shape[0])}


@dataclass(frozen=True)
class ZScorer:
    """Normalised projections at fixed layers, with the anchors already on the model device (float32)."""

    layers: tuple[int, ...]
    refusal: torch.Tensor  # [n_layers, d] raw r_L
    benign: torch.Tensor  # [n_layers, d] mu_B,L
    inv_sq_norm: torch.Tensor  # [n_layers] 1 / ||r_L||^2

    @classmethod
    def build(cls, directions: Mapping[int, Direction], layers: Sequence[int], device: torch.device | str) -> ZScorer:
        import torch

        chosen = tuple(layers)
        r = torch.stack([directions[layer].raw.float() for layer in chosen]).to(device)
        mu_b = torch.stack([directions[layer].benign_mean.float() for layer in chosen]).to(device)
        return cls(chosen, r, mu_b, 1.0 / (r * r).sum(dim=1).clamp_min(1e-12))

    def per_layer(self, states: Mapping[int, torch.Tensor]) -> torch.Tensor:
        """[B, n_layers] z_L for last-token states {layer: [B, d]} (any float dtype, on the scorer's device)."""
        import torch

        cols = [((states[layer].float() - self.benign[i]) @ self.refusal[i]) * self.inv_sq_norm[i]
                for i, layer in enumerate(self.layers)]
        return torch.stack(cols, dim=1)

    def __call__(self, states: Mapping[int, torch.Tensor]) -> torch.Tensor:
        """[B] mean of z_L over the scorer's layers."""
        return self.per_layer(states).mean(dim=1)
