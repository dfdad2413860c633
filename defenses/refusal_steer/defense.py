"""The `refusal-steer` registry entry: h <- h + alpha * r at chosen layers and positions.

r is the difference-of-means refusal vector at the last prompt token (harmful minus benign calibration prompts of
the chosen modalities; text by default, as in Arditi et al.). With `select=arditi` the layer is chosen by the
Arditi filters (`arditi.py`); otherwise `layers` names where r_l is added (each layer its own r_l, as the static
refusal-vector addition of the OmniSteer reference's `rs_` runs does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from defenses.base import DefenseContext
from defenses.refusal_steer import arditi
from defenses.steering import (
    PHASE_SETS,
    ContractConfig,
    SteeringDefense,
    add_at_last,
    add_vector,
    no_positions,
    position_mask,
)
from defenses.toolkit.artifacts import Manifest, artifact_dir, data_hash, load_artifact, model_identity, save_artifact
from defenses.toolkit.calibration_data import CalibrationDataError, labelled, load_split
from defenses.toolkit.collect import collect
from defenses.toolkit.directions import diff_of_means
from tasks.base import select

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ForwardState, LayerHook, ModelBackend, PreparedBatch
    from harness.records import Sample

KIND = "refusal-steer"
SELECTS = ("none", "arditi")
VECTORS = ("raw", "unit")
POSITIONS = ("all", "last")


@dataclass
class RefusalSteerParams:
    """Parameters of `refusal-steer`.

    data:        calibration task selector (harmful and benign prompts), e.g. `organism-calibration`.
    validation:  task selector for the Arditi selection; default: 20 % of `data` held out by source_id.
    modalities:  sample modalities the direction is computed from (default text only, as in Arditi).
    layers:      where alpha * r_l is added (required unless select=arditi, which picks one layer).
    alpha:       strength; 0 = no intervention (bit-identical to `none`).
    vector:      `raw` (alpha * r: Arditi's coefficient units, alpha = 1 adds the mean difference) or `unit`
                 (alpha * r / ||r||: alpha is the added norm, e.g. matched to another defense's norm).
    positions:   `all` (every real prompt token; the generated token in decode) or `last` (the last prompt token;
                 the generated token in decode).
    phase:       `prefill` (prompt only; generated tokens see the change through the KV cache) or
                 `prefill_decode` (also every generated token).
    select:      `none` or `arditi` (KL / induce / last-20 %-layers filters, lowest bypass score).
    n_per_group: at most N calibration samples per task x configuration x label (Arditi: n_train = 128).
    n_val:       at most N validation prompts per label for the selection (Arditi: 32).
    refusal_tokens: strings whose first token ids make the refusal score (Qwen: "I", "As").
    kl_max, max_layer_fraction: the Arditi filter thresholds (0.1, 0.8).
    filter_train: keep only harmful training prompts the model refuses and benign ones it does not (refusal
                 score > 0 / < 0), as Arditi does; select=arditi only.
    """

    data: str | None = None
    validation: str | None = None
    modalities: list[str] = field(default_factory=lambda: ["text"])
    layers: list[int] | None = None
    alpha: float = 1.0
    vector: str = "raw"
    positions: str = "all"
    phase: str = "prefill_decode"
    select: str = "none"
    n_per_group: int | None = None
    n_val: int = 32
    refusal_tokens: list[str] = field(default_factory=lambda: ["I", "As"])
    kl_max: float = 0.1
    max_layer_fraction: float = 0.8
    filter_train: bool = True

    def __post_init__(self) -> None:
        for name, value, allowed in (("vector", self.vector, VECTORS), ("positions", self.positions, POSITIONS),
                                     ("phase", self.phase, PHASE_SETS), ("select", self.select, SELECTS)):
            if value not in allowed:
                raise ValueError(f"refusal-steer: {name} must be one of {allowed}, got {value!r}")
        if self.select == "none" and not self.layers:
            raise ValueError("refusal-steer: give layers=[...] or select=arditi")

    def calibration_key(self) -> dict[str, Any]:
        """The parameters the direction depends on (not alpha / vector / positions / phase)."""
        keys = ("data", "validation", "modalities", "select", "n_per_group")
        if self.select == "arditi":
            keys += ("n_val", "refusal_tokens", "kl_max", "max_layer_fraction", "filter_train")
        else:
            keys += ("layers",)
        return {k: getattr(self, k) for k in keys}


class RefusalSteer(SteeringDefense):
    name = "refusal-steer"
    description = ("refusal direction (Arditi et al. 2024 / static refusal-vector addition): add alpha * r at "
                   "chosen layers and positions; select=arditi picks the layer")
    Params = RefusalSteerParams
    strength_param = "alpha"
    contract = ContractConfig(params=MappingProxyType({"data": "smoke:text", "n_per_group": 8, "layers": [1],
                                                       "alpha": 4.0}))

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._vectors: dict[int, torch.Tensor] = {}  # layer -> the vector added (alpha applied)
        self._manifest: Manifest | None = None
        self._path: str | None = None

    # -- setup ---------------------------------------------------------------------------------------------
    def setup(self, backend: ModelBackend, context: DefenseContext) -> None:
        import torch

        p: RefusalSteerParams = self.params
        identity = model_identity(backend, context.model_name or backend.model_name)
        split = load_split(context, p.data, p.validation, what=KIND, n_per_group=p.n_per_group, seed=context.seed)
        train = labelled(self._modal(split.train), f"{KIND} data {p.data!r} ({'/'.join(p.modalities)})")
        val = labelled(self._modal(split.validation), f"{KIND} validation ({'/'.join(p.modalities)})")
        dh = data_hash(train + val)
        directory = artifact_dir(context.cache_dir, KIND, identity, dh, p.calibration_key())
        if not directory.exists():
            self._calibrate(backend, context, train, val, directory, identity, dh, split.description)
        manifest, tensors = load_artifact(directory, model=identity, data_hash_=dh, kind=KIND, data=split.description)
        scale = float(p.alpha)
        for layer in manifest.layers:
            raw = tensors[f"direction.{layer}"].float()
            vec = raw if p.vector == "raw" else raw / raw.norm().clamp_min(1e-12)
            device = next(backend.decoder_layers()[layer].parameters()).device
            self._vectors[layer] = (scale * vec).to(device=device, dtype=torch.float32)
        self._manifest, self._path = manifest, str(directory)

    def _modal(self, samples: list[Sample]) -> list[Sample]:
        return [s for s in samples if s.modality in self.params.modalities]

    def _calibrate(self, backend, context, train, val, directory, identity, dh, description) -> None:
        p: RefusalSteerParams = self.params
        extra: dict[str, Any] = {"n_train": len(train), "n_validation": len(val)}
        if p.select == "arditi":
            token_ids, notes = arditi.refusal_token_ids(backend, p.refusal_tokens)
            extra.update(refusal_token_ids=token_ids, notes=notes)
            if p.filter_train:
                train, filter_note = self._filter_train(backend, train, token_ids)
                extra["filter_train"] = filter_note
            candidates = list(range(backend.num_layers))
        else:
            candidates = sorted(set(p.layers or ()))
            for layer in candidates:
                if not 0 <= layer < backend.num_layers:
                    raise ValueError(f"{KIND}: layer {layer} is outside 0..{backend.num_layers - 1}")
        acts = collect(backend, train, candidates, position="last", progress=context.show_progress,
                       desc=f"{KIND} directions")
        directions = {layer: diff_of_means(acts, layer).raw for layer in candidates}
        chosen = candidates
        if p.select == "arditi":
            val = select(val, p.n_val, context.seed)
            layer, table = arditi.select_direction(
                backend, directions, [s for s in val if s.label == "harmful"],
                [s for s in val if s.label == "benign"], extra["refusal_token_ids"], kl_max=p.kl_max,
                max_layer_fraction=p.max_layer_fraction)
            chosen = [layer]
            extra["selection"] = [c.to_dict() for c in table]
        extra["norms"] = {str(layer): float(directions[layer].norm()) for layer in candidates}
        manifest = Manifest(kind=KIND, model=identity.__dict__, layers=chosen, data_hash=dh, data=description,
                            params=p.calibration_key(), extra=extra)
        save_artifact(directory, manifest, {f"direction.{layer}": directions[layer] for layer in candidates})

    def _filter_train(self, backend, train: list[Sample], token_ids: list[int]) -> tuple[list[Sample], str]:
        """Arditi's train filter; an error when it leaves a class empty (no silent fallback to unfiltered)."""
        scores = arditi.refusal_score(arditi.last_logits(backend, train), token_ids)
        kept = [s for s, v in zip(train, scores.tolist(), strict=True)
                if (s.label == "harmful" and v > 0) or (s.label == "benign" and v < 0)]
        counts = {lab: sum(s.label == lab for s in kept) for lab in ("harmful", "benign")}
        if min(counts.values()) == 0:
            raise CalibrationDataError(
                f"{KIND}: filter_train kept {counts} of {len(train)} prompts (harmful ones must have a positive "
                f"refusal score, benign ones a negative one); pass filter_train=false or other refusal_tokens")
        return kept, f"kept {counts['harmful']} harmful and {counts['benign']} benign of {len(train)}"

    # -- inference -----------------------------------------------------------------------------------------
    def hooks(self, backend: ModelBackend, batch: PreparedBatch) -> dict[int, LayerHook]:
        if self.params.alpha == 0.0:
            return {}
        if not self._vectors:
            raise RuntimeError(f"{KIND}: setup() has not run")
        return {layer: self._hook(vec) for layer, vec in self._vectors.items()}

    def _hook(self, vec: torch.Tensor) -> LayerHook:
        p: RefusalSteerParams = self.params

        def hook(hidden: torch.Tensor, state: ForwardState) -> torch.Tensor | None:
            if state.phase == "decode":
                if p.phase == "prefill":
                    return None
                return (hidden.float() + vec).to(hidden.dtype)  # T == 1: the newest token of each row
            if p.positions == "last":
                return add_at_last(hidden, vec.expand(hidden.shape[0], -1))
            return add_vector(hidden, state.prompt_mask, vec)

        return hook

    def touched_positions(self, state: ForwardState, layer: int) -> torch.Tensor:
        p: RefusalSteerParams = self.params
        if p.alpha == 0.0 or layer not in self._vectors:
            return no_positions(state)
        return position_mask(state, p.positions, p.phase)  # type: ignore[arg-type]

    def info(self) -> dict[str, Any]:
        info = super().info()
        if self._manifest is not None:
            m = self._manifest
            info["artifact"] = {"path": self._path, "tensors_sha256": m.tensors_sha256, "data": m.data,
                                "data_hash": m.data_hash, "layers": m.layers,
                                "added_norms": {str(k): float(v.norm()) for k, v in self._vectors.items()},
                                **{k: m.extra.get(k) for k in ("selection", "norms", "filter_train", "notes")}}
        return info
