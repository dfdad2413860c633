"""Conditional refusal separability (docs/reference.md, ReGap §6). The paper's formula was not recovered, so
all four candidates are implemented [reconstructed]; (a) and (c) are the default report.

p(x) = <h(x), r_hat> at the last prompt token.
(a) d-prime:  (mu_H,m - mu_B,m) / sqrt((var_H,m + var_B,m) / 2)
(b) relative gap: (mu_H,m - mu_B,m) / (mu_H,text - mu_B,text)
(c) threshold-conditional: P(p > tau | H, m) - P(p > tau | B, m), tau from text (midpoint or Youden)
(d) AUROC of p for H vs B within m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class CRS:
    dprime: float
    relative_gap: float
    threshold_conditional: float
    auroc: float
    tau: float


def youden_threshold(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """Threshold maximising TPR - FPR for scores `pos` (positives) vs `neg`; ties broken by the lowest."""
    import torch

    candidates = torch.cat([pos, neg]).unique()
    best, best_tau = -2.0, float(candidates[0]) if len(candidates) else 0.0
    for tau in candidates.tolist():
        j = float((pos >= tau).float().mean() - (neg >= tau).float().mean())
        if j > best:
            best, best_tau = j, tau
    return best_tau


def auroc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """Probability that a random positive scores above a random negative (ties count one half)."""
    diff = pos.double().unsqueeze(1) - neg.double().unsqueeze(0)
    return float((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean())


def crs(proj_h: torch.Tensor, proj_b: torch.Tensor, text_h: torch.Tensor, text_b: torch.Tensor,
        *, tau_rule: str = "midpoint") -> CRS:
    """All CRS candidates for one modality and layer from projections of harmful / benign items."""
    mu_h, mu_b = proj_h.double().mean(), proj_b.double().mean()
    pooled = ((proj_h.double().var(unbiased=False) + proj_b.double().var(unbiased=False)) / 2).sqrt()
    text_gap = text_h.double().mean() - text_b.double().mean()
    if tau_rule == "midpoint":
        tau = float((text_h.double().mean() + text_b.double().mean()) / 2)
    elif tau_rule == "youden":
        tau = youden_threshold(text_h, text_b)
    else:
        raise ValueError("tau_rule must be 'midpoint' or 'youden'")
    cond = float((proj_h > tau).double().mean() - (proj_b > tau).double().mean())
    return CRS(
        dprime=float((mu_h - mu_b) / pooled.clamp_min(1e-12)),
        relative_gap=float((mu_h - mu_b) / text_gap) if float(text_gap) != 0 else float("nan"),
        threshold_conditional=cond,
        auroc=auroc(proj_h, proj_b),
        tau=tau,
    )
