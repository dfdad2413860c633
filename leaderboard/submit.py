"""`harness submit`: contract checks, the standard suite with the pinned judges, and a submission bundle.

    1. the defense contract checks (defenses/contract.py) on the standard's contract model;
    2. the suite's tasks with the defense, and with `none` (the baseline the overhead ratio needs), each task
       scored by its pinned judge; runs are ordinary run-store runs, so an interrupted submit resumes;
    3. a zip of the runs with a manifest of hashes, versions and the defense's source hash (leaderboard/bundle.py).

The contract step is injectable (`contract_check`), so the flow can be tested without the contract module and the
module can land independently.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leaderboard.bundle import BundleRun, write_bundle

if TYPE_CHECKING:
    from harness.registries import Registries
    from leaderboard.standard import Standard, Suite

ContractCheck = Callable[..., Mapping[str, Any]]


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
def run_contract_checks(defense: str, *, model: str, params: Mapping[str, Any], cache_dir: Path) -> dict[str, Any]:
    """Adapter to `defenses.contract.check_defense`, imported lazily; the report as a JSON-ready dict."""
    try:
        from defenses.contract import check_defense
    except ImportError as exc:
        raise SubmitError(
            "the defense contract checks are not available: defenses/contract.py is missing from this checkout "
            f"({exc}). Update the harness; `--skip-contract-checks` makes a bundle for a dry run, which "
            "`harness leaderboard add` refuses") from None
    return report_dict(check_defense(defense, model=model, params=dict(params), cache_dir=cache_dir))


def report_dict(report: Any) -> dict[str, Any]:
    """A contract report (an object with `to_dict`, a dataclass or a mapping) as a JSON-serialisable dict."""
    if hasattr(report, "to_dict"):
        out = dict(report.to_dict())
    elif dataclasses.is_dataclass(report) and not isinstance(report, type):
        out = dataclasses.asdict(report)
    elif isinstance(report, Mapping):
        out = dict(report)
    else:
        raise SubmitError(f"the contract check returned a {type(report).__name__}, not a report")
    passed = getattr(report, "passed", out.get("passed"))
    if not isinstance(passed, bool):
        raise SubmitError("the contract report has no boolean `passed`")
    out["passed"] = passed
    return json.loads(json.dumps(out, default=str))


def failed_checks(report: Mapping[str, Any]) -> list[str]:
    out = []
    for check in report.get("checks") or ():
        if isinstance(check, Mapping) and not check.get("passed", True):
            detail = check.get("message") or check.get("detail") or ""
            out.append(f"{check.get('name', '?')}{': ' + str(detail) if detail else ''}")
    return out


# -- the flow ----------------------------------------------------------------------------------------------
def submit(opts: SubmitOptions, *, standard: Standard, registries: Registries,
           contract_check: ContractCheck = run_contract_checks) -> SubmitResult:
    from harness.runner import defense_class
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

    if opts.skip_contract:
        contract: dict[str, Any] = {"passed": False, "skipped": True}
        opts.echo("submit: contract checks SKIPPED; `harness leaderboard add` will refuse this bundle")
    else:
        opts.echo(f"submit: contract checks of {opts.defense} on {standard.contract_model}")
        contract = dict(contract_check(opts.defense, model=standard.contract_model, params=opts.defense_params,
                                       cache_dir=opts.cache_dir))
        if not contract.get("passed"):
            failed = failed_checks(contract)
            raise SubmitError(f"defense {opts.defense} fails its contract checks"
                              + (": " + "; ".join(failed) if failed else "") + ". Fix the defense and submit again.")

    params = dict(opts.defense_params)
    if not params and suite.tuned_params(opts.model, opts.defense):
        params = suite.tuned_params(opts.model, opts.defense)
        opts.echo(f"submit: {opts.defense} on {opts.model} runs the standard's settings tuned on validation data: "
                  + ", ".join(f"{k}={v}" for k, v in params.items()))
    roles = [("defense", opts.defense, params)]
    if opts.baseline and opts.defense != "none":
        roles.append(("baseline", "none", {}))
    bundle_runs: list[BundleRun] = []
    for role, defense, params in roles:
        for key, tasks in groups.items():
            run_dir = _run(opts, registries, standard, suite, key, tasks, defense, params)
            bundle_runs.append(BundleRun(run_dir, role))

    out = opts.out or Path(f"submission__{_slug(opts.model)}__{_slug(opts.defense)}.zip")
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
    from harness.runner import defense_class
    from leaderboard.standard import pinned_judges

    defense_cls = defense_class(registries, defense)
    pinned = pinned_judges(standard, registries)
    tasks = [t.partition(":")[0] for t in suite.tasks]
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "harness_version": _harness_version(),
        "git_revision": _git_revision(),
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


def _run(opts: SubmitOptions, registries: Registries, standard: Standard, suite: Suite, judge_key: str,
         tasks: Sequence[str], defense: str, params: Mapping[str, Any]) -> Path:
    from harness.records import GenerationConfig
    from harness.runner import RunOptions, build_spec, execute
    from tasks.base import TaskContext, TaskSelector

    cfg = standard.judges[judge_key]
    context = TaskContext(cache_dir=opts.cache_dir, data_root=opts.data_root)
    spec = build_spec(
        registries, context, model=opts.model, tasks=[TaskSelector.parse(t) for t in tasks], defense=defense,
        defense_params=dict(params), judge=cfg.judge,
        judge_params={**dict(cfg.params), **endpoint_for(cfg.judge, opts.judge_endpoint)},
        limit=opts.limit if opts.limit is not None else suite.limit, seed=suite.seed,
        generation=GenerationConfig(max_new_tokens=suite.max_new_tokens), dtype=opts.dtype,
    )
    run_options = RunOptions(runs_dir=opts.runs_dir, cache_dir=opts.cache_dir, data_root=opts.data_root,
                             batch_size=opts.batch_size or suite.batch_size, device=opts.device,
                             show_progress=opts.show_progress, echo=opts.echo)
    return execute(spec, run_options, registries).run_dir


def _slug(text: str) -> str:
    from harness.records import _slug as slug

    return slug(text)


def _harness_version() -> str:
    import harness

    return harness.__version__


def _git_revision() -> str | None:
    from harness.runner import _git_revision as revision

    return revision()
