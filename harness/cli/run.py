"""`harness run` (one model x defense x tasks run) and `harness list` (what is registered)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness import config
from harness.cli.common import (add_defense_param_options, add_endpoint_options, add_executor_options,
                                add_include_path_option, add_model_options, add_storage_options, defense_params,
                                endpoint_params, executor_options, params, positive_int, task_context)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _add_run_parser(sub)
    _add_list_parser(sub)


# -- run ---------------------------------------------------------------------------------------------------
def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="generate, judge and summarise one model x defense x tasks run",
                       allow_abbrev=False)
    add_model_options(p)
    p.add_argument("--defense", default=config.DEFAULT_DEFENSE, help="registered defense name or module:Class")
    add_defense_param_options(p)
    p.add_argument("--tasks", default=None,
                   help="comma-separated tasks; `task:cfg1,cfg2` picks configurations; `;` separates such tasks "
                        f"(default: {config.DEFAULT_TASKS})")
    p.add_argument("--utility", default=None, metavar="TASKS",
                   help="comma-separated lm-eval tasks run with the same model and defense (default: "
                        f"{config.DEFAULT_UTILITY} with the default tasks, none otherwise; '' for none)")
    p.add_argument("--judge", default=config.DEFAULT_JUDGE, help="judge name")
    p.add_argument("--judge-param", action="append", metavar="KEY=VALUE", help="judge parameter (repeatable)")
    add_endpoint_options(p)
    p.add_argument("--limit", type=positive_int, default=None,
                   help="at most N samples per task x configuration x label")
    p.add_argument("--batch-size", type=positive_int, default=config.DEFAULT_BATCH_SIZE)
    p.add_argument("--max-new-tokens", type=positive_int, default=config.DEFAULT_MAX_NEW_TOKENS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=config.DEFAULT_RUNS_DIR, help="runs directory (default: ./runs)")
    add_storage_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_options(p)
    add_include_path_option(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.records import GenerationConfig
    from harness.run import RunOptions, build_spec, default_registries
    from harness.run.executors import run
    from tasks.base import parse_task_list

    registries = default_registries(args.include_path)
    context = task_context(args)
    utility = args.utility if args.utility is not None else (config.DEFAULT_UTILITY if args.tasks is None else "")
    spec = build_spec(
        registries, context,
        model=args.model, model_revision=args.revision, backend=args.backend,
        tasks=parse_task_list(args.tasks or config.DEFAULT_TASKS),
        defense=args.defense, defense_params=defense_params(args),
        judge=args.judge, judge_params={**params(args.judge_param, None, "judge"), **endpoint_params(args)},
        utility=[t.strip() for t in utility.split(",") if t.strip()],
        limit=args.limit, seed=args.seed, generation=GenerationConfig(max_new_tokens=args.max_new_tokens),
        dtype=args.dtype, system_prompt=args.system_prompt,
    )
    options = RunOptions(runs_dir=Path(args.out), cache_dir=context.cache_dir, data_root=context.data_root,
                         batch_size=args.batch_size, device=args.device, show_progress=not args.no_progress)
    run(spec, options, registries, executor_options(args))
    return 0


# -- list --------------------------------------------------------------------------------------------------
def _add_list_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered tasks, defenses, judges, backends or models",
                       allow_abbrev=False)
    p.add_argument("kind", choices=["tasks", "defenses", "judges", "backends", "models"])
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_include_path_option(p)
    add_storage_options(p)
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from harness.run import aliases, default_registries

    if args.kind == "tasks":
        from harness.cli.tasks import cmd_list_tasks

        return cmd_list_tasks(args)
    rows: list[dict[str, Any]] = []
    if args.kind == "models":
        rows = [{"name": a.name, "backend": a.backend, "description": a.description} for a in aliases().values()]
    else:
        reg = default_registries().of(args.kind)
        for name in reg.names():
            row: dict[str, Any] = {"name": name, "origin": reg.origin(name)}
            try:
                cls = reg.get(name)
                row["description"] = (getattr(cls, "description", "") or (cls.__doc__ or "").strip().split("\n")[0])
            except Exception as exc:  # a broken plugin must not hide the others
                row["error"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            origin = f" [{row['origin']}]" if row.get("origin", "builtin") != "builtin" else ""
            desc = row.get("error") or row.get("description", "")
            print(f"{row['name']}{origin}  {desc}")
    return 0
