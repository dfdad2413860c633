"""`harness submit`: contract checks, the standard suite with the pinned judges, and a submission bundle.

    1. pre-flight: every run's spec is built and its samples load and decode, before any model loads;
    2. the defense contract checks (defenses/contract.py) on the standard's contract model;
    3. the suite's tasks with the defense, and with `none` (the baseline the overhead ratio needs), each task
       scored by its pinned judge; runs are ordinary run-store runs, so an interrupted submit resumes;
    4. a zip of the runs with a manifest of hashes, versions and the defense's source hash (leaderboard/bundle.py).

The contract checks are those of `harness check-defense` (`defenses.contract.check_defense`), run with the
defense's own contract parameters (`contract.params`, made for the tiny models) on the standard's contract model,
on the CPU in float32: the submitted parameters are for the submitted model and need not fit a tiny one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.provenance import git_revision, harness_version
from harness.records import slug
from harness.run.wiring import defense_class
from leaderboard.bundle import BundleRun, write_bundle

if TYPE_CHECKING:
    from harness.records import RunSpec
    from harness.registry import Registries
    from leaderboard.standard import Standard, Suite


class SubmitError(ValueError):
    """The submission cannot be made; the message says why and what to do."""


@dataclass
class SubmitOptions:
    defense: str
    model: str
    defense_params: dict[str, Any] = field(default_factory=dict)
    suite: str | None = None
    runs_dir: Path = Path("runs")
    out: Path | None = None
    cache_dir: Path = Path(".cache")
    data_root: Path | None = None
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int | None = None  # default: the suite's
    limit: int | None = None  # a non-standard override, recorded in the runs (leaderboards refuse it)
    judge_endpoint: dict[str, Any] = field(default_factory=dict)  # base_url, concurrency, api_key_env
    baseline: bool = True
    skip_contract: bool = False
    show_progress: bool = True
    echo: Callable[[str], None] = print


@dataclass(frozen=True)
class SubmitResult:
    bundle: Path
    suite: str
    run_dirs: list[Path]
    contract: Mapping[str, Any]


# -- contract checks ---------------------------------------------------------------------------------------
def run_contract_checks(defense: str, *, model: str, registries: Registries, cache_dir: Path,
                        data_root: Path | None = None) -> dict[str, Any]:
    """The contract report of `defense` on `model` as a JSON-ready dict (`passed`, `checks`)."""
    from defenses.contract import check_defense
    from harness.run.wiring import contract_loaders
    from tasks.base import TaskContext

    load_backend, make_context = contract_loaders(registries, TaskContext(cache_dir=cache_dir, data_root=data_root))
    report = check_defense(defense_class(registries, defense), model, load_backend=load_backend,
                           make_context=make_context, name=defense)
    return report.to_dict()


def failed_checks(report: Mapping[str, Any]) -> list[str]:
    out = []
    for check in report.get("checks") or ():
        if isinstance(check, Mapping) and not check.get("passed", True):
            detail = check.get("message") or check.get("detail") or ""
            out.append(f"{check.get('name', '?')}{': ' + str(detail) if detail else ''}")
    return out


# -- the flow ----------------------------------------------------------------------------------------------
def submit(opts: SubmitOptions, *, standard: Standard, registries: Registries) -> SubmitResult:
    from leaderboard.standard import pinned_judges

    suite = standard.suite(opts.suite) if opts.suite else standard.suite_for_model(opts.model)
    defense_cls = defense_class(registries, opts.defense)  # an unknown name or a bad module:Class fails first
    defense_cls.parse_params(opts.defense_params)
    groups = judge_groups(suite, standard)
    pinned = pinned_judges(standard, registries)
    for key in groups:
        _check_endpoint(standard, key, opts.judge_endpoint, registries)
    opts.echo(f"submit: suite {suite.name} ({', '.join(suite.tasks)}), judges "
              f"{', '.join(sorted({pinned.by_task[t.partition(':')[0]] for t in suite.tasks}))}")

    params = dict(opts.defense_params)
    tuned = suite.tuned_params(opts.model, opts.defense)
    if not params and tuned:
        params = tuned
        opts.echo(f"submit: {opts.defense} on {opts.model} runs the standard's settings tuned on validation data: "
                  + ", ".join(f"{k}={v}" for k, v in params.items()))
    roles = [("defense", opts.defense, params)]
    if opts.baseline and opts.defense != "none":
        roles.append(("baseline", "none", {}))
    specs = [(role, _spec(opts, registries, standard, suite, key, tasks, defense, role_params))
             for role, defense, role_params in roles for key, tasks in groups.items()]
    preflight([spec for role, spec in specs if role == "defense"], registries, opts)

    if opts.skip_contract:
        contract: dict[str, Any] = {"passed": False, "skipped": True}
        opts.echo("submit: contract checks SKIPPED; `harness leaderboard add` will refuse this bundle")
    else:
        opts.echo(f"submit: contract checks of {opts.defense} on {standard.contract_model}")
        contract = run_contract_checks(opts.defense, model=standard.contract_model, registries=registries,
                                       cache_dir=opts.cache_dir, data_root=opts.data_root)
        if not contract.get("passed"):
            failed = failed_checks(contract)
            raise SubmitError(f"defense {opts.defense} fails its contract checks"
                              + (": " + "; ".join(failed) if failed else "") + ". Fix the defense and submit again.")

    batch_size = opts.batch_size or suite.batch_size
    bundle_runs = [BundleRun(_execute(spec, opts, registries, batch_size), role) for role, spec in specs]

    out = opts.out or Path(f"submission__{slug(opts.model)}__{slug(opts.defense)}.zip")
    manifest = build_manifest(standard, suite, registries, model=opts.model, defense=opts.defense,
                              defense_params=params, contract=contract, limit=opts.limit)
    bundle = write_bundle(out, bundle_runs, manifest, contract)
    opts.echo(f"submit: wrote {bundle} ({len(bundle_runs)} runs); send it to the leaderboard maintainers, who add "
              f"it with `harness leaderboard add {bundle.name}`")
    return SubmitResult(bundle, suite.name, [r.path for r in bundle_runs], contract)


def build_manifest(standard: Standard, suite: Suite, registries: Registries, *, model: str, defense: str,
                   defense_params: Mapping[str, Any], contract: Mapping[str, Any],
                   limit: int | None = None) -> dict[str, Any]:
    """The manifest fields `harness submit` writes (bundle.write_bundle adds runs, files and schemas)."""
    from defenses.base import source_hash
    from leaderboard.standard import pinned_judges

    defense_cls = defense_class(registries, defense)
    pinned = pinned_judges(standard, registries)
    tasks = [t.partition(":")[0] for t in suite.tasks]
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "harness_version": harness_version(),
        "git_revision": git_revision(),
        "standard": {"version": standard.version, "suite": suite.name, "source": standard.source},
        "model": model,
        "defense": {"name": defense, "params": dict(defense_params), "source_hash": source_hash(defense_cls),
                    "status": getattr(defense_cls, "status", "")},
        "judges": {t: pinned.by_task[t] for t in tasks},
        "task_versions": {t: str(registries.tasks.get(t).version) for t in tasks},
        "contract": {"passed": bool(contract.get("passed")), "skipped": bool(contract.get("skipped")),
                     "model": standard.contract_model},
        "nonstandard": {"limit": limit} if limit is not None else {},
    }


def judge_groups(suite: Suite, standard: Standard) -> dict[str, list[str]]:
    """Suite tasks grouped by pinned judge configuration: one run per group (a run has one default judge)."""
    groups: dict[str, list[str]] = {}
    for selector in suite.tasks:
        task = selector.partition(":")[0]
        key = standard.pinned.get(task)
        if key is None:
            raise SubmitError(f"suite {suite.name}: task {task} has no pinned judge in the standard")
        groups.setdefault(key, []).append(selector)
    return groups


def _check_endpoint(standard: Standard, key: str, endpoint: Mapping[str, Any], registries: Registries) -> None:
    """Endpoint options may not change the judge: its id with them must equal the pinned id."""
    cfg = standard.judges[key]
    pinned_id = cfg.judge_id(registries)
    judge = cfg.instantiate(registries, endpoint_for(cfg.judge, endpoint))
    try:
        if judge.id != pinned_id:
            raise SubmitError(f"the judge options given change judge {key} from the pinned {pinned_id} to "
                              f"{judge.id}; only endpoint settings (base URL, concurrency, API key variable) may "
                              "be set")
    finally:
        judge.close()


def endpoint_for(judge: str, endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """Endpoint options concern the LLM judge only; other judges take no such parameters."""
    return dict(endpoint) if judge == "llm" else {}


def _spec(opts: SubmitOptions, registries: Registries, standard: Standard, suite: Suite, judge_key: str,
          tasks: Sequence[str], defense: str, params: Mapping[str, Any]) -> RunSpec:
    from harness.records import GenerationConfig
    from harness.run.runner import build_spec
    from tasks.base import TaskContext, TaskSelector

    cfg = standard.judges[judge_key]
    context = TaskContext(cache_dir=opts.cache_dir, data_root=opts.data_root)
    return build_spec(
        registries, context, model=opts.model, tasks=[TaskSelector.parse(t) for t in tasks], defense=defense,
        defense_params=dict(params), judge=cfg.judge,
        judge_params={**dict(cfg.params), **endpoint_for(cfg.judge, opts.judge_endpoint)},
        limit=opts.limit if opts.limit is not None else suite.limit, seed=suite.seed,
        generation=GenerationConfig(max_new_tokens=suite.max_new_tokens), dtype=opts.dtype, utility=suite.utility,
    )


def preflight(specs: Sequence[RunSpec], registries: Registries, opts: SubmitOptions) -> None:
    """Every run's samples load, their media decode and the model's backend accepts their modalities, before the
    contract checks load any model: such problems must not surface after minutes of work. (The baseline runs the
    same samples as the defense.)"""
    from harness.backends.conversation import check_modalities
    from harness.run.runner import MediaProblemsError, load_samples, media_problems
    from tasks.base import TaskContext

    context = TaskContext(cache_dir=opts.cache_dir, data_root=opts.data_root)
    for spec in specs:
        samples = load_samples(spec, registries, context)
        accepted = registries.backends.get(spec.backend).modalities
        for sample in samples:
            try:
                check_modalities(sample, accepted, spec.backend)
            except ValueError as exc:
                raise SubmitError(f"model {spec.model}: {exc}; the suite's tasks need another model or --suite "
                                  "NAME") from None
        problems = media_problems(samples)
        if problems:
            raise MediaProblemsError(problems)


def _execute(spec: RunSpec, opts: SubmitOptions, registries: Registries, batch_size: int) -> Path:
    from harness.run.runner import RunOptions, execute

    run_options = RunOptions(runs_dir=opts.runs_dir, cache_dir=opts.cache_dir, data_root=opts.data_root,
                             batch_size=batch_size, device=opts.device, show_progress=opts.show_progress,
                             echo=opts.echo)
    return execute(spec, run_options, registries).run_dir

