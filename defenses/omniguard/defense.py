"""The `omniguard` registry entry: a harmfulness probe on mean-pooled hidden states; rows it flags get a fixed
refusal instead of a generation (docs/reference.md, ReGap §14.9).

Layer convention: layer L is the output of decoder module layers[L], in training and at inference alike (the
reference trained on `hidden_states[L]` but hooked `layers[L]`, one layer apart: defect D12). Cost: one extra
prefill per batch that stops after layer L; flagged rows are then not generated at all.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from defenses.base import Defense, DefenseContext
from defenses.omniguard.probe import ARCHITECTURES, THRESHOLD_RULES, Probe, calibrate_threshold, fit_probe
from defenses.toolkit.artifacts import Manifest, artifact_dir, data_hash, load_artifact, model_identity, save_artifact
from defenses.toolkit.calibration_data import load_split
from defenses.toolkit.collect import collect, read_batch
from defenses.toolkit.crs import auroc

if TYPE_CHECKING:
    import torch

    from harness.backends.base import GenerationOutput, ModelBackend
    from harness.records import GenerationConfig, Sample

KIND = "omniguard"
REPLY = "I cannot assist with that."


@dataclass
class OmniGuardParams:
    """Parameters of `omniguard`.

    data:        calibration task selector (harmful and benign items, any modalities) to train the probe.
    validation:  task selector for layer choice and threshold; default: 20 % of `data` held out by source_id.
    layer:       probe layer (output of layers[L]); None: the candidate layer with the best validation AUROC.
    candidate_layers: layers tried when `layer` is None (default: all).
    probe:       `mlp` (d-512-256-1, the reference) or `linear`.
    epochs, lr, batch_size: probe training (reference: 20, 1e-3, 8).
    threshold:   flag when P(harmful) >= threshold; None: calibrated on validation with `threshold_rule`.
    threshold_rule: `youden` (max TPR - FPR), `benign_budget` (flag at most `benign_budget` of benign
                 validation items) or `fixed` (0.5, the reference).
    reply:       the fixed answer for flagged rows.
    n_per_group: at most N calibration samples per task x configuration x label.
    seed:        probe seed (default: the run's seed).
    """

    data: str | None = None
    validation: str | None = None
    layer: int | None = None
    candidate_layers: list[int] | None = None
    probe: str = "mlp"
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 8
    threshold: float | None = None
    threshold_rule: str = "youden"
    benign_budget: float = 0.05
    reply: str = REPLY
    n_per_group: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.probe not in ARCHITECTURES:
            raise ValueError(f"omniguard: probe must be one of {ARCHITECTURES}, got {self.probe!r}")
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ValueError(f"omniguard: threshold_rule must be one of {THRESHOLD_RULES}, got {self.threshold_rule!r}")

    def calibration_key(self) -> dict[str, Any]:
        """What the artifact depends on (not `threshold` or `reply`, which apply at inference)."""
        skip = {"threshold", "reply"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


class OmniGuard(Defense):
    name = "omniguard"
    description = ("OmniGuard-style classifier: a probe on mean-pooled hidden states answers "
                   f"{REPLY!r} above a validation-calibrated threshold")
    Params = OmniGuardParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._probe: Probe | None = None
        self._layer: int = 0
        self._threshold: float = 0.5
        self._manifest: Manifest | None = None
        self._path = ""

    def setup(self, backend: ModelBackend, context: DefenseContext) -> None:
        p: OmniGuardParams = self.params
        seed = context.seed if p.seed is None else p.seed
        identity = model_identity(backend, context.model_name or backend.model_name)
        split = load_split(context, p.data, p.validation, what=KIND, n_per_group=p.n_per_group, seed=seed)
        dh = data_hash(split.train + split.validation)
        directory = artifact_dir(context.cache_dir, KIND, identity, dh, {**p.calibration_key(), "seed": seed})
        if not directory.exists():
            self._calibrate(backend, context, split, seed, directory, identity, dh)
        manifest, tensors = load_artifact(directory, model=identity, data_hash_=dh, kind=KIND, data=split.description)
        self._probe = Probe.from_state(p.probe, tensors)
        self._layer = int(manifest.layers[0])
        self._threshold = float(p.threshold if p.threshold is not None else manifest.extra["threshold"])
        self._manifest, self._path = manifest, str(directory)

    def _calibrate(self, backend, context, split, seed, directory, identity, dh) -> None:
        p: OmniGuardParams = self.params
        candidates = [p.layer] if p.layer is not None else sorted(p.candidate_layers or range(backend.num_layers))
        for layer in candidates:
            if not 0 <= layer < backend.num_layers:
                raise ValueError(f"{KIND}: layer {layer} is outside 0..{backend.num_layers - 1}")
        train = collect(backend, split.train, candidates, position="mean", progress=context.show_progress,
                        desc=f"{KIND} features")
        val = collect(backend, split.validation, candidates, position="mean", progress=context.show_progress,
                      desc=f"{KIND} validation")
        y_train, y_val = _harmful(split.train), _harmful(split.validation)
        table: dict[str, float] = {}
        best: tuple[float, int, Probe] | None = None
        for layer in candidates:
            probe = fit_probe(p.probe, train.states[layer], y_train, epochs=p.epochs, lr=p.lr,
                              batch_size=p.batch_size, seed=seed)
            s = probe.scores(val.states[layer])
            score = auroc(s[y_val], s[~y_val])
            table[str(layer)] = score
            if best is None or score > best[0]:
                best = (score, layer, probe)
        assert best is not None
        score, layer, probe = best
        val_scores = probe.scores(val.states[layer])
        threshold = calibrate_threshold(val_scores, y_val, p.threshold_rule, budget=p.benign_budget)
        flagged = val_scores >= threshold
        extra = {
            "threshold": threshold, "threshold_rule": p.threshold_rule, "validation_auroc": table,
            "layer_rule": "given" if p.layer is not None else "highest validation AUROC among candidate layers",
            "validation_tpr": float(flagged[y_val].float().mean()), "validation_fpr": float(flagged[~y_val].float().mean()),
            "n_train": len(split.train), "n_validation": len(split.validation),
        }
        manifest = Manifest(kind=KIND, model=identity.__dict__, layers=[layer], data_hash=dh, data=split.description,
                            params={**p.calibration_key(), "seed": seed}, extra=extra)
        save_artifact(directory, manifest, probe.state())

    # -- inference -----------------------------------------------------------------------------------------
    def generate(self, backend: ModelBackend, samples: list[Sample], config: GenerationConfig) -> list[GenerationOutput]:
        from harness.backends.base import GenerationOutput

        if self._probe is None:
            raise RuntimeError(f"{KIND}: setup() has not run")
        rows = [self.rewrite(s) for s in samples]
        batch = backend.prepare(rows)
        scores = self._probe.scores(read_batch(backend, batch, [self._layer], position="mean")[self._layer])
        flagged = (scores >= self._threshold).tolist()
        keep = [i for i, f in enumerate(flagged) if not f]
        outputs: list[GenerationOutput | None] = [None] * len(rows)
        if keep:
            sub = batch if len(keep) == len(rows) else backend.prepare([rows[i] for i in keep])
            for i, out in zip(keep, backend.generate(sub, config), strict=True):
                outputs[i] = out
        n_prompt = batch.inputs["attention_mask"].sum(dim=1).tolist()
        for i, flag in enumerate(flagged):
            if flag:
                outputs[i] = GenerationOutput(text=self.params.reply, n_prompt_tokens=int(n_prompt[i]), n_new_tokens=0)
            outputs[i].info.update({"omniguard_score": round(float(scores[i]), 6), "omniguard_flagged": bool(flag)})
        return outputs  # type: ignore[return-value]

    def info(self) -> dict[str, Any]:
        info = super().info()
        if self._manifest is not None:
            m = self._manifest
            info["artifact"] = {"path": self._path, "tensors_sha256": m.tensors_sha256, "data": m.data,
                                "data_hash": m.data_hash, "layer": self._layer, "threshold": self._threshold,
                                **{k: m.extra.get(k) for k in ("threshold_rule", "validation_auroc", "layer_rule",
                                                               "validation_tpr", "validation_fpr")}}
        return info


def _harmful(samples: list[Sample]) -> torch.Tensor:
    import torch

    return torch.tensor([s.label == "harmful" for s in samples], dtype=torch.bool)
