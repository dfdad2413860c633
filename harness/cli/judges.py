"""`harness score`, `harness compare` and `harness judge-agreement`: judging stored runs again, comparing two runs,
and measuring a judge against human labels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness import config
from harness.cli.common import (CLIError, add_endpoint_options, add_storage_options, add_threads_option,
                                endpoint_params, params)

EXIT_BUDGET = 3  # `harness score` stopped by the judge budget: partial verdicts saved


def _judge_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--judge", required=required, default=None if required else config.DEFAULT_JUDGE,
                   help="judge name (keyword, llm, classifier, or a plugin)")
    p.add_argument("--judge-param", action="append", metavar="KEY=VALUE", help="judge parameter (repeatable)")
    p.add_argument("--judge-config", metavar="YAML", help="judge parameters from a YAML mapping")
    add_endpoint_options(p)
    add_storage_options(p, data_root=False)
    add_threads_option(p)  # the classifier judge runs a model


def _make_judge(args: argparse.Namespace) -> Any:
    from harness.run import default_registries

    given = {**params(args.judge_param, args.judge_config, "judge"), **endpoint_params(args)}
    return default_registries().judges.get(args.judge)(**given)


def _run_dir(run: str, runs_dir: str) -> Path:
    """A run directory from a path, a run id under `runs_dir`, or a unique prefix of one."""
    from harness.store import list_runs

    path = Path(run)
    if (path / "spec.json").exists():
        return path
    candidates = [d for d in list_runs(runs_dir) if d.name == run] or \
        [d for d in list_runs(runs_dir) if d.name.startswith(run)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CLIError(f"no run {run!r} (neither a run directory nor a run id under {runs_dir})")
    raise CLIError(f"{run!r} matches several runs: {', '.join(d.name for d in candidates)}")


# -- score -------------------------------------------------------------------------------------------------
def cmd_score(args: argparse.Namespace) -> int:
    from harness.run import RunOptions, score_run, write_summary
    from harness.store import RunStore
    from harness.summary import format_table
    from judges.base import JudgeBudgetExceeded

    run_dir = _run_dir(args.run, args.runs)
    judge = _make_judge(args)
    options = RunOptions(runs_dir=run_dir.parent, cache_dir=config.cache_dir(args.cache_dir), show_progress=False)
    if args.judge_batch_size:
        options.judge_batch_size = args.judge_batch_size
    stopped: str | None = None
    with RunStore(run_dir.parent, run_dir.name).open() as store:
        spec, samples = store.spec(), store.samples()
        try:
            n = score_run(store, samples, judge, options)
        except JudgeBudgetExceeded as exc:
            n, stopped = -1, str(exc)
        finally:
            usage = judge.usage()
            judge.close()
        previous = store.read_json("summary.json") or {}
        default = judge.id if args.make_default or not previous.get("default_judge") else previous["default_judge"]
        summary = write_summary(store, spec, samples, default_judge=default, judges={judge.id: judge.describe()},
                                notes=previous.get("notes") or (),
                                metric_settings={"osb_lambda": args.osb_lambda, "osb_alpha": args.osb_alpha})
    if n >= 0:
        print(f"run {run_dir.name}: judge {judge.id} scored {n} generation(s) (already judged ones are kept)")
    print(format_table(summary, judge.id))
    if usage:
        print(_usage_line(usage))
    if stopped:
        print(f"harness: judge stopped early: {stopped}. Verdicts so far are saved (and every judge answer is "
              "cached); rerun with a larger budget to finish.", file=sys.stderr)
        return EXIT_BUDGET
    return 0


def _usage_line(u: dict[str, Any]) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in (u.get("errors") or {}).items() if v) or "none"
    cost = f", cost ${u['cost_usd']:.4f}" if u.get("cost_usd") is not None else ""
    return (f"judge usage: {u.get('requests', 0)} requests ({u.get('retries', 0)} retries; errors: {errors}), "
            f"{u.get('cache_hits', 0)} cache hits, {u.get('total_tokens', 0)} tokens{cost}, "
            f"{u.get('failed_calls', 0)} failed calls")


# -- compare -----------------------------------------------------------------------------------------------
def _load_run(run_dir: Path) -> Any:
    from harness.compare import RunData
    from harness.store import RunStore

    store = RunStore(run_dir.parent, run_dir.name)  # read only: no lock needed
    store.spec()  # a damaged spec stops here, naming the file
    summary = store.read_json("summary.json") or {}
    return RunData(run_dir.name, {s.id: s for s in store.samples()}, store.verdicts(), summary.get("default_judge"))


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare_runs, format_comparison, resolve_judge

    a, b = _load_run(_run_dir(args.run_a, args.runs)), _load_run(_run_dir(args.run_b, args.runs))
    result = compare_runs(a, b, resolve_judge(a, b, args.judge))
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return 0


# -- judge-agreement ---------------------------------------------------------------------------------------
def cmd_agreement(args: argparse.Namespace) -> int:
    from judges.agreement import agreement, format_agreement, load_labels

    items, human = load_labels(Path(args.labels), _run_dir(args.run, args.runs) if args.run else None)
    judge = _make_judge(args)
    judge.use_cache_dir(config.cache_dir(args.cache_dir))
    try:
        verdicts = []
        batch = max(64, judge.preferred_batch_size)
        for start in range(0, len(items), batch):
            verdicts.extend(judge.score(items[start:start + batch]))
        usage = judge.usage()
    finally:
        judge.close()
    report = agreement(items, human, verdicts)
    report["judge"] = judge.describe()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.json else format_agreement(report))
    if usage and not args.json:
        print(_usage_line(usage))
    return 0


# -- registration ------------------------------------------------------------------------------------------
def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", allow_abbrev=False,
                       help="judge the stored generations of a run with a (new) judge, without regenerating")
    p.add_argument("run", metavar="RUN", help="run directory, run id, or a unique prefix of a run id")
    p.add_argument("--runs", default=config.DEFAULT_RUNS_DIR, help="runs directory for run ids (default: ./runs)")
    _judge_options(p, required=True)
    p.add_argument("--judge-batch-size", type=int, default=0, help="items per judge call batch (default: judge's)")
    p.add_argument("--make-default", action="store_true", help="make this judge the summary's default judge")
    p.add_argument("--osb-lambda", type=float, default=None,
                   help="lambda of the Omni-SafetyBench Safety-score (default 1, labelled [reconstructed])")
    p.add_argument("--osb-alpha", type=float, default=None, help="alpha of CMSC (default 5)")
    p.set_defaults(func=cmd_score)

    c = sub.add_parser("compare", allow_abbrev=False,
                       help="paired McNemar tests between two runs on the same samples")
    c.add_argument("run_a", metavar="RUN_A")
    c.add_argument("run_b", metavar="RUN_B")
    c.add_argument("--runs", default=config.DEFAULT_RUNS_DIR)
    c.add_argument("--judge", default=None, help="judge id or name present in both runs (default: A's default)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=cmd_compare)

    a = sub.add_parser("judge-agreement", allow_abbrev=False,
                       help="accuracy, Cohen's kappa and confusion matrix of a judge against human labels")
    a.add_argument("--labels", required=True, metavar="FILE",
                   help="JSONL/JSON/CSV rows: id, label (human), and response (or --run to take it from a run)")
    a.add_argument("--run", default=None, help="take samples and responses from this run, by id")
    a.add_argument("--runs", default=config.DEFAULT_RUNS_DIR)
    _judge_options(a, required=True)
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.add_argument("--out", default=None, metavar="FILE", help="also write the report as JSON")
    a.set_defaults(func=cmd_agreement)
