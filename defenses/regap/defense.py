"""ReGap as a registered defense. Status "reconstructed": the paper's method section and code were not
available (docs/reference.md, ReGap §0); every reconstructed choice is a parameter (docs/regap.md).

Per batch (`generate`):
1. text-only rows are never corrected; a batch without media rows (or strength 0) is generated exactly as the
   undefended model does, without hooks;
2. adaptive (default): one probe prefill with lambda_probe on media rows reads z at the diagnostic layers and
   picks every row's lambda (two-level or continuous). If every row keeps the probe's coefficient, the probe's
   prefill and KV cache become the final ones (no second prefill); otherwise the probe stopped right after the
   deepest diagnostic layer and one prefill with the per-row lambdas follows;
3. fixed-strength ablation (`adaptive=false`): lambda_strong on every media row, no probe;
4. decoding continues under the same hooks (the correction acts on the prefill only unless phase is
   `prefill_decode`).

`before_generate` + `hooks` implement the same decisions in the contract's default flow (without cache reuse);
both paths give identical outputs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from defenses.base import Defense, DefenseContext
from defenses.regap.calibration import Calibrated, calibrate
from defenses.regap.params import ReGapParams
from defenses.regap.probe import EXTRAS_KEY, RowPlan
from defenses.steering import ContractConfig
from harness.backends.base import ForwardState, GenerationOutput, LayerHook, ModelBackend, PreparedBatch
from harness.records import GenerationConfig, Sample

if TYPE_CHECKING:
    import torch


# Parameters under which ReGap acts on the tiny random models within seconds: the `smoke` task split by source
# (text + image, so tiny-vl can run it too), read by the steering contract suite (defenses/contract.py).
CONTRACT_PARAMS = MappingProxyType({
    "calibration": "smoke:text,image", "calibration_part": "0-40%",
    "validation": "smoke:text,image", "validation_part": "40-70%",
})
CONTRACT_MODELS: tuple[str, ...] = ("tiny-omni", "tiny-vl")


class ReGap(Defense):
    name = "regap"
    description = ("ReGap [reconstructed]: adaptive modality-drift correction driven by a self-rectification "
                   "probe (default: orth drift, two-level lambda, Youden tau)")
    status = "reconstructed"
    Params = ReGapParams
    calibration_param = "calibration"
    # Steering-contract declarations: the parameter whose 0 gives the undefended model, and `touched_positions`.
    strength_param: ClassVar[str] = "strength"
    contract: ClassVar[ContractConfig] = ContractConfig(params=CONTRACT_PARAMS, models=CONTRACT_MODELS)
    # `generate` only adds KV-cache reuse of the probe to the default flow (`before_generate` + `hooks`).
    scores_with_default_flow: ClassVar[bool | None] = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._calibrated: Calibrated | None = None

    # -- setup ----------------------------------------------------------------------------------------------
    def setup(self, backend: ModelBackend, context: DefenseContext) -> None:
        self._calibrated = calibrate(backend, context, self.params)

    @property
    def calibrated(self) -> Calibrated:
        if self._calibrated is None:
            raise RuntimeError(f"defense {self.name!r} used before setup()")
        return self._calibrated

    # -- per batch ------------------------------------------------------------------------------------------
    def _attach_plan(self, batch: PreparedBatch) -> RowPlan:
        cal = self.calibrated
        policy = cal.policy
        plan = cal.prober.plan(batch.samples, policy.tau_of if policy is not None else (lambda modality: None))
        batch.extras[EXTRAS_KEY] = plan
        return plan

    def _corrects(self, plan: RowPlan) -> bool:
        return self.calibrated.settings.strength != 0 and bool(plan.active.any())

    def _fixed(self, plan: RowPlan) -> None:
        plan.set_coef(self.calibrated.prober.coefficients(plan, self.calibrated.settings.lambda_strong))
        plan.final = plan.coef
        plan.prefills = 1

    def generate(self, backend: ModelBackend, samples: Sequence[Sample],
                 config: GenerationConfig) -> list[GenerationOutput]:
        batch = backend.prepare([self.rewrite(s) for s in samples])
        plan = self._attach_plan(batch)
        if not self._corrects(plan):
            outputs = backend.generate(batch, config)  # exactly the undefended model: no hooks at all
            plan.prefills = 1
        else:
            prober = self.calibrated.prober
            with backend.layer_hooks(prober.hooks()):
                prefill = None
                if self.calibrated.settings.adaptive:
                    prefill = prober.probe(backend, batch, plan)  # reused as the final prefill when possible
                else:
                    self._fixed(plan)
                outputs = backend.generate(batch, config, prefill=prefill)
        for i, out in enumerate(outputs):
            out.info.update(self.row_info(batch, i))
        return outputs

    def before_generate(self, backend: ModelBackend, batch: PreparedBatch) -> None:
        """The contract's default flow: decide every row's lambda (probe with early exit, no cache reuse)."""
        plan = self._attach_plan(batch)
        plan.prefills = 1
        if not self._corrects(plan):
            return
        if not self.calibrated.settings.adaptive:
            self._fixed(plan)
            return
        prober = self.calibrated.prober
        t0 = time.perf_counter()
        with backend.layer_hooks(prober.hooks()):
            z = prober.measure(backend, batch, plan)
        plan.final = prober.decide(plan, z)
        plan.set_coef(plan.final)
        plan.mode = "final"
        plan.probe_s = time.perf_counter() - t0

    def hooks(self, backend: ModelBackend, batch: PreparedBatch) -> Mapping[int, LayerHook | Sequence[LayerHook]]:
        plan: RowPlan | None = batch.extras.get(EXTRAS_KEY)
        if plan is None or not self._corrects(plan):
            return {}
        return self.calibrated.prober.hooks()

    def touched_positions(self, state: ForwardState, layer: int) -> torch.Tensor:
        """[B, T] bool: the positions ReGap's hooks on `layer` change in the pass `state` describes (every pass:
        probe, final prefill, decode steps)."""
        return self.calibrated.prober.touched(state, layer)

    def row_info(self, batch: PreparedBatch, row: int) -> dict[str, Any]:
        plan: RowPlan | None = batch.extras.get(EXTRAS_KEY)
        if plan is None:
            return {}
        active = bool(plan.active[row])
        z = None if plan.z is None or not active else float(plan.z[row])
        tau = float(plan.tau[row]) if active and self.calibrated.settings.adaptive else None
        lam = float(plan.final[row]) if plan.final is not None else 0.0
        return {
            "signature": plan.modalities[row],
            "drift": plan.drift_keys[row],
            "drift_choice": plan.drift_choice[row],
            "z": z,
            "tau": tau if tau == tau else None,  # NaN -> None
            "lambda": lam,
            "cache_reused": plan.reused,
            "prefills": plan.prefills,
            "resumed_from": plan.resumed_from,
            "probe_s": plan.probe_s / max(batch.size, 1),
        }

    # -- provenance -----------------------------------------------------------------------------------------
    def artifacts(self) -> dict[str, str]:
        if self._calibrated is None:
            return {}
        out = {"geometry": str(self._calibrated.geometry.directory)}
        if self._calibrated.policy is not None and self._calibrated.policy.directory is not None:
            out["policy"] = str(self._calibrated.policy.directory)
        return out

    def info(self) -> dict[str, Any]:
        info = super().info()
        if self._calibrated is None:
            return info
        cal = self._calibrated
        info.update({
            "artifacts": self.artifacts(),
            "settings": cal.settings.to_dict(),
            "n_pairs": cal.geometry.n_pairs,
            "geometry_sha256": cal.geometry.manifest.tensors_sha256 if cal.geometry.manifest else None,
            "tau": cal.policy.summary() if cal.policy is not None else None,
            "grid": (cal.policy.grid or {}).get("chosen") if cal.policy is not None else None,
        })
        return info


@dataclass
class ReGapFullParams(ReGapParams):
    variant: str = "full"


class ReGapFull(ReGap):
    name = "regap-full"
    description = "ReGap [reconstructed] with the full drift (variant=full; may inject refusal along r_hat)"
    Params = ReGapFullParams


@dataclass
class ReGapFixedParams(ReGapParams):
    adaptive: bool = False


class ReGapFixed(ReGap):
    name = "regap-fixed"
    description = ("fixed-strength drift correction [reconstructed ablation of ReGap]: lambda_strong on every media "
                   "input, no probe, no tau")
    Params = ReGapFixedParams


@dataclass
class ReGapTokensParams(ReGapParams):
    drift_reading: str = "media_tokens"
    positions: str = "media"
    intervention_layers: Any = "embed"
    variant: str = "full"


class ReGapTokens(ReGap):
    """[ours] ReGap with a per-token drift corrected where it enters: the input embeddings, at the media tokens
    (defenses/regap/tokens.py). Adaptive as `regap` (probe, z, tau); the probe reads z after the correction."""

    name = "regap-tokens"
    description = ("ReGap [reconstructed] with our per-token extension: media-token drift estimated and subtracted "
                   "at the input embeddings (drift_reading=media_tokens, positions=media, layers=embed)")
    Params = ReGapTokensParams
