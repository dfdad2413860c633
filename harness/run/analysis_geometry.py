"""From running statistics to the safety geometry (docs/analyze.md has every definition and its source).

`freeze` turns the fit part's moments into what the held-out part is measured with (text refusal direction,
text threshold, histogram range, linear probes); `HeldOut` folds held-out samples into per-sample summaries;
`geometry` computes the tables of analysis.json from all of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.run.analysis_stats import HIST_BINS, Moments, Scalars, StreamStats

if TYPE_CHECKING:
    import torch

    from harness.run.analysis_plan import AnalysisSettings, Plan

SHRINKAGE = 0.1  # the probe's covariance is shrunk this far towards a multiple of the identity
PURE = ("text", "image", "audio", "video")


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm().clamp_min(1e-12)


def _sd_along(m: Moments, u: torch.Tensor) -> float:
    """Standard deviation of <x, u> (exact with full moments; with the diagonal, correlations are ignored)."""
    cov = m.covariance()
    var = float(u @ cov @ u) if m.full else float((cov * u * u).sum())
    return math.sqrt(max(var, 0.0))


def _probe(h: Moments, b: Moments) -> dict[str, torch.Tensor]:
    """Linear discriminant from moments: w = S^-1 (mu_H - mu_B), S the pooled covariance shrunk towards
    (trace / d) I by SHRINKAGE; b puts the boundary midway between the class means."""
    import torch

    n = h.n + b.n
    pooled = (h.covariance() * h.n + b.covariance() * b.n) / n
    diff = h.mean - b.mean
    if pooled.dim() == 2:
        d = pooled.shape[0]
        # The floor keeps a constant read-out (e.g. the last token at the embeddings) solvable: w = 0 there.
        scale = float(pooled.diagonal().mean()) * SHRINKAGE + 1e-12
        eye = torch.eye(d, dtype=pooled.dtype)
        w = torch.linalg.solve((1 - SHRINKAGE) * pooled + scale * eye, diff)
    else:
        w = diff / ((1 - SHRINKAGE) * pooled + SHRINKAGE * pooled.mean() + 1e-12)
    return {"w": w, "b": -w.dot((h.mean + b.mean) / 2)}


def freeze(stats: StreamStats, the_plan: Plan, settings: AnalysisSettings) -> dict[Any, Any]:
    """(position, layer) -> text direction (unit), tau, histogram range, probes per configuration."""
    frozen: dict[Any, Any] = {}
    layers = sorted({k[3] for k in stats.moments})
    for position in settings.positions:
        for layer in layers:
            h = stats.group(position, layer, configs=[settings.reference], label="harmful")
            b = stats.group(position, layer, configs=[settings.reference], label="benign")
            assert h is not None and b is not None  # plan() checked the fit part has both
            r = _unit(h.mean - b.mean)
            p_h, p_b = float(h.mean @ r), float(b.mean @ r)
            ranges, probes = {}, {}
            for config in the_plan.configs:
                lo, hi = math.inf, -math.inf  # per configuration, so a wide one does not squash the others' bins
                for label in ("harmful", "benign"):
                    m = stats.group(position, layer, configs=[config], label=label)
                    if m is not None:
                        mu, sd = float(m.mean @ r), _sd_along(m, r)
                        lo, hi = min(lo, mu - 4 * sd), max(hi, mu + 4 * sd)
                if math.isfinite(lo) and not hi > lo:
                    lo, hi = lo - 1.0, hi + 1.0
                ranges[config] = (lo, hi) if math.isfinite(lo) else (-1.0, 1.0)
                ch = stats.group(position, layer, configs=[config], label="harmful")
                cb = stats.group(position, layer, configs=[config], label="benign")
                if ch is not None and cb is not None:
                    probes[config] = _probe(ch, cb)
            frozen[(position, layer)] = {"unit": r, "tau": (p_h + p_b) / 2, "text_h": p_h, "text_b": p_b,
                                         "ranges": ranges, "probes": probes}
    return frozen


@dataclass
class HeldOut:
    """Per (position, config, label, layer) projection summaries, and probe verdict counts per configuration."""

    projections: dict[tuple[str, str, str, int], Scalars] = field(default_factory=dict)
    probe: dict[tuple[str, str, int], list[int]] = field(default_factory=dict)  # [correct, n]

    def add(self, frozen: dict[Any, Any], reads: dict[tuple[str, int], torch.Tensor], configs: list[str],
            labels: list[str]) -> None:
        for (position, layer), rows in reads.items():
            f = frozen[(position, layer)]
            x = rows.double()
            p = x @ f["unit"]
            for i, (config, label) in enumerate(zip(configs, labels)):
                key = (position, config, label, layer)
                if key not in self.projections:
                    lo, hi = f["ranges"].get(config, (-1.0, 1.0))
                    self.projections[key] = Scalars(lo, hi, f["tau"])
                self.projections[key].add(p[i:i + 1])
                probe = f["probes"].get(config)
                if probe is not None:
                    said_harmful = float(x[i] @ probe["w"] + probe["b"]) > 0
                    counts = self.probe.setdefault((position, config, layer), [0, 0])
                    counts[0] += int(said_harmful == (label == "harmful"))
                    counts[1] += 1

    def to_dict(self) -> dict[str, Any]:
        return {"projections": [[list(k), vars(v)] for k, v in self.projections.items()],
                "probe": [[list(k), v] for k, v in self.probe.items()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeldOut:
        return cls({(k[0], k[1], k[2], int(k[3])): Scalars(**v) for k, v in d["projections"]},
                   {(k[0], k[1], int(k[2])): list(v) for k, v in d["probe"]})


# -- summaries ---------------------------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def binned_auroc(pos: Scalars, neg: Scalars) -> float:
    """P(positive > negative) from two histograms on the same bins; pairs in one bin count one half."""
    if pos.n == 0 or neg.n == 0:
        return float("nan")
    below, total = 0, 0.0
    for cp, cn in zip(pos.counts, neg.counts):
        total += cp * (below + 0.5 * cn)
        below += cn
    return total / (pos.n * neg.n)


def crs(h: Scalars, b: Scalars, text_gap: float) -> dict[str, float]:
    """The four reconstructed CRS candidates for one configuration (docs/analyze.md)."""
    pooled = math.sqrt((h.var + b.var) / 2) if h.n and b.n else float("nan")
    gap = h.mean - b.mean
    dprime = gap / pooled if pooled > 0 else float("nan")
    # Approximate standard error of d' (normal theory), for the interval band of the figures.
    se = math.sqrt((h.n + b.n) / (h.n * b.n) + dprime ** 2 / (2 * (h.n + b.n))) if h.n and b.n else float("nan")
    return {"dprime": dprime, "dprime_lo": dprime - 1.96 * se, "dprime_hi": dprime + 1.96 * se,
            "relative_gap": gap / text_gap if text_gap else float("nan"),
            "threshold_conditional": h.above / h.n - b.above / b.n if h.n and b.n else float("nan"),
            "auroc_binned": binned_auroc(h, b)}


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    """NaN when either vector is zero (e.g. every direction at the last token of the embeddings, a template token
    that is the same for every prompt): no angle to report."""
    na, nb = float(a.norm()), float(b.norm())
    return float(a.dot(b)) / (na * nb) if na > 1e-12 and nb > 1e-12 else float("nan")


def geometry(stats: StreamStats, frozen: dict[Any, Any], held: HeldOut, the_plan: Plan,
             settings: AnalysisSettings) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """The tables (name -> rows) and the vectors (for vectors.pt)."""
    from defenses.toolkit.golden import golden_vector

    tables: dict[str, list[dict[str, Any]]] = {"directions": [], "projections": [], "crs": [], "drift": [],
                                               "golden": [], "histograms": []}
    vectors: dict[str, Any] = {}
    layers = sorted({k[3] for k in stats.moments})
    for position in settings.positions:
        for layer in layers:
            where = {"position": position, "layer": layer}
            f = frozen[(position, layer)]
            raw: dict[str, torch.Tensor] = {}
            for config in the_plan.configs:
                h = stats.group(position, layer, configs=[config], label="harmful")
                b = stats.group(position, layer, configs=[config], label="benign")
                if h is not None and b is not None:
                    raw[config] = h.mean - b.mean
            text = raw[settings.reference]
            tn = float(text.norm())
            for config, r in raw.items():
                tables["directions"].append({**where, "config": config, "modality": the_plan.modalities[config],
                                             "norm": float(r.norm()), "cos_text": _cos(r, text),
                                             "norm_ratio": float(r.norm()) / tn if tn > 1e-12 else float("nan"),
                                             "projection_ratio": float(r.dot(text)) / tn ** 2 if tn > 1e-12
                                             else float("nan")})
            per_modality = {}
            for modality in PURE:
                cs = [c for c in the_plan.configs if the_plan.modalities[c] == modality]
                h = stats.group(position, layer, configs=cs, label="harmful")
                b = stats.group(position, layer, configs=cs, label="benign")
                if h is not None and b is not None:
                    per_modality[modality] = (h.mean - b.mean).float()
            if len(per_modality) >= 2:
                g = golden_vector(layer, per_modality)
                tables["golden"].append({**where, "modalities": "+".join(g.modalities), "norm": g.norm,
                                         "cos_text": _cos(g.vector.double(), text),
                                         "singular_values": [float(s) for s in g.singular_values]})
                vectors[f"golden/{position}/{layer}"] = g.vector
            text_gap = f["text_h"] - f["text_b"]
            ref_h = held.projections.get((position, settings.reference, "harmful", layer))
            ref_b = held.projections.get((position, settings.reference, "benign", layer))
            held_text_gap = ref_h.mean - ref_b.mean if ref_h and ref_b else float("nan")
            for config in the_plan.configs:
                cells = {lab: held.projections.get((position, config, lab, layer)) for lab in ("harmful", "benign")}
                for label, s in cells.items():
                    if s is None:
                        continue
                    se = math.sqrt(s.var / s.n) if s.n else float("nan")
                    norm = (lambda v: (v - f["text_b"]) / text_gap if text_gap else float("nan"))
                    tables["projections"].append({**where, "config": config, "label": label, "n": s.n,
                                                  "mean": s.mean, "sd": math.sqrt(s.var), "normalised_mean": norm(s.mean),
                                                  "normalised_lo": norm(s.mean - 1.96 * se),
                                                  "normalised_hi": norm(s.mean + 1.96 * se),
                                                  "share_above_tau": s.above / s.n if s.n else float("nan")})
                    tables["histograms"].append({**where, "config": config, "label": label, "lo": s.lo, "hi": s.hi,
                                                 "tau": s.tau, "bins": HIST_BINS, "counts": list(s.counts)})
                if cells["harmful"] is None or cells["benign"] is None:
                    continue
                row = {**where, "config": config, "modality": the_plan.modalities[config],
                       **crs(cells["harmful"], cells["benign"], held_text_gap)}
                correct, n = held.probe.get((position, config, layer), [0, 0])
                lo, hi = wilson(correct, n)
                row.update({"probe_accuracy": correct / n if n else float("nan"), "probe_lo": lo, "probe_hi": hi,
                            "probe_n": n})
                tables["crs"].append(row)
            text_unit = text / text.norm() if float(text.norm()) > 1e-12 else text
            for config, n_pairs in sorted(the_plan.pairs.items()):
                total = stats.drift.get((position, config, layer))
                if total is None or not n_pairs:
                    continue
                delta = total / n_pairs
                cos = _cos(delta, text_unit)
                tables["drift"].append({**where, "config": config, "modality": the_plan.modalities[config],
                                        "pairs": n_pairs, "norm": float(delta.norm()), "cos_text": cos,
                                        "dot_text": float(delta.dot(text_unit)), "orthogonal_share": 1 - cos * cos,  # NaN with cos
                                        "norm_over_gap": float(delta.norm()) / float(text.norm())
                                        if float(text.norm()) > 1e-12 else float("nan")})
                vectors[f"drift/{position}/{config}/{layer}"] = delta.float()
            vectors[f"refusal/{position}/{settings.reference}/{layer}"] = text.float()
            for config, r in raw.items():
                vectors[f"refusal/{position}/{config}/{layer}"] = r.float()
    return tables, vectors
