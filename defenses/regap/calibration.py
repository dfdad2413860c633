"""ReGap's setup: load the calibration and validation data, check them against the evaluated samples, then load or
fit the geometry artifact and the tau policy (and, with search=grid, the grid point), caching both.

Cache layout (defenses/toolkit/artifacts.py): `<cache>/regap-geometry/<model>-<fingerprint>/<data>-<params>/`
and `<cache>/regap-policy/...`. A geometry given explicitly (`artifact=DIR`) is verified against this model and
this calibration set and refused, naming both, when it belongs to another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from defenses.base import DefenseContext
from defenses.regap.geometry import Geometry, fit_geometry, geometry_dir, geometry_key, load_geometry, save_geometry
from defenses.regap.params import ReGapParams, Settings
from defenses.regap.policy import Policy, fit_policy, load_policy, policy_dir, policy_key, save_policy
from defenses.regap.probe import Prober
from defenses.regap.runtime import model_device, note
from defenses.toolkit.artifacts import ModelIdentity, model_identity
from defenses.toolkit.splits import check_disjoint, take_part
from harness.backends.base import ModelBackend
from harness.records import Sample


@dataclass
class Calibrated:
    identity: ModelIdentity
    geometry: Geometry
    settings: Settings
    prober: Prober
    policy: Policy | None  # None for the fixed-strength (non-adaptive) variant
    calibration_samples: int
    validation_samples: int


def _describe(selector: str, part: str) -> str:
    return f"{selector} [{part}]" if part else selector


def load_split(context: DefenseContext, selector: str, part: str, seed: int) -> list[Sample]:
    if context.load_samples is None:
        raise ValueError("ReGap needs calibration data, but this context cannot load task samples")
    samples = take_part(context.load_samples(selector), part, seed)
    if not samples:
        raise ValueError(f"ReGap data {_describe(selector, part)!r} selected no samples")
    return samples


def calibrate(backend: ModelBackend, context: DefenseContext, params: ReGapParams) -> Calibrated:
    calib = load_split(context, params.calibration, params.calibration_part, context.seed)
    calib_name = _describe(params.calibration, params.calibration_part)
    valid: list[Sample] = []
    valid_name = _describe(params.validation, params.validation_part)
    if params.adaptive:
        valid = load_split(context, params.validation, params.validation_part, context.seed)
    for data, name in ((calib, calib_name), (valid, valid_name)):
        if data and context.evaluation_samples:
            check_disjoint(data, context.evaluation_samples, what=f"ReGap data {name!r}",
                           allow=params.allow_overlap, warn=note, override="allow_overlap=true")
    if valid:
        # Not a leak into test results, but tau fitted on the calibration data is optimistic: warn only.
        check_disjoint(valid, calib, what=f"ReGap validation data {valid_name!r}", allow=True, warn=note,
                       against=f"the calibration data ({calib_name})")

    identity = model_identity(backend, context.model_name or None)
    key = geometry_key(params, backend)
    directory = Path(params.artifact).expanduser() if params.artifact else \
        geometry_dir(context.cache_dir, identity, calib, key)
    if (directory / "manifest.json").exists():
        geometry = load_geometry(directory, model=identity, samples=calib, data=calib_name)
        note(f"geometry loaded from {directory}")
    elif params.artifact:
        raise FileNotFoundError(f"no ReGap geometry artifact at {directory} (manifest.json missing)")
    else:
        note(f"calibrating geometry on {len(calib)} samples of {calib_name!r}")
        geometry = fit_geometry(backend, calib, params, progress=context.show_progress)
        save_geometry(geometry, directory, model=identity, samples=calib, data=calib_name, key=key)
        note(f"geometry written to {directory}")
    for sig, why in geometry.skipped.items():
        note(f"WARNING: no drift for modality {sig!r}: {why}")

    settings = Settings.resolve(params, backend.num_layers)
    policy: Policy | None = None
    if params.adaptive:
        if params.search == "grid":
            from defenses.regap.grid import search_grid

            settings, policy = search_grid(backend, geometry, params, settings, valid, identity=identity,
                                           cache_dir=context.cache_dir, data=valid_name,
                                           is_refusal=context.refusals)
        else:
            prober = Prober(geometry, settings, model_device(backend))
            pkey = policy_key(params, prober, geometry)
            pdir = policy_dir(context.cache_dir, identity, valid, pkey)
            if (pdir / "manifest.json").exists():
                policy = load_policy(pdir, model=identity, samples=valid, data=valid_name)
                note(f"tau loaded from {pdir}")
            else:
                policy = fit_policy(backend, prober, valid, params)
                save_policy(policy, pdir, model=identity, samples=valid, data=valid_name, key=pkey,
                            layers=list(settings.diagnostic_layers))
                note(f"tau ({params.threshold}) fitted on {len(policy.rows)} media samples of {valid_name!r}: "
                     f"pooled tau = {policy.pooled.tau:.4f}; written to {pdir}")
    if not settings.diagnostics_after_intervention:
        note(f"diagnostic layers {list(settings.diagnostic_layers)} are not all deeper than the intervention "
             f"layers {list(settings.intervention_layers)}: the score partly reads the correction itself")
    prober = Prober(geometry, settings, model_device(backend))
    return Calibrated(identity, geometry, settings, prober, policy, len(calib), len(valid))
