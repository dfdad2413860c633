"""The OmniGuard-style harmfulness probe (docs/reference.md, ReGap §14.9): a classifier on mean-pooled hidden states.

`mlp` is the reference architecture (d -> 512 -> 256 -> 1, ReLU), `linear` a logistic probe. Training: BCE with
logits, Adam, seeded init and sampler. Inputs are standardised with the training mean and standard deviation
[project: deep-layer states have norms in the hundreds, which the reference fed raw]; the statistics are part of
the saved probe. Thresholds are calibrated on validation scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ARCHITECTURES = ("mlp", "linear")
THRESHOLD_RULES = ("youden", "benign_budget", "fixed")


def make_probe(kind: str, hidden_size: int, seed: int) -> torch.nn.Module:
    import torch
    from torch import nn

    if kind not in ARCHITECTURES:
        raise ValueError(f"omniguard: probe must be one of {ARCHITECTURES}, got {kind!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "linear":
            return nn.Sequential(nn.Linear(hidden_size, 1))
        return nn.Sequential(nn.Linear(hidden_size, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                             nn.Linear(256, 1))


@dataclass
class Probe:
    kind: str
    net: torch.nn.Module
    mean: torch.Tensor  # [d]
    std: torch.Tensor  # [d]

    def scores(self, feats: torch.Tensor) -> torch.Tensor:
        """[N] probabilities of `harmful` for float32 features [N, d]."""
        import torch

        with torch.no_grad():
            x = (feats.float().to(self.mean.device) - self.mean) / self.std
            return torch.sigmoid(self.net(x).squeeze(-1))

    def state(self) -> dict[str, torch.Tensor]:
        return {**{f"net.{k}": v for k, v in self.net.state_dict().items()}, "mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, kind: str, state: dict[str, torch.Tensor]) -> Probe:
        net = make_probe(kind, int(state["mean"].shape[0]), seed=0)
        net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        return cls(kind, net.eval(), state["mean"].float(), state["std"].float())


def fit_probe(kind: str, feats: torch.Tensor, harmful: torch.Tensor, *, epochs: int, lr: float, batch_size: int,
              seed: int) -> Probe:
    import torch

    x = feats.float()
    mean, std = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
    x = (x - mean) / std
    y = harmful.float()
    net = make_probe(kind, x.shape[1], seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = loss_fn(net(x[idx]).squeeze(-1), y[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return Probe(kind, net.eval(), mean, std)


def calibrate_threshold(scores: torch.Tensor, harmful: torch.Tensor, rule: str, *, budget: float = 0.05,
                        fixed: float = 0.5) -> float:
    """Flag when score >= threshold. `youden`: maximise TPR - FPR; `benign_budget`: the lowest threshold that
    flags at most `budget` of benign validation items; `fixed`: `fixed` (the reference's 0.5)."""
    import torch

    from defenses.toolkit.crs import youden_threshold

    if rule not in THRESHOLD_RULES:
        raise ValueError(f"omniguard: threshold_rule must be one of {THRESHOLD_RULES}, got {rule!r}")
    if rule == "fixed":
        return fixed
    pos, neg = scores[harmful], scores[~harmful]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("omniguard: threshold calibration needs harmful and benign validation items")
    if rule == "youden":
        return float(youden_threshold(pos, neg))
    allowed = budget * len(neg) + 1e-9  # compare counts: a float32 mean of 1/5 is slightly above 0.2
    for tau in torch.cat([scores, torch.tensor([float("inf")])]).unique().tolist():
        if int((neg >= tau).sum()) <= allowed:
            return float(tau)
    return float("inf")
