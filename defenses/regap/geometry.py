"""ReGap's offline geometry (docs/reference.md, ReGap §3-5 and 9.1 steps 1-3): the text-aligned refusal
direction and text anchors at every layer, and the modality-induced drift per modality signature and layer.

Everything is read at the last prompt token of every decoder layer's output, in one prefill pass per batch of
calibration samples. The raw drifts are stored; the `full` / `orth` / `par` variant and the units are applied
when a vector is asked for, so one artifact serves all variants.

Modality signature = `Sample.modality` (e.g. `image+text`, `audio`). An input whose signature has no drift of
its own uses the drift of a calibrated signature with the same media kinds (e.g. `image` for `image+text`),
else the pooled drift; the choice is recorded per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from defenses.regap.params import ReGapParams
from defenses.regap.tokens import TokenDrift, fit_token_drift, row_of
from defenses.toolkit.anchors import stack_directions, text_directions, unstack_directions
from defenses.toolkit.artifacts import Manifest, ModelIdentity, artifact_dir, data_hash, load_artifact, save_artifact
from defenses.toolkit.collect import collect
from defenses.toolkit.directions import Direction
from defenses.toolkit.drift import apply_variant, drift_diagnostics, estimate_drift, pooled_drift
from harness.records import Sample

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ModelBackend

KIND = "regap-geometry"
POOLED = "pooled"
TEXT = "text"


def media_kinds(modality: str) -> frozenset[str]:
    return frozenset(part for part in modality.split("+") if part != TEXT)


@dataclass
class Geometry:
    num_layers: int
    directions: dict[int, Direction]  # text refusal directions and anchors, every layer
    drifts: dict[str, torch.Tensor]  # signature (or POOLED) -> [num_layers, d] raw mean drift
    n_pairs: dict[str, int]
    skipped: dict[str, str] = field(default_factory=dict)  # signatures without a drift, and why
    directory: Path | None = None
    manifest: Manifest | None = None
    tokens: TokenDrift | None = None  # per-token drift [ours], with drift_reading=media_tokens

    @property
    def signatures(self) -> list[str]:
        return sorted(k for k in self.drifts if k != POOLED)

    def drift_key(self, modality: str, scope: str = "per_modality", reading: str = "last") -> tuple[str | None, str]:
        """(drift key, how it was chosen) for an input's modality; (None, "text") for text-only inputs."""
        kinds = media_kinds(modality)
        if not kinds:
            return None, TEXT
        if reading == "media_tokens":
            return self._tokens().key(modality, scope)
        if scope == "pooled":
            return POOLED, "pooled"
        if modality in self.drifts:
            return modality, "exact"
        same = [s for s in self.signatures if media_kinds(s) == kinds]
        if same:
            return max(same, key=lambda s: (self.n_pairs.get(s, 0), s)), "same-media"
        return POOLED, "pooled-fallback"

    def _tokens(self) -> TokenDrift:
        if self.tokens is None:
            raise ValueError("this ReGap geometry has no per-token drift: calibrate with drift_reading=media_tokens")
        return self.tokens

    def vector(self, key: str, layer: int, variant: str, units: str, reading: str = "last") -> torch.Tensor:
        """The correction vector v_L [d] (float32): the drift's variant, raw (`relative`) or unit-norm (`unit`)."""
        if reading == "media_tokens":
            tok = self._tokens()
            v = apply_variant(tok.drifts[key][row_of(layer)].float(), variant, tok.refusal[row_of(layer)])
        else:
            if layer < 0:
                raise ValueError("the last-token drift has no input-embedding row: use drift_reading=media_tokens")
            v = apply_variant(self.drifts[key][layer].float(), variant, self.directions[layer].unit)
        if units == "unit":
            v = v / v.norm().clamp_min(1e-12)
        elif units != "relative":
            raise ValueError(f"units must be 'relative' or 'unit', got {units!r}")
        return v

    def diagnostics(self) -> dict[str, list[dict[str, float]]]:
        """Per signature, per layer: ||delta||, cos(delta, r_hat), <delta, r_hat>, ||delta|| / ||r||, ||r||."""
        out: dict[str, list[dict[str, float]]] = {}
        for key, table in self.drifts.items():
            rows = []
            for layer in range(self.num_layers):
                r = self.directions[layer]
                rows.append({"layer": layer, **drift_diagnostics(table[layer], r.raw), "gap": r.norm})
            out[key] = rows
        return out


def fit_geometry(backend: ModelBackend, samples: list[Sample], params: ReGapParams, *,
                 progress: bool = False) -> Geometry:
    """Collect last-token states at every layer and estimate directions, anchors and drifts."""
    import torch

    num_layers = backend.num_layers
    acts = collect(backend, samples, list(range(num_layers)), position="last", batch_size=params.batch_size,
                   progress=progress, desc="ReGap calibration")
    directions = text_directions(acts)
    drifts: dict[str, torch.Tensor] = {}
    n_pairs: dict[str, int] = {}
    skipped: dict[str, str] = {}
    per_layer_for_pool: dict[int, list] = {layer: [] for layer in range(num_layers)}
    for sig in sorted({s.modality for s in samples if media_kinds(s.modality)}):
        try:
            layer_drifts = [estimate_drift(acts, layer, sig, classes=params.classes, estimator=params.estimator)
                            for layer in range(num_layers)]
        except ValueError as exc:  # e.g. no text twin shares a source_id: recorded, never silently dropped
            skipped[sig] = str(exc)
            continue
        drifts[sig] = torch.stack([d.vector.float() for d in layer_drifts])
        n_pairs[sig] = layer_drifts[0].n_pairs
        for layer, d in enumerate(layer_drifts):
            per_layer_for_pool[layer].append(d)
    if not drifts:
        raise ValueError("ReGap calibration found no modality drift: the calibration set needs media samples with "
                         f"text twins (same source_id and label) for the paired estimator. Skipped: {skipped}")
    drifts[POOLED] = torch.stack([pooled_drift(per_layer_for_pool[layer]) for layer in range(num_layers)])
    n_pairs[POOLED] = sum(n_pairs.values())
    tokens = None
    if params.drift_reading == "media_tokens":
        tokens = fit_token_drift(backend, samples, classes=params.classes, estimator=params.estimator,
                                 batch_size=params.batch_size, progress=progress)
    return Geometry(num_layers, directions, drifts, n_pairs, skipped, tokens=tokens)


# -- artifact ----------------------------------------------------------------------------------------------
def geometry_key(params: ReGapParams, backend: ModelBackend) -> dict[str, Any]:
    """Everything the stored states depend on besides weights and data: estimator choices, prompt format, dtype."""
    info = backend.info()
    return {
        **params.geometry_key(),
        "system_prompt_hash": info.get("system_prompt_hash"),
        "chat_template_hash": info.get("chat_template_hash"),
        "dtype": info.get("dtype"),
        "layer_convention": "output of layers[L]",
    }


def geometry_dir(cache_dir: Path, model: ModelIdentity, samples: list[Sample], key: dict[str, Any]) -> Path:
    return artifact_dir(cache_dir, KIND, model, data_hash(samples), key)


def save_geometry(geometry: Geometry, directory: Path, *, model: ModelIdentity, samples: list[Sample],
                  data: str, key: dict[str, Any]) -> Path:
    n_text = next(iter(geometry.directions.values()))
    manifest = Manifest(
        kind=KIND, model=model.__dict__, layers=list(range(geometry.num_layers)), data_hash=data_hash(samples),
        data=data, params=key,
        extra={
            "n_samples": len(samples),
            "n_text_harmful": n_text.n_harmful,
            "n_text_benign": n_text.n_benign,
            "n_pairs": geometry.n_pairs,
            "skipped_signatures": geometry.skipped,
            "diagnostics": geometry.diagnostics(),
            "layer_convention": "layer L = output of decoder layers[L], last prompt token",
        },
    )
    tensors = stack_directions(geometry.directions, geometry.num_layers)
    tensors.update({f"drift.{sig}": table for sig, table in geometry.drifts.items()})
    if geometry.tokens is not None:
        tensors.update(geometry.tokens.tensors())
        manifest.extra.update({
            "token_pairs": geometry.tokens.n_pairs, "token_skipped": geometry.tokens.skipped,
            "token_diagnostics": geometry.tokens.diagnostics(),
            "token_convention": "per-token drift [ours]: media-token mean minus typed-request mean; row 0 = EMBED",
        })
    save_artifact(directory, manifest, tensors)
    geometry.directory, geometry.manifest = directory, manifest
    return directory


def load_geometry(directory: Path, *, model: ModelIdentity, samples: list[Sample], data: str) -> Geometry:
    """Load a geometry artifact; refuses another model or calibration set (naming both)."""
    manifest, tensors = load_artifact(directory, model=model, data_hash_=data_hash(samples), kind=KIND, data=data)
    extra = manifest.extra
    directions = unstack_directions(tensors, int(extra["n_text_harmful"]), int(extra["n_text_benign"]))
    drifts = {name[len("drift."):]: t for name, t in tensors.items() if name.startswith("drift.")}
    return Geometry(len(directions), directions, drifts, {k: int(v) for k, v in extra["n_pairs"].items()},
                    dict(extra.get("skipped_signatures") or {}), directory, manifest,
                    TokenDrift.from_tensors(tensors, extra))
