"""ReGap's online machinery: per-row plans, the correction hooks, and the self-rectification probe with early
exit and KV-cache reuse (docs/reference.md, ReGap §7-9).

One set of hooks serves every pass; what they do depends on the `RowPlan` in `batch.extras["regap"]`:

- correction hook (each intervention layer): h <- h - coef[b] * v_L[b] at the configured positions of row b,
  prefill only (or also decode steps with phase `prefill_decode`); rows with coef 0 and all other positions are
  left bit-identical;
- read-out hook (each diagnostic layer, after the correction on that layer): keeps the last-token state [B, d]
  on the model device. At the deepest diagnostic layer the scores are computed on the device and
      `measure`  : z is stored and the pass stops there (early exit);
      `baseline` : the uncorrected score is stored for score kind `delta` (early exit);
      `probe`    : z -> lambda per row. If every row's final coefficient equals the one the probe applied, the
                   pass simply continues: it *is* the final prefill and its KV cache is reused for decoding.
                   Otherwise it stops there (early exit) and the caller runs one fresh prefill with the final
                   per-row coefficients.
A row's coefficient never depends on other rows, so batched output equals one-at-a-time output, also in batches
that mix strong and weak lambda (and text-only rows, which always get 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from defenses.regap.decision import choose_lambda
from defenses.regap.geometry import Geometry
from defenses.regap.params import Settings
from defenses.regap.positions import pass_shape, position_mask, shift_rows
from defenses.toolkit.anchors import ZScorer
from harness.backends.base import ForwardState, LayerHook, ModelBackend, PrefillOutput, PreparedBatch
from harness.backends.resume import Checkpoint
from harness.records import Sample

if TYPE_CHECKING:
    import torch

EXTRAS_KEY = "regap"


class StopPass(Exception):
    """Raised by the deepest read-out hook to skip the remaining layers of a probe pass."""


@dataclass
class RowPlan:
    """Per-batch state read by the hooks. Tensors live on the model device."""

    modalities: list[str]
    drift_keys: list[str | None]  # None: text-only row, never corrected
    drift_choice: list[str]  # exact | same-media | pooled | pooled-fallback | text
    active: torch.Tensor  # [B] bool
    vectors: dict[int, torch.Tensor]  # intervention layer -> [B, d] float32 (zero rows for inactive rows)
    tau: torch.Tensor  # [B] float32 per-row threshold (NaN where none applies)
    coef: torch.Tensor  # [B] float32: the strength applied by the correction hooks in the current pass
    mode: str = "final"  # measure | baseline | probe | final
    states: dict[int, torch.Tensor] = field(default_factory=dict)  # read-outs of the current pass
    baseline: torch.Tensor | None = None  # [B] uncorrected z (score kind `delta`)
    z: torch.Tensor | None = None  # [B]
    final: torch.Tensor | None = None  # [B] chosen coefficient
    reused: bool = False
    probe_s: float = 0.0
    prefills: int = 0  # full prefill passes run for the final generation (0 when the probe's was reused or resumed)
    resumed_from: int | None = None  # the layer the final prefill resumed from (the probe's checkpoint), if any
    any_nonzero: bool = False

    def set_coef(self, coef: torch.Tensor) -> None:
        self.coef = coef
        self.any_nonzero = bool((coef != 0).any())  # one sync per pass; lets every hook skip cheaply


class Prober:
    """Geometry + settings + scorer for one loaded model: builds plans and hooks and runs probe passes."""

    def __init__(self, geometry: Geometry, settings: Settings, device: Any) -> None:
        import torch

        self.geometry = geometry
        self.settings = settings
        self.device = device
        self.scorer = ZScorer.build(geometry.directions, settings.diagnostic_layers, device)
        self._tables: dict[str, torch.Tensor] = {}  # drift key -> [n_int_layers, d] on the device
        self._zero = torch.zeros(geometry.directions[0].raw.shape[0], device=device)

    # -- plans ----------------------------------------------------------------------------------------------
    def _table(self, key: str) -> torch.Tensor:
        import torch

        if key not in self._tables:
            s = self.settings
            self._tables[key] = torch.stack([self.geometry.vector(key, layer, s.variant, s.units, s.drift_reading)
                                             for layer in s.intervention_layers]).to(self.device)
        return self._tables[key]

    def plan(self, samples: Sequence[Sample], tau_of: Callable[[str], float | None]) -> RowPlan:
        import torch

        keys, choice, rows, taus = [], [], [], []
        for s in samples:
            key, how = self.geometry.drift_key(s.modality, self.settings.drift_scope, self.settings.drift_reading)
            keys.append(key)
            choice.append(how)
            rows.append(self._table(key) if key is not None else None)
            tau = tau_of(s.modality) if key is not None else None
            taus.append(float("nan") if tau is None else tau)
        n_int = len(self.settings.intervention_layers)
        zero = self._zero.expand(n_int, -1)
        stacked = torch.stack([r if r is not None else zero for r in rows])  # [B, n_int, d]
        vectors = {layer: stacked[:, i, :].contiguous() for i, layer in enumerate(self.settings.intervention_layers)}
        active = torch.tensor([k is not None for k in keys], device=self.device)
        plan = RowPlan(
            modalities=[s.modality for s in samples], drift_keys=keys, drift_choice=choice, active=active,
            vectors=vectors, tau=torch.tensor(taus, dtype=torch.float32, device=self.device),
            coef=torch.zeros(len(samples), device=self.device),
        )
        return plan

    def coefficients(self, plan: RowPlan, lam: torch.Tensor | float) -> torch.Tensor:
        """strength * lambda on active rows, exactly 0 on the others."""
        import torch

        lam_t = torch.as_tensor(lam, dtype=torch.float32, device=self.device).expand(plan.active.shape[0])
        return torch.where(plan.active, lam_t * self.settings.strength, torch.zeros_like(lam_t))

    def decide(self, plan: RowPlan, z: torch.Tensor) -> torch.Tensor:
        s = self.settings
        lam = choose_lambda(z, plan.tau, decision=s.decision, weak=s.lambda_weak, strong=s.lambda_strong, ramp=s.ramp)
        return self.coefficients(plan, lam)

    # -- hooks ----------------------------------------------------------------------------------------------
    def hooks(self) -> dict[int, list[LayerHook]]:
        """Correction hooks on intervention layers, then read-outs on diagnostic layers (same-layer order)."""
        out: dict[int, list[LayerHook]] = {}
        for layer in self.settings.intervention_layers:
            out.setdefault(layer, []).append(self._correction(layer))
        for layer in self.settings.diagnostic_layers:
            out.setdefault(layer, []).append(self._readout(layer))
        return out

    def touched(self, state: ForwardState, layer: int) -> torch.Tensor:
        """[B, T] bool: the positions the hooks on `layer` change in the pass `state` describes (on the device of
        the plan's tensors). The correction hook applies exactly this mask."""
        import torch

        plan: RowPlan | None = state.extras.get(EXTRAS_KEY)
        if plan is None or layer not in self.settings.intervention_layers or not plan.any_nonzero or (
                state.phase == "decode" and self.settings.phase == "prefill"):
            return torch.zeros(pass_shape(state), dtype=torch.bool, device=self.device)
        mask = position_mask(state, self.settings.positions, plan.coef.device)
        if mask is None:
            return torch.zeros(pass_shape(state), dtype=torch.bool, device=self.device)
        return mask & (plan.coef != 0).unsqueeze(1)

    def _correction(self, layer: int) -> LayerHook:
        prefill_only = self.settings.phase == "prefill"

        def hook(hidden: torch.Tensor, state: ForwardState) -> torch.Tensor | None:
            plan: RowPlan | None = state.extras.get(EXTRAS_KEY)
            if plan is None or not plan.any_nonzero or (state.phase == "decode" and prefill_only):
                return None  # the common decode-step case returns before any tensor work or device sync
            mask = self.touched(state, layer).to(hidden.device)
            if not bool(mask.any()):
                return None
            # .to() is a no-op on one device; with layers spread over devices it follows this layer's device.
            return shift_rows(hidden, -plan.coef.to(hidden.device), plan.vectors[layer].to(hidden.device), mask)

        return hook

    def _readout(self, layer: int) -> LayerHook:
        deepest = self.settings.deepest_diagnostic

        def hook(hidden: torch.Tensor, state: ForwardState) -> None:
            plan: RowPlan | None = state.extras.get(EXTRAS_KEY)
            if plan is None or state.phase != "prefill" or plan.mode == "final":
                return None
            # Left padding: the last prompt token. Only [B, d] rows move, and only between devices, never to the CPU.
            plan.states[layer] = hidden[:, -1, :].detach().to(self.device)
            if layer == deepest:
                self._at_deepest(plan)
            return None

        return hook

    def _at_deepest(self, plan: RowPlan) -> None:
        z = self.scorer(plan.states)
        plan.states.clear()
        if plan.mode == "baseline":
            plan.baseline = z
            raise StopPass
        if plan.baseline is not None:
            z = z - plan.baseline
        plan.z = z
        if plan.mode == "measure":
            raise StopPass
        import torch

        plan.final = self.decide(plan, z)
        if torch.equal(plan.final, plan.coef):
            plan.reused = True
            plan.mode = "final"  # the rest of this pass is the final prefill
            return
        raise StopPass  # early exit: the final prefill needs other coefficients

    # -- passes ---------------------------------------------------------------------------------------------
    def _partial_pass(self, backend: ModelBackend, batch: PreparedBatch, plan: RowPlan, mode: str) -> None:
        plan.mode = mode
        try:
            backend.prefill(batch, ())
        except StopPass:
            pass
        else:
            raise RuntimeError("the probe pass ran to the end without reaching its deepest diagnostic layer")

    def measure(self, backend: ModelBackend, batch: PreparedBatch, plan: RowPlan) -> torch.Tensor:
        """z for every row (probe correction applied, early exit), leaving the plan's coefficients at the probe's.
        Must run inside `backend.layer_hooks(self.hooks())` with the plan in `batch.extras`."""
        if self.settings.score == "delta":
            plan.set_coef(self.coefficients(plan, 0.0))
            self._partial_pass(backend, batch, plan, "baseline")
        plan.set_coef(self.coefficients(plan, self.settings.lambda_probe))
        self._partial_pass(backend, batch, plan, "measure")
        assert plan.z is not None
        return plan.z

    def probe(self, backend: ModelBackend, batch: PreparedBatch, plan: RowPlan) -> PrefillOutput | None:
        """The online probe: decides every row's coefficient and returns the probe's prefill (with its KV cache)
        when it can be reused as the final one, else None. Afterwards `plan.coef` holds the final coefficients."""
        t0 = time.perf_counter()
        if self.settings.score == "delta":
            plan.set_coef(self.coefficients(plan, 0.0))
            self._partial_pass(backend, batch, plan, "baseline")
        plan.set_coef(self.coefficients(plan, self.settings.lambda_probe))
        plan.mode = "probe"
        # Everything below the first intervention layer is the same in the probe and the final prefill: keep it,
        # so the final prefill (when the coefficients change) recomputes only from that layer on.
        resumable = self.settings.resume_prefill and backend.supports_resume
        checkpoint = Checkpoint(min(self.settings.intervention_layers)) if resumable else None
        extra = {"checkpoint": checkpoint} if checkpoint is not None else {}
        prefill: PrefillOutput | None
        try:
            prefill = backend.prefill(batch, (), keep_cache=True, **extra)
        except StopPass:
            prefill = None
        plan.mode = "final"
        plan.probe_s = time.perf_counter() - t0
        if prefill is None or not plan.reused:
            assert plan.final is not None
            plan.set_coef(plan.final)
            prefill = None
            if checkpoint is not None and checkpoint.ready:
                prefill = backend.prefill(batch, (), keep_cache=True, resume=checkpoint)
                plan.resumed_from = checkpoint.layer
            else:
                plan.prefills = 1
        return prefill
