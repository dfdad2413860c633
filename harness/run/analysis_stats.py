"""Running statistics of `harness analyze`: what one pass over the samples keeps, and nothing more.

Nothing here holds the activations of more than one batch. Per position x configuration x label x layer the
pass keeps a count, a sum and a second moment (the full d x d matrix for small models, its diagonal for large
ones: `moments="full" | "diag"`), all in float64; per position x configuration x layer the running sum of paired
drifts (media row minus its text partner, linear, so it streams exactly); and, on the held-out part, per-sample
scalars folded into running sums and fixed-bin histograms (see `HeldOut`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Key = tuple[str, str, str, int]  # (position, config, label, layer)
DriftKey = tuple[str, str, int]  # (position, config, layer)

HIST_BINS = 40


@dataclass
class Moments:
    """Count, sum and second moment of a stream of d-vectors (float64)."""

    n: int
    total: torch.Tensor  # [d]
    second: torch.Tensor  # [d, d] (full) or [d] (diag): sum of x x^T or of x * x

    @classmethod
    def empty(cls, dim: int, full: bool) -> Moments:
        import torch

        shape = (dim, dim) if full else (dim,)
        return cls(0, torch.zeros(dim, dtype=torch.float64), torch.zeros(shape, dtype=torch.float64))

    @property
    def full(self) -> bool:
        return self.second.dim() == 2

    def add(self, rows: torch.Tensor) -> None:
        x = rows.double()
        self.n += x.shape[0]
        self.total += x.sum(dim=0)
        self.second += x.T @ x if self.full else (x * x).sum(dim=0)

    @property
    def mean(self) -> torch.Tensor:
        return self.total / max(self.n, 1)

    def covariance(self) -> torch.Tensor:
        """Population covariance: [d, d] (full) or its diagonal [d]."""
        mu = self.mean
        if self.full:
            return self.second / max(self.n, 1) - mu.outer(mu)
        return self.second / max(self.n, 1) - mu * mu

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "total": self.total, "second": self.second}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Moments:
        return cls(int(d["n"]), d["total"], d["second"])


@dataclass
class Scalars:
    """Running summary of one per-sample scalar: count, sum and sum of squares (both about `tau`), a fixed-bin
    histogram with under- and overflow bins, and the count above the threshold `tau`, fixed before the stream."""

    lo: float
    hi: float
    tau: float
    n: int = 0
    total: float = 0.0
    squares: float = 0.0
    above: int = 0
    counts: list[int] = field(default_factory=lambda: [0] * (HIST_BINS + 2))

    def add(self, values: torch.Tensor) -> None:
        v = values.double()
        self.n += int(v.numel())
        shifted = v - self.tau  # sums about tau, not 0: no cancellation when the spread is small next to the mean
        self.total += float(shifted.sum())
        self.squares += float((shifted * shifted).sum())
        self.above += int((v > self.tau).sum())
        width = (self.hi - self.lo) / HIST_BINS
        for x in v.tolist():
            b = 0 if x < self.lo else HIST_BINS + 1 if x >= self.hi else 1 + min(int((x - self.lo) / width), HIST_BINS - 1)
            self.counts[b] += 1

    @property
    def mean(self) -> float:
        return self.tau + self.total / self.n if self.n else float("nan")

    @property
    def var(self) -> float:
        return max(self.squares / self.n - (self.total / self.n) ** 2, 0.0) if self.n else float("nan")

    def edges(self) -> list[float]:
        width = (self.hi - self.lo) / HIST_BINS
        return [self.lo + i * width for i in range(HIST_BINS + 1)]


@dataclass
class StreamStats:
    """Everything the pass accumulates. `add_batch` is the only mutator and is order-invariant up to float
    rounding, so a batched pass and an unbatched one agree."""

    dim: int
    full: bool
    moments: dict[Key, Moments] = field(default_factory=dict)
    drift: dict[DriftKey, torch.Tensor] = field(default_factory=dict)  # sum over pairs of (media - text)
    pairs: dict[str, int] = field(default_factory=dict)  # config -> number of (media, text) pairs

    def add_batch(self, position: str, layer: int, rows: torch.Tensor, configs: list[str], labels: list[str],
                  drift_weights: list[dict[str, float]]) -> None:
        """`rows` [B, d] of one batch at one position and layer; `drift_weights[i]` maps a media configuration to
        the weight of row i in that configuration's paired drift sum (+1 a paired media row, -k a text row that is
        the partner of k media rows)."""
        import torch

        groups: dict[tuple[str, str], list[int]] = {}
        for i, key in enumerate(zip(configs, labels)):
            groups.setdefault(key, []).append(i)
        for (config, label), idx in groups.items():
            key = (position, config, label, layer)
            if key not in self.moments:
                self.moments[key] = Moments.empty(self.dim, self.full)
            self.moments[key].add(rows[idx])
        per_config: dict[str, list[tuple[int, float]]] = {}
        for i, weights in enumerate(drift_weights):
            for config, w in weights.items():
                per_config.setdefault(config, []).append((i, w))
        for config, items in per_config.items():
            idx = torch.tensor([i for i, _ in items])
            w = torch.tensor([w for _, w in items], dtype=torch.float64)
            contribution = (rows[idx].double() * w.unsqueeze(1)).sum(dim=0)
            key2 = (position, config, layer)
            self.drift[key2] = self.drift.get(key2, torch.zeros(self.dim, dtype=torch.float64)) + contribution

    def group(self, position: str, layer: int, *, configs: list[str], label: str) -> Moments | None:
        """The moments of `label` pooled over `configs` (None when none of them has any)."""
        parts = [self.moments[k] for c in configs if (k := (position, c, label, layer)) in self.moments]
        if not parts:
            return None
        return Moments(sum(p.n for p in parts), sum(p.total for p in parts), sum(p.second for p in parts))

    def to_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "full": self.full, "pairs": dict(self.pairs),
                "moments": [[list(k), m.to_dict()] for k, m in self.moments.items()],
                "drift": [[list(k), v] for k, v in self.drift.items()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StreamStats:
        out = cls(int(d["dim"]), bool(d["full"]), pairs=dict(d["pairs"]))
        out.moments = {(k[0], k[1], k[2], int(k[3])): Moments.from_dict(m) for k, m in d["moments"]}
        out.drift = {(k[0], k[1], int(k[2])): v for k, v in d["drift"]}
        return out
