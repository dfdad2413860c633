"""The `omnisteer` registry entry: calibrate (or load) golden vectors and adapters, then steer every forward pass.

Setup finds the artifact for (model fingerprint, calibration data hash, training settings) in the defense cache,
or trains it there (the same path `harness train omnisteer` writes), or loads an explicit `artifact=DIR`. An
artifact made for another model or from other data is refused with a message naming both (toolkit artifacts).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from defenses.base import DefenseContext
from defenses.omnisteer import artifact as store
from defenses.omnisteer.adapter import adapter_shape, make_adapter
from defenses.omnisteer.hooks import steer_hook
from defenses.omnisteer.presets import Preset, auto_preset, get_preset
from defenses.omnisteer.train import TrainConfig, train
from defenses.steering import ContractConfig, SteeringDefense, no_positions, position_mask
from defenses.toolkit.artifacts import artifact_dir, data_hash, model_identity
from defenses.toolkit.calibration_data import CalibrationSplit, Identity, check_disjoint, load_split

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ForwardState, LayerHook, ModelBackend, PreparedBatch

K_KEY = "omnisteer.k"  # batch.extras key: layer -> list of [B] k tensors, one per forward pass


@dataclass
class OmniSteerParams:
    """Parameters of `omnisteer`. Loss and layer settings left at None come from the preset.

    preset:     `auto` (from the model name: qwen2.5-omni-7b, baichuan-omni-1.5, minicpm-o-2.6, tiny, ...) or a
                preset name (`harness list defenses` docs; `-reference` presets train in independent mode).
    data:       calibration task selector (golden vectors + adapter training), e.g. `organism-calibration`;
                default: the preset's own, if any.
    validation: task selector for checkpoint selection; default: the preset's, else 20 % of `data` held out by
                source_id.
    data_part, validation_part: a part of each selector's sources, e.g. `0-80%` / `80-100%` of one task, so
                checkpoints are chosen on data the hygiene check accepts whatever split a run evaluates
                (defaults: the preset's).
    artifact:   a directory written by `harness train omnisteer --out`; used instead of training. With `data`
                also given, the artifact must come from that data.
    layers, a, b, beta_h, beta_s, lr, epochs, batch_size, bottleneck, mode: override the preset (mode:
                `sequential` | `independent`).
    beta_scales: L1 weights tried per layer, as multiples of (beta_h, beta_s); the adapter leaving the most
                validation items on the right side of their hinge is kept [project] (default: the preset's; the
                papers' presets try only 1).
    golden_modalities: modalities whose refusal vectors form the golden vector; default: the pure modalities
                (text, image, audio, video) present in `data`. A missing one is an error.
    n_per_group: at most N calibration samples per task x configuration x label (seeded).
    eval_every: validation checkpoint interval in optimiser steps.
    checkpoint: `best_validation` (lowest validation objective, step 0 = no intervention included) or `last`.
    seed:       training seed (default: the run's seed).
    scale:      multiplies k at inference; 1 = the method, 0 = no intervention (bit-identical to `none`).
    record_k:   record each row's k (prefill and mean over decode steps) in the generation's defense_info.
    train:      train when no cached artifact exists (False: fail instead).
    """

    preset: str = "auto"
    data: str | None = None
    validation: str | None = None
    data_part: str | None = None
    validation_part: str | None = None
    artifact: str | None = None
    layers: list[int] | None = None
    a: float | None = None
    b: float | None = None
    beta_h: float | None = None
    beta_s: float | None = None
    beta_scales: list[float] | None = None
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    bottleneck: int | None = None
    mode: str | None = None
    golden_modalities: list[str] | None = None
    n_per_group: int | None = None
    eval_every: int = 50
    checkpoint: str = "best_validation"
    seed: int | None = None
    scale: float = 1.0
    record_k: bool = True
    train: bool = True

    def __post_init__(self) -> None:
        from defenses.toolkit.splits import parse_part

        for name in ("data_part", "validation_part"):
            if getattr(self, name) is not None:
                parse_part(str(getattr(self, name)))  # a malformed part fails before any model loads


class OmniSteer(SteeringDefense):
    name = "omnisteer"
    description = ("OmniSteer: per-layer adapters scale the golden refusal vector, added at the last position of "
                   "every forward pass (arXiv 2602.10161)")
    Params = OmniSteerParams
    # 2: the organism preset chooses its L1 weights per layer (runs of version 1 used Qwen's on every organism)
    version = "2"
    strength_param = "scale"
    contract = ContractConfig(
        params=MappingProxyType({"preset": "tiny", "data": "smoke:text,image", "n_per_group": 4, "epochs": 2,
                                 "checkpoint": "last"}),  # on random weights the zero adapter may validate best
        models=("tiny-omni", "tiny-vl"),  # the golden vector needs two modalities; tiny-text has one
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._layers: tuple[int, ...] = ()
        self._units: dict[int, torch.Tensor] = {}
        self._adapters: dict[int, torch.nn.Module] = {}
        self._loaded: store.Loaded | None = None
        self._notes: list[str] = []

    # -- configuration -------------------------------------------------------------------------------------
    def preset(self, model_name: str) -> Preset:
        p: OmniSteerParams = self.params
        return auto_preset(model_name) if p.preset == "auto" else get_preset(p.preset)

    def train_config(self, model_name: str, seed: int) -> TrainConfig:
        p: OmniSteerParams = self.params
        preset = self.preset(model_name)
        overrides = {k: getattr(p, k) for k in ("a", "b", "beta_h", "beta_s", "lr", "epochs", "batch_size",
                                                "bottleneck", "mode") if getattr(p, k) is not None}
        if p.beta_scales is not None:
            overrides["beta_scales"] = tuple(float(x) for x in p.beta_scales)
        if p.layers is not None:
            overrides["layers"] = tuple(sorted(set(int(x) for x in p.layers)))
        preset = replace(preset, **overrides)
        return TrainConfig(
            preset=preset.name, layers=preset.layers, a=preset.a, b=preset.b, beta_h=preset.beta_h,
            beta_s=preset.beta_s, lr=preset.lr, epochs=preset.epochs, batch_size=preset.batch_size,
            bottleneck=preset.bottleneck, mode=preset.mode, beta_scales=preset.beta_scales,
            golden_modalities=tuple(p.golden_modalities) if p.golden_modalities else None,
            seed=seed if p.seed is None else p.seed, eval_every=p.eval_every, checkpoint=p.checkpoint,
        )

    def calibration_split(self, context: DefenseContext, model_name: str, seed: int) -> CalibrationSplit:
        p: OmniSteerParams = self.params
        preset = self.preset(model_name)
        data = p.data or preset.data
        validation = p.validation or (preset.validation if not p.data or p.data == preset.data else None)
        own_data = data == preset.data
        data_part = p.data_part if p.data_part is not None else (preset.data_part if own_data else "")
        validation_part = p.validation_part if p.validation_part is not None else (
            preset.validation_part if validation == preset.validation else "")
        return load_split(context, data, validation, what="omnisteer", n_per_group=p.n_per_group, seed=seed,
                          data_part=data_part, validation_part=validation_part)

    # -- setup ---------------------------------------------------------------------------------------------
    def setup(self, backend: ModelBackend, context: DefenseContext) -> None:
        self._loaded = self.prepare_artifact(backend, context)
        self._install(backend, self._loaded)

    def prepare_artifact(self, backend: ModelBackend, context: DefenseContext, *, force: bool = False) -> store.Loaded:
        """Load the artifact these parameters name, training it first when needed (`force`: always retrain)."""
        p: OmniSteerParams = self.params
        model_name = context.model_name or backend.model_name
        identity = model_identity(backend, model_name)
        seed = context.seed if p.seed is None else p.seed
        if p.artifact:
            split = self.calibration_split(context, model_name, seed) if p.data else None
            loaded = store.load(Path(p.artifact), model=identity,
                                data_hash_=data_hash(split.train + split.validation) if split else None,
                                data=split.description if split else None)
            self._check_artifact_data(loaded, context)
            return loaded
        config = self.train_config(model_name, seed)
        split = self.calibration_split(context, model_name, seed)
        dh = data_hash(split.train + split.validation)
        directory = artifact_dir(context.cache_dir, store.KIND, identity, dh,
                                 {**config.to_dict(), "data": split.description})
        if directory.exists() and not force:
            return store.load(directory, model=identity, data_hash_=dh)
        if not p.train:
            raise FileNotFoundError(f"omnisteer: no trained artifact at {directory} and train=false; run "
                                    f"`harness train omnisteer --model {model_name} --data {p.data or '...'}`")
        echo = (lambda msg: print(f"omnisteer: {msg}", file=sys.stderr)) if context.show_progress else None
        trained = train(backend, split, config, progress=context.show_progress, echo=echo)
        store.save(directory, trained, identity, dh, split.description)
        self._record_identity(directory, split)
        return store.load(directory, model=identity, data_hash_=dh)

    IDS_FILE = "calibration_identity.json"

    def _record_identity(self, directory: Path, split: CalibrationSplit) -> None:
        """Keep the calibration items' identity beside the artifact, so a run that loads it by path can still
        check them against its own samples (D17)."""
        import json

        ident = Identity.of(split.train + split.validation).to_dict()
        (directory / self.IDS_FILE).write_text(json.dumps(ident) + "\n")

    def _check_artifact_data(self, loaded: store.Loaded, context: DefenseContext) -> None:
        from harness.files import CorruptFile, read_json

        path = loaded.path / self.IDS_FILE
        if not path.exists():
            self._notes.append(f"{path.name} missing beside the artifact: calibration/evaluation disjointness "
                               "not checked")
            return
        hint = "it records which samples trained the artifact: restore it, or retrain (harness train omnisteer)"
        data = read_json(path, hint=hint)
        try:
            ident = Identity.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFile(path, f"not a calibration identity ({exc})", hint=hint) from None
        check_disjoint(ident, context.evaluation_samples, what=f"omnisteer artifact {loaded.path}")

    def _install(self, backend: ModelBackend, loaded: store.Loaded) -> None:
        import torch

        if loaded.layers and max(loaded.layers) >= backend.num_layers:
            raise ValueError(f"omnisteer artifact {loaded.path} targets layers {list(loaded.layers)}, beyond this "
                             f"model's {backend.num_layers} layers")
        modules = backend.decoder_layers()
        self._layers = loaded.layers
        for layer in loaded.layers:
            device = next(modules[layer].parameters()).device
            hidden, bottleneck = adapter_shape(loaded.adapters[layer])
            if hidden != backend.hidden_size:
                raise ValueError(f"omnisteer artifact {loaded.path}: adapter width {hidden} != model hidden size "
                                 f"{backend.hidden_size}")
            adapter = make_adapter(hidden, bottleneck)
            adapter.load_state_dict(loaded.adapters[layer])
            self._adapters[layer] = adapter.eval().to(device)
            v = loaded.golden[layer].float()
            self._units[layer] = (v / v.norm().clamp_min(1e-12)).to(device=device, dtype=torch.float32)

    # -- inference -----------------------------------------------------------------------------------------
    def hooks(self, backend: ModelBackend, batch: PreparedBatch) -> dict[int, LayerHook]:
        p: OmniSteerParams = self.params
        if p.scale == 0.0:
            return {}  # no hook at all: bit-identical to `none`, no overhead
        if not self._layers:
            raise RuntimeError("omnisteer: setup() has not run")
        records: dict[int, list] = {layer: [] for layer in self._layers}
        if p.record_k:
            batch.extras[K_KEY] = records
            batch.extras.pop(K_KEY + ":cpu", None)  # a batch generated again gets its own copy
        return {layer: steer_hook(self._adapters[layer], self._units[layer], scale=p.scale,
                                  record=records[layer] if p.record_k else None) for layer in self._layers}

    def touched_positions(self, state: ForwardState, layer: int) -> torch.Tensor:
        if self.params.scale == 0.0 or layer not in self._layers:
            return no_positions(state)
        return position_mask(state, "last", "prefill_decode")

    def row_info(self, batch: PreparedBatch, row: int) -> dict[str, Any]:
        records = batch.extras.get(K_KEY)
        if not records:
            return {}
        import torch

        # One device-to-CPU copy per layer and batch (the hook records on the device).
        on_cpu = batch.extras.setdefault(K_KEY + ":cpu", {layer: torch.stack(ks).float().cpu()
                                                          for layer, ks in records.items() if ks})
        out: dict[str, dict[str, float | None]] = {}
        for layer, ks in on_cpu.items():
            column = ks[:, row].tolist()  # [passes] for this row: prefill, then each decode step
            decode = column[1:]
            out[str(layer)] = {"prefill": round(column[0], 6),
                               "decode_mean": round(sum(decode) / len(decode), 6) if decode else None}
        return {"omnisteer_k": out}

    def info(self) -> dict[str, Any]:
        info = super().info()
        if self._loaded is not None:
            m = self._loaded.manifest
            info["artifact"] = {"path": str(self._loaded.path), "tensors_sha256": m.tensors_sha256,
                                "data": m.data, "data_hash": m.data_hash, "train": m.params,
                                "selection_rule": m.extra.get("selection_rule"),
                                "selection": m.extra.get("selection"), "golden": m.extra.get("golden")}
        if self._notes:
            info["notes"] = list(self._notes)
        return info
