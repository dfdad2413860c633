"""The OmniSteer adapter and its training objective (docs/reference.md, OmniSteer §3.1 and 3.3).

One adapter per target layer: Linear(d -> bottleneck) -> ReLU -> Linear(bottleneck -> 1), the last Linear
zero-initialised so a fresh adapter does not intervene. Its output k(h) is signed and unbounded; at inference
h' = h + k(h) d_L with d_L the unit golden direction. Adapters are kept in float32 whatever the model dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def make_adapter(hidden_size: int, bottleneck: int = 128, seed: int = 0) -> torch.nn.Module:
    """A fresh adapter; the first layer's initialisation comes from `seed` without touching the global RNG."""
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        first = nn.Linear(hidden_size, bottleneck)
        last = nn.Linear(bottleneck, 1)  # its default init draws random numbers too, before being zeroed
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(first, nn.ReLU(), last).float()


def adapter_shape(state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(hidden size, bottleneck) of a saved adapter state dict."""
    weight = state["0.weight"]
    return int(weight.shape[1]), int(weight.shape[0])


def hinge_l1_loss(k: torch.Tensor, proj0: torch.Tensor, harmful: torch.Tensor, norm: float, *, a: float, b: float,
                  beta_h: float, beta_s: float) -> torch.Tensor:
    """Batch loss = mean over harmful items + mean over benign items (a class absent from the batch is left
    out [reconstructed]).

    k: [N] adapter outputs; proj0: [N] <h, d> before the intervention (so the corrected projection is
    proj0 + k, since d is a unit vector); harmful: [N] bool; norm: n_L = ||v_L||.
        harmful: relu(a n - proj) / n + beta_h |k|      benign: relu(proj + b n) / n + beta_s |k|
    """
    import torch

    proj = proj0 + k
    loss_h = torch.relu(a * norm - proj) / norm + beta_h * k.abs()
    loss_b = torch.relu(proj + b * norm) / norm + beta_s * k.abs()
    total = k.new_zeros(())
    if bool(harmful.any()):
        total = total + loss_h[harmful].mean()
    if bool((~harmful).any()):
        total = total + loss_b[~harmful].mean()
    return total
