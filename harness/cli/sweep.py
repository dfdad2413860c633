"""`harness sweep GRID`: every model x defense x tasks cell of a grid file as an ordinary run, then the
leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import config
from harness.cli.common import (CLIError, add_device_options, add_endpoint_options, add_executor_options,
                                add_include_path_option, add_standard_option, add_storage_options, endpoint_params,
                                executor_options, task_context)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", allow_abbrev=False,
                       help="run a grid of models x defenses x tasks (finished cells skipped), then build the "
                            "leaderboard",
                       description="Each cell is an ordinary run (same run id as `harness run`); finished cells "
                                   "are skipped, so the same command resumes. Under torchrun / accelerate launch "
                                   "every rank generates its shard of each cell; --executor ray uses a Ray cluster.")
    p.add_argument("grid", metavar="GRID", help="grid YAML file, or the name of a shipped grid (e.g. standard-omni)")
    p.add_argument("--out", default=config.DEFAULT_RUNS_DIR, help="runs directory (default: ./runs)")
    p.add_argument("--site", default="site", metavar="DIR", help="leaderboard site built at the end (default: ./site)")
    p.add_argument("--no-leaderboard", action="store_true", help="do not build the leaderboard at the end")
    p.add_argument("--status", action="store_true", help="show the grid's progress and exit (runs nothing)")
    p.add_argument("--json", action="store_true", help="with --status: machine-readable output")
    p.add_argument("--limit", type=int, default=None, help="override the grid's limit (a quick trial)")
    p.add_argument("--batch-size", type=int, default=None, help="override the grid's batch size")
    add_device_options(p)
    add_endpoint_options(p)
    add_executor_options(p)
    add_storage_options(p)
    add_standard_option(p)
    add_include_path_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.run import default_registries
    from harness.run.grid import load_grid
    from harness.run.sweep import SweepOptions, plan, progress_table, run_sweep, states_json
    from leaderboard.standard import load_standard

    for opt in ("limit", "batch_size"):
        if getattr(args, opt) is not None and getattr(args, opt) < 1:
            raise CLIError(f"--{opt.replace('_', '-')} must be >= 1")
    registries = default_registries(args.include_path)
    standard = load_standard(args.standard)
    grid = load_grid(args.grid, standard)
    context = task_context(args)
    options = SweepOptions(runs_dir=Path(args.out), cache_dir=context.cache_dir, data_root=context.data_root,
                           device=args.device, dtype=args.dtype, limit=args.limit,
                           judge_endpoint=endpoint_params(args), show_progress=not args.no_progress)
    if args.status:
        states = plan(grid, registries, options)
        print(states_json(states) if args.json else progress_table(states))
        return 0
    executor = executor_options(args)
    result = run_sweep(grid, registries, options, executor, standard=standard, batch_size=args.batch_size,
                       site=None if args.no_leaderboard else Path(args.site))
    if result.failed:
        for s in result.failed:
            print(f"failed: {s.cell.model} x {s.cell.defense_label} x {s.cell.tasks_label}: {s.error}")
        print("the other cells are saved; fix the failed ones and run the same command again (no leaderboard "
              "was built)")
        return 1
    return 0
