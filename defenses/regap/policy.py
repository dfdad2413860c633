"""The threshold tau on the self-rectification score, calibrated on a validation split (docs/reference.md, ReGap
section 8): z of every validation media sample is measured exactly as online (same hooks, probe strength and
layers; early exit), then tau is fitted by the chosen rule, pooled and per modality signature (a signature
with fewer than `min_tau_samples` per class uses the pooled tau).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from defenses.regap.geometry import Geometry, media_kinds
from defenses.regap.params import ReGapParams
from defenses.regap.probe import EXTRAS_KEY, Prober
from defenses.toolkit.artifacts import Manifest, ModelIdentity, artifact_dir, data_hash, load_artifact, save_artifact
from defenses.toolkit.thresholds import Threshold, fit_threshold
from harness.records import Sample

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ModelBackend

KIND = "regap-policy"


@dataclass
class Policy:
    rule: str
    scope: str
    pooled: Threshold
    by_modality: dict[str, Threshold]
    rows: list[dict[str, Any]]  # per validation sample: id, modality, label, z
    grid: dict[str, Any] | None = None  # the grid-search point and table, when searched
    directory: Path | None = None
    manifest: Manifest | None = None

    def tau_of(self, modality: str) -> float:
        if self.scope == "per_modality" and modality in self.by_modality:
            return self.by_modality[modality].tau
        return self.pooled.tau

    def summary(self) -> dict[str, Any]:
        return {"rule": self.rule, "scope": self.scope, "pooled": self.pooled.to_dict(),
                "by_modality": {m: t.to_dict() for m, t in self.by_modality.items()}}


def media_samples(samples: list[Sample]) -> list[Sample]:
    """Harmful and benign samples with at least one non-text part (text-only inputs are never corrected)."""
    return [s for s in samples if media_kinds(s.modality) and s.label in ("harmful", "benign")]


def score_samples(backend: ModelBackend, prober: Prober, samples: list[Sample], batch_size: int) -> torch.Tensor:
    """z of every sample, measured as online (probe correction, early exit); float32 [N] on the CPU."""
    import torch

    out: list[torch.Tensor] = []
    with backend.layer_hooks(prober.hooks()):
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            batch = backend.prepare(chunk)
            plan = prober.plan(chunk, lambda modality: None)
            batch.extras[EXTRAS_KEY] = plan
            out.append(prober.measure(backend, batch, plan).float().cpu())
    return torch.cat(out) if out else torch.zeros(0)


def thresholds_from_scores(samples: list[Sample], z: torch.Tensor, params: ReGapParams) -> Policy:
    import torch

    labels = [s.label for s in samples]
    harm = torch.tensor([lab == "harmful" for lab in labels], dtype=torch.bool)

    def fit(mask: torch.Tensor) -> Threshold:
        return fit_threshold(params.threshold, z[mask & harm], z[mask & ~harm], budget=params.benign_budget)

    every = torch.ones(len(samples), dtype=torch.bool)
    pooled = fit(every)
    by_modality: dict[str, Threshold] = {}
    if params.tau_scope == "per_modality":
        for modality in sorted({s.modality for s in samples}):
            mask = torch.tensor([s.modality == modality for s in samples], dtype=torch.bool)
            n_h, n_b = int((mask & harm).sum()), int((mask & ~harm).sum())
            need_harmful = params.threshold == "youden"
            if n_b >= params.min_tau_samples and (n_h >= params.min_tau_samples or not need_harmful):
                by_modality[modality] = fit(mask)
    rows = [{"id": s.id, "modality": s.modality, "label": s.label, "z": float(v)} for s, v in zip(samples, z)]
    return Policy(params.threshold, params.tau_scope, pooled, by_modality, rows)


def fit_policy(backend: ModelBackend, prober: Prober, samples: list[Sample], params: ReGapParams) -> Policy:
    chosen = media_samples(samples)
    labels = {s.label for s in chosen}
    if params.threshold != "midpoint" and "benign" not in labels:
        raise ValueError(f"tau rule {params.threshold!r} needs benign media samples in the validation set")
    if params.threshold == "youden" and "harmful" not in labels:
        raise ValueError("tau rule 'youden' needs harmful media samples in the validation set")
    if not chosen:
        raise ValueError("the validation set has no media samples to calibrate tau on")
    z = score_samples(backend, prober, chosen, params.batch_size)
    return thresholds_from_scores(chosen, z, params)


# -- artifact ----------------------------------------------------------------------------------------------
def policy_key(params: ReGapParams, prober: Prober, geometry: Geometry) -> dict[str, Any]:
    return {
        "geometry": geometry.manifest.tensors_sha256 if geometry.manifest else None,
        "settings": prober.settings.to_dict(),
        "threshold": params.threshold, "benign_budget": params.benign_budget, "tau_scope": params.tau_scope,
        "min_tau_samples": params.min_tau_samples,
        "search": params.search, "search_max_new_tokens": params.search_max_new_tokens,
        "search_bar_drop": params.search_bar_drop,
    }


def policy_dir(cache_dir: Path, model: ModelIdentity, samples: list[Sample], key: dict[str, Any]) -> Path:
    return artifact_dir(cache_dir, KIND, model, data_hash(samples), key)


def save_policy(policy: Policy, directory: Path, *, model: ModelIdentity, samples: list[Sample], data: str,
                key: dict[str, Any], layers: list[int]) -> Path:
    import torch

    manifest = Manifest(kind=KIND, model=model.__dict__, layers=layers, data_hash=data_hash(samples), data=data,
                        params=key, extra={**policy.summary(), "rows": policy.rows, "grid": policy.grid})
    z = torch.tensor([r["z"] for r in policy.rows], dtype=torch.float32)
    save_artifact(directory, manifest, {"validation.z": z})
    policy.directory, policy.manifest = directory, manifest
    return directory


def load_policy(directory: Path, *, model: ModelIdentity, samples: list[Sample], data: str) -> Policy:
    manifest, _ = load_artifact(directory, model=model, data_hash_=data_hash(samples), kind=KIND, data=data)
    extra = manifest.extra

    def threshold(d: dict[str, Any]) -> Threshold:
        return Threshold(**d)

    return Policy(extra["rule"], extra["scope"], threshold(extra["pooled"]),
                  {m: threshold(t) for m, t in extra["by_modality"].items()}, list(extra["rows"]),
                  extra.get("grid"), directory, manifest)

