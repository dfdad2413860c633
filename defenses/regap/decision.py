"""From a self-rectification score z to a correction strength lambda (docs/reference.md, ReGap §9.2).

- `two_level` (default): lambda_strong when z >= tau, else lambda_weak.
- `continuous` (AdaSteer-style clamped linear map): lambda climbs linearly from lambda_weak at z = tau - ramp/2
  to lambda_strong at z = tau + ramp/2 and is clamped outside, i.e. clip(a * (z - b), lo, hi) with
  a = (lambda_strong - lambda_weak) / ramp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DECISIONS: tuple[str, ...] = ("two_level", "continuous")


def choose_lambda(z: torch.Tensor, tau: torch.Tensor, *, decision: str, weak: float, strong: float,
                  ramp: float = 0.5) -> torch.Tensor:
    """Per-row lambda [B] (float32, z's device) for scores z [B] and per-row thresholds tau [B]."""
    import torch

    z, tau = z.float(), tau.float().to(z.device)
    if decision == "two_level":
        return torch.where(z >= tau, torch.full_like(z, strong), torch.full_like(z, weak))
    if decision == "continuous":
        frac = ((z - tau) / ramp + 0.5).clamp(0.0, 1.0)
        return weak + (strong - weak) * frac
    raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
