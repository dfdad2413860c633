"""OmniSteer artifacts through the toolkit's checked artifact store: golden vectors (fp32, raw: direction times
n_L), the per-modality refusal vectors they came from, the adapters' state dicts, and a manifest with the
training settings, data description, checkpoint-selection rule and outcome, and the loss log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from defenses.omnisteer.train import SELECTION_RULES, Trained
from defenses.toolkit.artifacts import Manifest, ModelIdentity, load_artifact, save_artifact

if TYPE_CHECKING:
    import torch

KIND = "omnisteer"
LOSS_LOG = "loss_log.jsonl"


class MissingVectorError(ValueError):
    """An artifact lacks the golden vector or adapter of a target layer (no fallback, defect D2)."""


@dataclass
class Loaded:
    layers: tuple[int, ...]
    golden: dict[int, torch.Tensor]  # layer -> v_L (raw)
    adapters: dict[int, dict[str, torch.Tensor]]  # layer -> state dict
    manifest: Manifest
    path: Path


def save(directory: Path, trained: Trained, model: ModelIdentity, data_hash_: str, data: str) -> Path:
    tensors: dict[str, torch.Tensor] = {}
    for layer, g in trained.golden.vectors.items():
        tensors[f"golden.{layer}"] = g.vector
        for m, by_layer in trained.golden.refusal.items():
            tensors[f"refusal.{m}.{layer}"] = by_layer[layer].raw
    for layer, fit in trained.fits.items():
        for name, value in fit.state.items():
            tensors[f"adapter.{layer}.{name}"] = value
    manifest = Manifest(
        kind=KIND, model=model.__dict__, layers=list(trained.config.layers), data_hash=data_hash_, data=data,
        params=trained.config.to_dict(),
        extra={
            "golden_modalities": list(trained.modalities),
            "golden": trained.golden.diagnostics(),
            "n_train": trained.n_train,
            "n_validation": trained.n_val,
            "selection_rule": SELECTION_RULES[trained.config.checkpoint] + (
                "; per layer, of the L1 scales tried (beta_scales), the fit with the most validation items on the "
                "right side of their hinge, the first scale on ties" if len(trained.config.beta_scales) > 1 else ""),
            "selection": {str(layer): {"chosen_step": f.chosen_step, "steps": f.steps, "validation_objective": f.chosen_val,
                                       **f.diagnostics,
                                       **({"val_hinge_ok_by_beta_scale": f.tried} if f.tried else {})}
                          for layer, f in trained.fits.items()},
            "loss_log": {str(layer): f.log for layer, f in trained.fits.items()},
        },
    )
    save_artifact(directory, manifest, tensors)
    _write_loss_log(directory / LOSS_LOG, trained)
    return directory


def _write_loss_log(path: Path, trained: Trained) -> None:
    """One JSON line per checkpoint evaluation (layer, step, epoch, mean train loss since the last one,
    validation objective): for plots; the manifest holds the same log."""
    import json

    with path.open("w") as f:
        for layer, fit in trained.fits.items():
            for entry in fit.log:
                f.write(json.dumps({"layer": layer, **entry}) + "\n")


def load(directory: Path, *, model: ModelIdentity | None, data_hash_: str | None = None,
         data: str | None = None) -> Loaded:
    """Load and verify (model, data, kind, file hash); every target layer must have its vector and adapter.
    `data` describes this run's calibration set, so a mismatch names both sets."""
    manifest, tensors = load_artifact(directory, model=model, data_hash_=data_hash_, kind=KIND, data=data)
    layers = tuple(int(layer) for layer in manifest.layers)
    golden: dict[int, Any] = {}
    adapters: dict[int, dict[str, Any]] = {}
    for layer in layers:
        if f"golden.{layer}" not in tensors:
            raise MissingVectorError(f"omnisteer artifact {directory} has no golden vector for layer {layer}")
        golden[layer] = tensors[f"golden.{layer}"]
        prefix = f"adapter.{layer}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not state:
            raise MissingVectorError(f"omnisteer artifact {directory} has no adapter for layer {layer}")
        adapters[layer] = state
    return Loaded(layers, golden, adapters, manifest, directory)
