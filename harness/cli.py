"""The `harness` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from defenses import cli as defenses_cli
from defenses.cli_check import add_parsers as add_check_parsers
from defenses.cli_train import add_parsers as add_train_parsers
from harness import config
from harness.organism import cli as organism_cli
from judges import cli as judges_cli
from leaderboard import cli as leaderboard_cli
from tasks.cli import add_include_path_option
from tasks.cli import add_parsers as add_task_parsers


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _key_values(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    """`key=value` pairs; values are parsed as YAML scalars/lists (`3`, `0.5`, `true`, `[15,16]`)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"{what} must look like key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _params(pairs: Sequence[str] | None, file: str | None, what: str) -> dict[str, Any]:
    import yaml

    params: dict[str, Any] = {}
    if file:
        loaded = yaml.safe_load(Path(file).read_text())
        if not isinstance(loaded, dict):
            raise CLIError(f"{file}: expected a mapping of {what} parameters")
        params.update(loaded)
    params.update(_key_values(pairs, what))
    return params


# -- run ---------------------------------------------------------------------------------------------------
def add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="generate, judge and summarise one model x defense x tasks run",
                       allow_abbrev=False)
    p.add_argument("--model", default=config.DEFAULT_MODEL,
                   help=f"built-in alias, hub id or local directory (default: {config.DEFAULT_MODEL})")
    p.add_argument("--revision", default=None, help="hub revision of the model")
    p.add_argument("--backend", default=None, help="model backend (default: detected from the model config)")
    p.add_argument("--defense", default=config.DEFAULT_DEFENSE, help="registered defense name or module:Class")
    p.add_argument("--defense-param", action="append", metavar="KEY=VALUE", help="defense parameter (repeatable)")
    p.add_argument("--defense-config", metavar="YAML", help="defense parameters from a YAML mapping")
    p.add_argument("--tasks", default=config.DEFAULT_TASKS,
                   help="comma-separated tasks; `task:cfg1,cfg2` picks configurations; `;` separates such tasks")
    p.add_argument("--utility", default="", metavar="TASKS",
                   help="comma-separated lm-eval tasks run with the same model and defense (e.g. organism-utility)")
    p.add_argument("--judge", default=config.DEFAULT_JUDGE, help="judge name")
    p.add_argument("--judge-param", action="append", metavar="KEY=VALUE", help="judge parameter (repeatable)")
    judges_cli.add_endpoint_options(p)
    p.add_argument("--limit", type=int, default=None, help="at most N samples per task x configuration x label")
    p.add_argument("--batch-size", type=int, default=config.DEFAULT_BATCH_SIZE)
    p.add_argument("--max-new-tokens", type=int, default=config.DEFAULT_MAX_NEW_TOKENS)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "auto"])
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto")
    p.add_argument("--system-prompt", default=None, help="override the model's official system prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=config.DEFAULT_RUNS_DIR, help="runs directory (default: ./runs)")
    p.add_argument("--cache-dir", default=None, help=f"cache directory (default: ${config.CACHE_ENV} or ~/.cache)")
    p.add_argument("--data-root", default=None, help=f"root for benchmark data (default: ${config.DATA_ENV})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_include_path_option(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.records import GenerationConfig
    from harness.registries import default_registries
    from harness.runner import RunOptions, build_spec, execute
    from tasks.base import TaskContext, parse_task_list

    if args.batch_size < 1:
        raise CLIError("--batch-size must be >= 1")
    if args.max_new_tokens < 1:
        raise CLIError("--max-new-tokens must be >= 1")
    registries = default_registries(args.include_path)
    cache = config.cache_dir(args.cache_dir)
    context = TaskContext(cache_dir=cache, data_root=config.data_root(args.data_root))
    spec = build_spec(
        registries, context,
        model=args.model, model_revision=args.revision, backend=args.backend, tasks=parse_task_list(args.tasks),
        defense=args.defense, defense_params=_params(args.defense_param, args.defense_config, "defense"),
        judge=args.judge,
        judge_params={**_params(args.judge_param, None, "judge"), **judges_cli.endpoint_params(args)},
        utility=[t.strip() for t in args.utility.split(",") if t.strip()],
        limit=args.limit, seed=args.seed, generation=GenerationConfig(max_new_tokens=args.max_new_tokens),
        dtype=args.dtype, system_prompt=args.system_prompt,
    )
    options = RunOptions(runs_dir=Path(args.out), cache_dir=cache, data_root=context.data_root,
                         batch_size=args.batch_size, device=args.device, show_progress=not args.no_progress)
    execute(spec, options, registries)
    return 0


# -- list --------------------------------------------------------------------------------------------------
def add_list_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered tasks, defenses, judges, backends or models",
                       allow_abbrev=False)
    p.add_argument("kind", choices=["tasks", "defenses", "judges", "backends", "models"])
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_include_path_option(p)
    p.add_argument("--data-root", default=None, help=f"root for benchmark data, for task sizes (${config.DATA_ENV})")
    p.add_argument("--cache-dir", default=None, help=f"cache directory (default: ${config.CACHE_ENV} or ~/.cache)")
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from harness.registries import default_registries

    if args.kind == "tasks":
        from tasks.cli import cmd_list_tasks

        return cmd_list_tasks(args)
    rows: list[dict[str, Any]] = []
    if args.kind == "models":
        from harness.zoo import aliases

        rows = [{"name": a.name, "backend": a.backend, "description": a.description} for a in aliases().values()]
    else:
        reg = default_registries().of(args.kind)
        for name in reg.names():
            row: dict[str, Any] = {"name": name, "origin": reg.origin(name)}
            try:
                cls = reg.get(name)
                row["description"] = (getattr(cls, "description", "") or (cls.__doc__ or "").strip().split("\n")[0])
                if args.kind == "tasks":
                    row["version"] = str(cls.version)
            except Exception as exc:  # a broken plugin must not hide the others
                row["error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            extra = f" (v{row['version']})" if "version" in row else ""
            origin = f" [{row['origin']}]" if row.get("origin", "builtin") != "builtin" else ""
            desc = row.get("error") or row.get("description", "")
            print(f"{row['name']}{extra}{origin}  {desc}")
    return 0


# -- lm-eval (all arguments go to lm-eval's own command line) ---------------------------------------------
def add_lm_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lm-eval", add_help=False, prefix_chars="\0",
                       help="lm-evaluation-harness with --model harness-defended / harness-defended-multimodal")
    p.add_argument("args", nargs=argparse.REMAINDER, help="lm-eval's own arguments")
    p.set_defaults(func=cmd_lm_eval)


def cmd_lm_eval(args: argparse.Namespace) -> int:
    try:
        from harness.run.lm_eval import main as lm_eval_main
    except ModuleNotFoundError as exc:
        if exc.name != "lm_eval":
            raise
        raise CLIError("lm-eval is not installed: pip install 'omni-safety-harness[lm-eval]'") from None
    return lm_eval_main(args.args)


# -- entry point -------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__, allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    add_list_parser(sub)
    add_lm_eval_parser(sub)  # lm-eval ARGS...
    leaderboard_cli.add_parsers(sub)  # leaderboard build / add, submit
    judges_cli.add_parsers(sub)  # score, compare, judge-agreement
    add_task_parsers(sub)  # build advbench-omni, tasks check / download
    defenses_cli.add_parsers(sub)  # calibrate
    add_train_parsers(sub)  # train omnisteer
    add_check_parsers(sub)  # check-defense (the defense contract suite)
    organism_cli.add_parsers(sub)  # organism train / eval
    return parser


def _version() -> str:
    import harness

    return harness.__version__


def main(argv: Sequence[str] | None = None) -> int:
    from defenses.toolkit.artifacts import ArtifactMismatchError
    from harness.registry import UnknownNameError
    from harness.runner import MediaProblemsError
    from harness.store import RunLockedError
    from judges.base import JudgeBudgetExceeded, JudgeConfigError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CLIError, UnknownNameError, MediaProblemsError, RunLockedError, FileNotFoundError, ValueError,
            JudgeBudgetExceeded, JudgeConfigError, ArtifactMismatchError) as exc:
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted; finished samples are saved, run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
