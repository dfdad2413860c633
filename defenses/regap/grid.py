"""Grid search of ReGap §10 (docs/reference.md) on the VALIDATION split (it stands in for the paper's missing
per-model tables; reconstructed). Never run it on test data: the chosen point is fitted to the data it sees.

Grid: L_int in {all, band:25%-50%, a single layer at 35 % depth} (L_diag: the `auto` rule for each), lambda_probe
in {0.5, 1.0}, lambda_weak in {0, 0.25}, lambda_strong in {1.0, 1.5, 2.0}, tau rule in {youden, midpoint,
benign_budget}; two-level decision.

Cost is kept to one generation pass per (L_int, lambda) instead of one per grid point: every validation media
sample is answered once with each fixed lambda in {0, 0.25, 1.0, 1.5, 2.0} (lambda 0 shared by all L_int) and
judged by the keyword judge; z is measured once per (L_int, lambda_probe); a grid point's outcome on a sample is
then the judged answer for the lambda that point gives the sample (two-level decisions pick one of those
lambdas, and the final generation does not depend on the probe otherwise).

Selection: the highest harmful refusal rate among points whose benign acceptance stays within `search_bar_drop`
of lambda = 0 (ReGap §9.1 step 4); ties go to higher benign acceptance, then to the smaller mean lambda, then to
points where lambda_probe == lambda_strong (cache reuse). The table of every point and the choice are written
into the policy artifact's manifest.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from defenses.regap.runtime import model_device, note
from defenses.regap.geometry import Geometry
from defenses.regap.params import ReGapParams, Settings
from defenses.regap.policy import (Policy, load_policy, media_samples, policy_dir, save_policy, score_samples,
                                   thresholds_from_scores)
from defenses.regap.probe import EXTRAS_KEY, Prober
from defenses.toolkit.artifacts import ModelIdentity
from harness.records import GenerationConfig, Sample

if TYPE_CHECKING:
    import torch

    from collections.abc import Callable, Sequence

    from harness.backends.base import ModelBackend

    RefusalTest = Callable[[Sequence[Sample], Sequence[str]], list[bool]]

INTERVENTION_LAYERS: tuple[str, ...] = ("all", "band:25%-50%", "35%")
LAMBDA_PROBE: tuple[float, ...] = (0.5, 1.0)
LAMBDA_WEAK: tuple[float, ...] = (0.0, 0.25)
LAMBDA_STRONG: tuple[float, ...] = (1.0, 1.5, 2.0)
RULES: tuple[str, ...] = ("youden", "midpoint", "benign_budget")


@dataclass(frozen=True)
class Point:
    intervention_layers: str
    lambda_probe: float
    lambda_weak: float
    lambda_strong: float
    threshold: str


def grid_definition() -> dict[str, Any]:
    return {"intervention_layers": list(INTERVENTION_LAYERS), "lambda_probe": list(LAMBDA_PROBE),
            "lambda_weak": list(LAMBDA_WEAK), "lambda_strong": list(LAMBDA_STRONG), "threshold": list(RULES)}


def refusals(backend: ModelBackend, prober: Prober, samples: list[Sample], lam: float, config: GenerationConfig,
             batch_size: int, is_refusal: RefusalTest) -> torch.Tensor:
    """1.0 where `is_refusal` (the keyword judge's test) finds a refusal in the answer generated with fixed `lam`
    on every row."""
    import torch

    flags: list[bool] = []
    with backend.layer_hooks(prober.hooks()):
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            batch = backend.prepare(chunk)
            plan = prober.plan(chunk, lambda modality: None)
            plan.set_coef(prober.coefficients(plan, lam))
            batch.extras[EXTRAS_KEY] = plan
            outputs = backend.generate(batch, config)
            flags += is_refusal(chunk, [o.text for o in outputs])
    return torch.tensor(flags, dtype=torch.float32)


def _settings(base: Settings, layers: str, num_layers: int, params: ReGapParams, **lams: float) -> Settings:
    resolved = Settings.resolve(params.with_changes(intervention_layers=layers, diagnostic_layers="auto"), num_layers)
    return dataclasses.replace(base, intervention_layers=resolved.intervention_layers,
                               diagnostic_layers=resolved.diagnostic_layers, **lams)


def search_grid(backend: ModelBackend, geometry: Geometry, params: ReGapParams, base: Settings,
                validation: list[Sample], *, identity: ModelIdentity, cache_dir: Path,
                data: str, is_refusal: RefusalTest | None = None) -> tuple[Settings, Policy]:
    """Run (or load) the grid search; returns the chosen settings and its tau policy. `is_refusal` (the defense
    context's `refusals`) is needed only when the search runs, not when its result is loaded."""
    import torch

    if params.decision != "two_level":
        raise ValueError("search=grid evaluates two-level decisions only; use decision=two_level")
    key = {"grid": grid_definition(), "base": base.to_dict(), "geometry": geometry.manifest.tensors_sha256
           if geometry.manifest else None, "tau_scope": params.tau_scope, "min_tau_samples": params.min_tau_samples,
           "benign_budget": params.benign_budget, "search_max_new_tokens": params.search_max_new_tokens,
           "search_bar_drop": params.search_bar_drop, "judge": "keyword"}
    directory = policy_dir(cache_dir, identity, validation, key)
    samples = media_samples(validation)
    if (directory / "manifest.json").exists():
        policy = load_policy(directory, model=identity, samples=validation, data=data)
        chosen = Point(**policy.grid["chosen"]["point"])
        note(f"grid point loaded from {directory}")
        return _chosen_settings(base, chosen, backend.num_layers, params), policy

    if is_refusal is None:
        raise ValueError("ReGap's grid search counts refusals, but this defense context gives no refusal test "
                         "(DefenseContext.refusals)")
    harmful = torch.tensor([s.label == "harmful" for s in samples])
    if not bool(harmful.any()) or bool(harmful.all()):
        raise ValueError("the grid search needs harmful and benign media samples in the validation set")
    config = GenerationConfig(max_new_tokens=params.search_max_new_tokens)
    device = model_device(backend)
    lambdas = sorted({0.0, *LAMBDA_WEAK, *LAMBDA_STRONG})
    note(f"grid search on {len(samples)} validation media samples of {data!r}: "
         f"{1 + (len(lambdas) - 1) * len(INTERVENTION_LAYERS)} generation passes")
    outcome: dict[tuple[str, float], torch.Tensor] = {}
    zero = None
    for layers in INTERVENTION_LAYERS:
        prober = Prober(geometry, _settings(base, layers, backend.num_layers, params), device)
        for lam in lambdas:
            if lam == 0.0 and zero is not None:
                outcome[(layers, lam)] = zero
                continue
            outcome[(layers, lam)] = refusals(backend, prober, samples, lam, config, params.batch_size,
                                               is_refusal)
            if lam == 0.0:
                zero = outcome[(layers, lam)]
    assert zero is not None
    bar0 = float(1.0 - zero[~harmful].mean())

    rows: list[dict[str, Any]] = []
    policies: dict[Point, Policy] = {}
    for layers, lam_probe in itertools.product(INTERVENTION_LAYERS, LAMBDA_PROBE):
        settings = _settings(base, layers, backend.num_layers, params, lambda_probe=lam_probe)
        z = score_samples(backend, Prober(geometry, settings, device), samples, params.batch_size)
        for rule, weak, strong in itertools.product(RULES, LAMBDA_WEAK, LAMBDA_STRONG):
            policy = thresholds_from_scores(samples, z, params.with_changes(threshold=rule))
            tau = torch.tensor([policy.tau_of(s.modality) for s in samples])
            strong_rows = z >= tau
            refused = torch.where(strong_rows, outcome[(layers, strong)], outcome[(layers, weak)])
            point = Point(layers, lam_probe, weak, strong, rule)
            policies[point] = policy
            mean_lambda = float(torch.where(strong_rows, torch.tensor(strong), torch.tensor(weak)).mean())
            rows.append({"point": dataclasses.asdict(point), "harmful_refusal": float(refused[harmful].mean()),
                         "benign_acceptance": float(1.0 - refused[~harmful].mean()), "mean_lambda": mean_lambda,
                         "strong_share": float(strong_rows.float().mean())})
    fixed = [{"intervention_layers": layers, "lambda": lam,
              "harmful_refusal": float(outcome[(layers, lam)][harmful].mean()),
              "benign_acceptance": float(1.0 - outcome[(layers, lam)][~harmful].mean())}
             for layers in INTERVENTION_LAYERS for lam in lambdas]
    best = choose(rows, bar0 - params.search_bar_drop)
    chosen = Point(**best["point"])
    policy = policies[chosen]
    policy.grid = {"chosen": best, "baseline_benign_acceptance": bar0,
                   "baseline_harmful_refusal": float(zero[harmful].mean()),
                   "min_benign_acceptance": bar0 - params.search_bar_drop, "table": rows, "fixed": fixed,
                   "definition": grid_definition(), "n_harmful": int(harmful.sum()),
                   "n_benign": int((~harmful).sum()), "max_new_tokens": params.search_max_new_tokens,
                   "judge": "keyword (default preset)"}
    settings = _chosen_settings(base, chosen, backend.num_layers, params)
    save_policy(policy, directory, model=identity, samples=validation, data=data, key=key,
                layers=list(settings.diagnostic_layers))
    note(f"grid point {dataclasses.asdict(chosen)}: harmful refusal {best['harmful_refusal']:.3f}, benign acceptance "
         f"{best['benign_acceptance']:.3f} (lambda 0: {bar0:.3f}); written to {directory}")
    return settings, policy


def choose(rows: list[dict[str, Any]], min_bar: float) -> dict[str, Any]:
    """The selection rule of the module docstring (rows within the budget first; if none is, the best BAR)."""
    eligible = [r for r in rows if r["benign_acceptance"] >= min_bar - 1e-9]
    if not eligible:
        return max(rows, key=lambda r: (r["benign_acceptance"], r["harmful_refusal"], -r["mean_lambda"]))

    def rank(r: dict[str, Any]) -> tuple[float, float, float, bool]:
        p = r["point"]
        return (r["harmful_refusal"], r["benign_acceptance"], -r["mean_lambda"],
                p["lambda_probe"] == p["lambda_strong"])

    return max(eligible, key=rank)


def _chosen_settings(base: Settings, point: Point, num_layers: int, params: ReGapParams) -> Settings:
    return _settings(base, point.intervention_layers, num_layers, params, lambda_probe=point.lambda_probe,
                     lambda_weak=point.lambda_weak, lambda_strong=point.lambda_strong)
