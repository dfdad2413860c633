"""`harness analyze`: the safety geometry of a model, per layer, configuration and modality.

`harness analyze --model M --tasks SEL [--layers embed,all] [--positions last,content] --out RUNS` runs the
prompts once (no generation) and writes RUNS/analyses/<id>/: analysis.json, one CSV per table, SVG figures and
the vectors; `harness leaderboard build --runs RUNS` shows them on a model page. Definitions: docs/analyze.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import config
from harness.cli.common import CLIError, add_include_path_option, add_model_options, add_storage_options, task_context


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="refusal directions, CRS, probes, drift and the golden vector per layer",
                       allow_abbrev=False, description=__doc__.split("\n\n")[1])
    add_model_options(p)
    p.add_argument("--tasks", required=True,
                   help="comma-separated tasks; `task:cfg1,cfg2` picks configurations; `;` separates such tasks")
    p.add_argument("--configs", default=None, metavar="CFG,...",
                   help="keep only these configurations (of every task); the reference must be among them")
    p.add_argument("--layers", default="embed,all",
                   help="`embed` (input embeddings) and/or all, band:A-B, 40%%, 3,4,5 (default: embed,all)")
    p.add_argument("--positions", default="last",
                   help="read-outs: last (last prompt token), content (mean over media tokens, or over the typed "
                        "request of a text-only prompt); comma-separated (default: last)")
    p.add_argument("--reference", default="text", help="the text configuration directions and drift refer to")
    p.add_argument("--holdout", type=float, default=0.5, help="share of sources held out for CRS and probes")
    p.add_argument("--moments", default="auto", choices=["auto", "full", "diag"],
                   help="second moments: full d x d matrix or its diagonal (auto: full up to 1024 dimensions)")
    p.add_argument("--limit", type=int, default=None, help="at most N samples per task x configuration x label")
    p.add_argument("--batch-size", type=int, default=config.DEFAULT_BATCH_SIZE)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=config.DEFAULT_RUNS_DIR, help="runs folder (default: ./runs); the analysis "
                   "goes to OUT/analyses/<id>")
    add_storage_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_include_path_option(p)
    p.set_defaults(func=cmd_analyze)


def cmd_analyze(args: argparse.Namespace) -> int:
    from harness.run import default_registries
    from harness.run.analyze import AnalysisSettings, AnalyzeOptions, analyze
    from tasks.base import TaskSelector, parse_task_list

    if args.batch_size < 1:
        raise CLIError("--batch-size must be >= 1")
    if args.limit is not None and args.limit < 1:
        raise CLIError("--limit must be >= 1")
    settings = AnalysisSettings(layers=args.layers, positions=tuple(p.strip() for p in args.positions.split(",")
                                                                    if p.strip()),
                                reference=args.reference, holdout=args.holdout, seed=args.seed, moments=args.moments)
    tasks = parse_task_list(args.tasks)
    if args.configs:
        keep = [c.strip() for c in args.configs.split(",") if c.strip()]
        tasks = [TaskSelector(t.name, tuple(keep)) for t in tasks]
    context = task_context(args)
    result = analyze(default_registries(args.include_path), AnalyzeOptions(
        model=args.model, tasks=tasks, out=Path(args.out), cache_dir=context.cache_dir, data_root=context.data_root,
        backend=args.backend, revision=args.revision, dtype=args.dtype, device=args.device,
        system_prompt=args.system_prompt, limit=args.limit, batch_size=args.batch_size,
        progress=not args.no_progress), settings)
    print(f"analysis: {result.path / 'analysis.json'}")
    return 0
