"""ReGap's configuration surface (docs/reference.md, ReGap §10). Every reconstructed choice is an option;
defaults follow the spec's table. `Settings` is the resolved form for one model depth.

Parameters are validated when the defense is built (`harness run` builds it before loading any model), so a
typo in a choice fails with the closest valid values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from defenses.toolkit.layers import LayerSpec, nearest_deeper
from defenses.toolkit.splits import parse_part
from harness.registry import UnknownNameError

CHOICES: dict[str, tuple[str, ...]] = {
    "estimator": ("paired", "unpaired"),
    "classes": ("both", "benign_only"),
    "drift_scope": ("per_modality", "pooled"),
    "variant": ("full", "orth", "par"),
    "units": ("relative", "unit"),
    "positions": ("all_prompt", "media", "last"),
    "drift_reading": ("last", "media_tokens"),
    "phase": ("prefill", "prefill_decode"),
    "score": ("corrected", "delta"),
    "decision": ("two_level", "continuous"),
    "threshold": ("youden", "midpoint", "benign_budget"),
    "tau_scope": ("per_modality", "pooled"),
    "search": ("none", "grid"),
}
# Where the default diagnostic layer sits (ReGap §10: 1-3 layers at 50-75 % depth, "middle of that range").
DIAGNOSTIC_DEPTH = 0.625


@dataclass
class ReGapParams:
    """ReGap parameters; see docs/regap.md for what each one does and where it comes from."""

    # -- data ------------------------------------------------------------------------------------------------
    calibration: str = "organism-calibration"  # task selector: text + media versions of harmful / benign items
    calibration_part: str = ""  # "" = all; "0-40%" = that part of the sources (defenses/toolkit/splits.py)
    validation: str = "organism-validation"  # task selector for tau (and the grid search)
    validation_part: str = ""
    allow_overlap: bool = False  # calibration sharing sources with the evaluated samples: error unless true
    artifact: str = ""  # explicit geometry artifact directory (else the cache); checked against model and data
    # -- geometry (sections 3-5) -------------------------------------------------------------------------------
    estimator: str = "paired"
    classes: str = "both"
    drift_scope: str = "per_modality"
    variant: str = "orth"
    units: str = "relative"
    # [ours] where the drift is read: `last` (the last prompt token of each decoder layer, the paper's read-out) or
    # `media_tokens` (per-token: media-token mean minus typed-request mean, also at the input embeddings;
    # defenses/regap/tokens.py). `media_tokens` corrects media positions only and allows `embed` layers.
    drift_reading: str = "last"
    # -- intervention (section 7) ------------------------------------------------------------------------------
    intervention_layers: Any = "band:25%-50%"
    positions: str = "all_prompt"
    phase: str = "prefill"
    # -- self-rectification probe and decision (sections 8-9) --------------------------------------------------
    adaptive: bool = True  # false: the fixed-strength ablation (lambda_strong on every media input, no probe)
    diagnostic_layers: Any = "auto"  # auto: the layer nearest 62.5 % depth that is deeper than every L_int
    score: str = "corrected"
    decision: str = "two_level"
    lambda_probe: float = 1.0
    lambda_weak: float = 0.0
    lambda_strong: float = 1.0
    ramp: float = 0.5  # continuous decision: z-width over which lambda climbs from weak to strong, centred on tau
    threshold: str = "youden"
    benign_budget: float = 0.05  # benign flag-rate cap of the benign_budget rule
    tau_scope: str = "per_modality"
    min_tau_samples: int = 5  # per class, for a per-modality tau; fewer: the pooled tau
    # -- grid search on the validation split (section 10) ------------------------------------------------------
    search: str = "none"
    search_max_new_tokens: int = 32
    search_bar_drop: float = 0.02  # benign acceptance may fall at most this much below lambda = 0 (ReGap §9.1)
    # -- global ------------------------------------------------------------------------------------------------
    strength: float = 1.0  # multiplies every lambda; 0 gives exactly the undefended model
    # When the probe's coefficients change, the final prefill recomputes only from the first intervention layer,
    # reusing the probe's media encodings, layers and KV cache below it (false: a second full prefill, as before).
    resume_prefill: bool = True
    batch_size: int = 8  # forward batch size of calibration passes

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise UnknownNameError(f"ReGap {name} value", str(value), list(allowed))
        for name in ("allow_overlap", "adaptive", "resume_prefill"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"ReGap parameter {name} must be true or false, got {getattr(self, name)!r}")
        for name in ("lambda_probe", "lambda_weak", "lambda_strong", "strength", "ramp", "benign_budget",
                     "search_bar_drop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"ReGap parameter {name} must be a finite number, got {value!r}")
            setattr(self, name, float(value))
        if self.ramp <= 0:
            raise ValueError("ReGap parameter ramp must be > 0")
        if not 0.0 <= self.benign_budget < 1.0 or not 0.0 <= self.search_bar_drop < 1.0:
            raise ValueError("benign_budget and search_bar_drop are fractions in [0, 1)")
        for name in ("min_tau_samples", "search_max_new_tokens", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ReGap parameter {name} must be a positive integer, got {value!r}")
        for name in ("calibration", "validation"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"ReGap parameter {name} must name a task selector")
        parse_part(self.calibration_part)
        parse_part(self.validation_part)
        spec = LayerSpec.parse(self.intervention_layers)
        if self.diagnostic_layers != "auto":
            if "embed" in LayerSpec.parse(self.diagnostic_layers).points:
                raise ValueError("ReGap diagnostic_layers cannot include 'embed': z is read at decoder layers")
        if self.drift_reading == "media_tokens" and self.positions != "media":
            raise ValueError("ReGap drift_reading=media_tokens is a per-token drift of media tokens: it needs "
                             f"positions=media (got positions={self.positions})")
        if "embed" in spec.points and self.drift_reading != "media_tokens":
            raise ValueError("ReGap intervention_layers with 'embed' need drift_reading=media_tokens: at the input "
                             "embeddings the last prompt token is a template token, where no drift can be read")

    # What a calibration artifact depends on (the rest only changes inference).
    def geometry_key(self) -> dict[str, Any]:
        key = {"estimator": self.estimator, "classes": self.classes, "position": "last", "reference": "text"}
        if self.drift_reading != "last":  # only then, so existing artifacts keep their cache key
            key["drift_reading"] = self.drift_reading
        return key

    def with_changes(self, **changes: Any) -> ReGapParams:
        return replace(self, **changes)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class Settings:
    """What inference needs, resolved for one model depth (and possibly overridden by a grid-search point)."""

    intervention_layers: tuple[int, ...]
    diagnostic_layers: tuple[int, ...]
    variant: str
    units: str
    drift_scope: str
    drift_reading: str
    positions: str
    phase: str
    adaptive: bool
    score: str
    decision: str
    lambda_probe: float
    lambda_weak: float
    lambda_strong: float
    ramp: float
    strength: float
    resume_prefill: bool = True

    @classmethod
    def resolve(cls, params: ReGapParams, num_layers: int) -> Settings:
        int_layers = LayerSpec.parse(params.intervention_layers).resolve(num_layers)
        if params.diagnostic_layers == "auto":
            if max(int_layers) < num_layers - 1:
                diag = (nearest_deeper(num_layers, max(int_layers), DIAGNOSTIC_DEPTH),)
            else:  # L_int reaches the last layer (e.g. `all`): no deeper layer exists; read at 62.5 % depth
                diag = (min(int(DIAGNOSTIC_DEPTH * num_layers), num_layers - 1),)
        else:
            diag = LayerSpec.parse(params.diagnostic_layers).resolve(num_layers)
        return cls(
            intervention_layers=int_layers, diagnostic_layers=diag, variant=params.variant, units=params.units,
            drift_scope=params.drift_scope, drift_reading=params.drift_reading, positions=params.positions, phase=params.phase,
            adaptive=params.adaptive, score=params.score, decision=params.decision,
            lambda_probe=params.lambda_probe, lambda_weak=params.lambda_weak, lambda_strong=params.lambda_strong,
            ramp=params.ramp, strength=params.strength, resume_prefill=params.resume_prefill,
        )

    @property
    def deepest_diagnostic(self) -> int:
        return max(self.diagnostic_layers)

    @property
    def diagnostics_after_intervention(self) -> bool:
        """Spec section 10: every diagnostic layer deeper than every intervention layer, so a recovery read there
        is forward dynamics, not the correction itself."""
        return min(self.diagnostic_layers) > max(self.intervention_layers)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}
