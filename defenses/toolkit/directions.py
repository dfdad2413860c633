"""Difference-of-means refusal directions and anchor-normalised projections.

r_L^m = mean over harmful samples of modality m of h_L - mean over benign samples of modality m of h_L
(docs/reference.md, OmniSteer §2.2 and ReGap §3). Both the raw vector and its unit direction are kept, under explicit
names (defect D14).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from defenses.toolkit.collect import Activations

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Direction:
    """One difference-of-means direction at one layer."""

    layer: int
    raw: torch.Tensor  # [d] float32, unnormalised
    harmful_mean: torch.Tensor  # [d]
    benign_mean: torch.Tensor  # [d]
    n_harmful: int
    n_benign: int

    @property
    def norm(self) -> float:
        return float(self.raw.norm())

    @property
    def unit(self) -> torch.Tensor:
        return self.raw / self.raw.norm().clamp_min(1e-12)

    def projection(self, states: torch.Tensor) -> torch.Tensor:
        """<h, r_hat> for rows of `states` [N, d]."""
        return states.float() @ self.unit

    def normalised_projection(self, states: torch.Tensor) -> torch.Tensor:
        """(h - mu_benign) . r / ||r||^2: 0 at the benign mean, 1 at the harmful mean (omnisteer.md 2.3)."""
        return (states.float() - self.benign_mean) @ self.raw / self.raw.dot(self.raw).clamp_min(1e-12)


def _mean(states: torch.Tensor, what: str) -> torch.Tensor:
    if states.shape[0] == 0:
        raise ValueError(f"no {what} samples to average")
    if states.isnan().any():
        raise ValueError(f"NaN states among the {what} samples (e.g. media position on a text-only sample)")
    return states.float().mean(dim=0)


def diff_of_means(acts: Activations, layer: int, *, modality: str | None = None, config: str | None = None) -> Direction:
    harm = acts.mask(label="harmful", modality=modality, config=config)
    benign = acts.mask(label="benign", modality=modality, config=config)
    h_mean = _mean(acts.states[layer][harm], "harmful")
    b_mean = _mean(acts.states[layer][benign], "benign")
    return Direction(layer, h_mean - b_mean, h_mean, b_mean, int(harm.sum()), int(benign.sum()))


def refusal_directions(acts: Activations, *, by: str = "modality") -> dict[str, dict[int, Direction]]:
    """Directions per modality signature (or per task configuration with by="config") and layer."""
    if by not in ("modality", "config"):
        raise ValueError("by must be 'modality' or 'config'")
    keys = sorted({getattr(s, by) for s in acts.samples})
    out: dict[str, dict[int, Direction]] = {}
    for key in keys:
        kw = {by: key}
        have = {s.label for s in acts.samples if getattr(s, by) == key}
        if {"harmful", "benign"} <= have:
            out[key] = {layer: diff_of_means(acts, layer, **kw) for layer in acts.layers}
    return out


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a.float().dot(b.float()) / (a.float().norm() * b.float().norm()).clamp_min(1e-12))
