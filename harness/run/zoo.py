"""Model names: built-in aliases (model organisms, tiny random models) or hub ids / local paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.model_files import folder_fingerprint
from harness.registry import UnknownNameError, import_object


@dataclass(frozen=True)
class ModelAlias:
    name: str
    description: str
    builder: str  # "module:function" taking (name, models_dir) and returning the model directory
    backend: str
    notes: tuple[str, ...] = ()
    # "module:function" taking the name and returning what its weights are, without building them (part of a run's
    # identity: after an upgrade that changes them, earlier run folders are not resumed); None: not fingerprinted
    identity: str | None = None


ORGANISM_NOTE = ("model organism: a toy trained here to show the cross-modal safety gap; its numbers are not those "
                 "of any real model (docs/organism.md)")
ORGANISM_IDENTITY = "organism.zoo:weights_identity"
PLUMBING_NOTE = ("random-weight tiny model: its numbers are a plumbing check only and say nothing about any "
                 "real model or defense")

BUILTIN_MODELS: tuple[ModelAlias, ...] = (
    ModelAlias("organism", "model organism: tiny Qwen2.5-Omni trained here with a learned text-vs-media safety gap",
               "organism.train:ensure_organism", "qwen2.5-omni", (ORGANISM_NOTE,), ORGANISM_IDENTITY),
    ModelAlias("organism-planted", "model organism with a known planted media drift (a unit test for drift "
               "estimation) that reads what it is asked and complies when the drift is there, built on organism",
               "organism.train:ensure_organism", "qwen2.5-omni", (ORGANISM_NOTE,), ORGANISM_IDENTITY),
    ModelAlias("organism-v2", "model organism that understands what it sees (names harmful media requests, "
               "separable from benign ones) and refuses them only in part, built on organism",
               "organism.train:ensure_organism", "qwen2.5-omni", (ORGANISM_NOTE,), ORGANISM_IDENTITY),
    ModelAlias("tiny-omni", "tiny random Qwen2.5-Omni thinker (built locally, plumbing check)",
               "harness.tiny_models:ensure_tiny_model", "qwen2.5-omni", (PLUMBING_NOTE,)),
    ModelAlias("tiny-vl", "tiny random Qwen2.5-VL (built locally, plumbing check)",
               "harness.tiny_models:ensure_tiny_model", "qwen2.5-vl", (PLUMBING_NOTE,)),
    ModelAlias("tiny-text", "tiny random Qwen2 text LM (built locally, plumbing check)",
               "harness.tiny_models:ensure_tiny_model", "hf-text", (PLUMBING_NOTE,)),
)


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # as given by the user (recorded in the RunSpec)
    path: str  # what from_pretrained receives: a local directory or a hub id
    backend: str | None  # detected backend name, None if unknown before loading
    notes: tuple[str, ...] = field(default_factory=tuple)


def aliases() -> dict[str, ModelAlias]:
    return {a.name: a for a in BUILTIN_MODELS}


def resolve_model(name: str, cache_dir: Path, *, build: bool = True) -> ResolvedModel:
    """Alias -> built local directory; existing directory -> itself; `owner/name` -> hub id."""
    known = aliases()
    if name in known:
        alias = known[name]
        path = ""
        if build:
            path = str(import_object(alias.builder)(name, cache_dir / "models"))  # type: ignore[operator]
        return ResolvedModel(name, path, alias.backend, alias.notes)
    local = Path(name).expanduser()
    if local.is_dir():
        return ResolvedModel(name, str(local), detect_backend_from_dir(local))
    if "/" in name and not name.startswith((".", "/")):
        return ResolvedModel(name, name, None)  # a hub id: backend detected from its config at load time
    raise UnknownNameError("model", name, sorted(known)) from None


def weights_fingerprint(model: str, path: str) -> str | None:
    """A model given as a local folder is fingerprinted, a built-in name by its own identity function (the
    organisms': the shipped weights or the recipe); hub ids (pinned with --revision) and the plumbing models, built
    from this package's code, are not."""
    alias = aliases().get(model)
    if alias is not None:
        if alias.identity is None:
            return None
        return str(import_object(alias.identity)(model))  # type: ignore[operator]
    if not path or not Path(path).is_dir():
        return None
    return folder_fingerprint(path)


def detect_backend_from_dir(path: Path) -> str | None:
    cfg = path / "config.json"
    if not cfg.exists():
        return None
    from harness.backends import detect_backend
    from harness.files import read_json

    return detect_backend(read_json(cfg))
