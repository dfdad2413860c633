"""Calibration artifacts: tensors in safetensors plus a JSON manifest, cached and checked before reuse.

    <cache>/defenses/<kind>/<model slug>-<fingerprint>/<data hash>-<params hash>/
        tensors.safetensors
        manifest.json   kind, model id + revision + weight fingerprint, layers, data hash + description,
                        parameters, toolkit version, creation time, sha256 of the tensors file

An artifact made for another model or another calibration set is refused with a message naming both.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.files import CorruptFile, load_safetensors, read_json
from harness.records import Sample, content_hash

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ModelBackend

TOOLKIT_VERSION = "1"


class ArtifactMismatchError(ValueError):
    """A calibration artifact does not belong to this model or calibration set (a user input error, so the CLI
    reports it without a traceback)."""


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    revision: str | None
    fingerprint: str  # hash of the config and of a slice of the weights

    def describe(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"{self.name}{rev} (fingerprint {self.fingerprint})"


def model_identity(backend: ModelBackend, display_name: str | None = None) -> ModelIdentity:
    """Identity of the loaded model: two checkpoints with one config but other weights differ here."""
    h = hashlib.sha256()
    info = backend.info()
    h.update(json.dumps({k: info.get(k) for k in ("config_hash", "model_class", "num_layers", "hidden_size")},
                        sort_keys=True, default=str).encode())
    layers = backend.decoder_layers()
    for module in (layers[0], layers[-1]):
        for p in list(module.parameters())[:2]:
            flat = p.detach().flatten()[:4096].float().cpu()
            h.update(flat.numpy().tobytes())
    return ModelIdentity(display_name or backend.model_name, backend.revision, h.hexdigest()[:16])


def data_hash(samples: Sequence[Sample]) -> str:
    """Hash of a calibration set: sample ids (content-derived), labels and configurations, order-free."""
    return content_hash(sorted((s.id, s.label, s.config) for s in samples))


@dataclass
class Manifest:
    kind: str
    model: dict[str, Any]
    layers: list[int]
    data_hash: str
    data: str  # human description, e.g. the task selector
    params: dict[str, Any]
    toolkit_version: str = TOOLKIT_VERSION
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    tensors_sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def artifact_dir(cache_dir: Path, kind: str, model: ModelIdentity, data_hash_: str, params: Mapping[str, Any]) -> Path:
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(model.name).name)[:40]
    return cache_dir / kind / f"{slug}-{model.fingerprint}" / f"{data_hash_}-{content_hash(dict(params), 8)}"


def save_artifact(directory: Path, manifest: Manifest, tensors: Mapping[str, torch.Tensor]) -> Path:
    """Write tensors (fp32, contiguous) and manifest atomically into `directory`."""
    from safetensors.torch import save_file

    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=".tmp-"))
    try:
        path = tmp / "tensors.safetensors"
        save_file({k: v.detach().float().contiguous().cpu() for k, v in tensors.items()}, str(path))
        manifest.tensors_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2, default=str) + "\n")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return directory


def load_artifact(directory: Path, *, model: ModelIdentity | None = None, data_hash_: str | None = None,
                  kind: str | None = None, data: str | None = None) -> tuple[Manifest, dict[str, torch.Tensor]]:
    """Load and verify an artifact; refuses another model, another data set, another kind or a changed file.

    `data` describes this run's calibration set (e.g. its task selector) so a mismatch message names both sets.
    """
    mpath = directory / "manifest.json"
    if not mpath.exists():
        raise FileNotFoundError(f"no calibration artifact at {directory} (manifest.json missing)")
    hint = f"move the folder {directory} away to recalibrate (or restore it from a backup)"
    try:
        manifest = Manifest(**read_json(mpath, hint=hint))
    except TypeError as exc:  # fields missing or unknown
        raise CorruptFile(mpath, f"not a calibration manifest ({exc})", hint=hint) from None
    if kind is not None and manifest.kind != kind:
        raise ArtifactMismatchError(f"artifact at {directory} is a {manifest.kind!r} artifact, not {kind!r}")
    if model is not None and manifest.model.get("fingerprint") != model.fingerprint:
        made = ModelIdentity(**manifest.model)
        raise ArtifactMismatchError(
            f"calibration artifact at {directory} was made for model {made.describe()}; this run uses model "
            f"{model.describe()}. Recalibrate for this model (harness calibrate) or point to its own artifact.")
    if data_hash_ is not None and manifest.data_hash != data_hash_:
        raise ArtifactMismatchError(
            f"calibration artifact at {directory} was made from data {manifest.data!r} (hash {manifest.data_hash}); "
            f"this run calibrates on data {repr(data) + ' ' if data else ''}(hash {data_hash_}). Recalibrate on this data "
            "or use the matching artifact.")
    path = directory / "tensors.safetensors"
    if not path.exists():
        raise CorruptFile(path, "missing beside its manifest", hint=hint)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if manifest.tensors_sha256 and digest != manifest.tensors_sha256:
        raise ArtifactMismatchError(f"{path} changed after it was written (sha256 {digest}, manifest says "
                                    f"{manifest.tensors_sha256})")
    return manifest, load_safetensors(path, hint=hint)
