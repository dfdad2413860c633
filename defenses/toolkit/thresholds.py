"""Decision thresholds on a per-input score where higher means "more harmful" (docs/reference.md, ReGap §8).

Rules (an input is flagged when score >= tau):
- `youden`:        maximise TPR - FPR on labelled validation scores (ties: the lowest such tau);
- `midpoint`:      tau = 0.5, halfway between the benign-text (0) and harmful-text (1) anchors of a normalised
                   projection; needs no labels;
- `benign_budget`: the lowest tau whose benign flag rate is at most `budget` (default 5 %), which maximises
                   the harmful flag rate under a false-refusal cap (taken midway between benign scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from defenses.toolkit.crs import auroc, youden_threshold

if TYPE_CHECKING:
    import torch

RULES: tuple[str, ...] = ("youden", "midpoint", "benign_budget")


@dataclass(frozen=True)
class Threshold:
    tau: float
    rule: str
    tpr: float | None  # flag rate of harmful validation scores (None without harmful scores)
    fpr: float | None  # flag rate of benign validation scores
    auroc: float | None
    n_harmful: int
    n_benign: int

    def to_dict(self) -> dict[str, float | int | str | None]:
        return dict(self.__dict__)


def _rate(scores: torch.Tensor, tau: float) -> float | None:
    return float((scores >= tau).float().mean()) if scores.numel() else None


def benign_budget_threshold(neg: torch.Tensor, budget: float) -> float:
    """The lowest tau with mean(neg >= tau) <= budget. Candidates are the benign scores and the midpoints between
    consecutive ones (and a point above the largest): flagging is `>=`, so excluding a benign score needs a tau
    above it, and the midpoint keeps a margin to the next benign score without giving up harmful flags."""
    import torch

    if neg.numel() == 0:
        raise ValueError("the benign_budget rule needs benign validation scores")
    values = torch.sort(neg.double().unique()).values
    mids = (values[1:] + values[:-1]) / 2
    above = float(values[-1]) + max(1e-6, abs(float(values[-1])) * 1e-6)
    candidates = sorted([*values.tolist(), *mids.tolist(), above])
    for tau in candidates:
        if float((neg.double() >= tau).double().mean()) <= budget:
            return float(tau)
    return above


def fit_threshold(rule: str, pos: torch.Tensor, neg: torch.Tensor, *, budget: float = 0.05) -> Threshold:
    """Threshold by `rule` from harmful (`pos`) and benign (`neg`) validation scores."""
    if rule == "midpoint":
        tau = 0.5
    elif rule == "youden":
        if pos.numel() == 0 or neg.numel() == 0:
            raise ValueError("the youden rule needs harmful and benign validation scores")
        tau = youden_threshold(pos.double(), neg.double())
    elif rule == "benign_budget":
        if not 0.0 <= budget < 1.0:
            raise ValueError(f"benign budget must be in [0, 1), got {budget}")
        tau = benign_budget_threshold(neg, budget)
    else:
        raise ValueError(f"threshold rule must be one of {RULES}, got {rule!r}")
    both = pos.numel() > 0 and neg.numel() > 0
    return Threshold(tau, rule, _rate(pos, tau), _rate(neg, tau), auroc(pos, neg) if both else None,
                     int(pos.numel()), int(neg.numel()))
