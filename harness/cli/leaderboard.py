"""`harness leaderboard build`, `harness leaderboard add` and `harness submit`; heavy imports happen inside the
commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import config
from harness.cli.common import (CLIError, add_defense_param_options, add_device_options, add_endpoint_options,
                                add_include_path_option, add_standard_option, add_storage_options, defense_params,
                                endpoint_params, key_values, positive_int, task_context)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _add_leaderboard_parser(sub)
    _add_submit_parser(sub)


# -- leaderboard build / add -------------------------------------------------------------------------------
def _add_leaderboard_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="build the static leaderboard site; add submission bundles",
                       allow_abbrev=False)
    lsub = p.add_subparsers(dest="action", required=True)
    b = lsub.add_parser("build", help="write the static site SITE from the runs in DIR", allow_abbrev=False,
                        description="Write a static site (index, a page per run, leaderboard.json/.csv) that works "
                                    "from file:// and from any static file server.")
    b.add_argument("--runs", default=config.DEFAULT_RUNS_DIR, metavar="DIR", help="runs folder (default: ./runs)")
    b.add_argument("--out", default="site", metavar="SITE", help="output folder (default: ./site)")
    b.add_argument("--media-root", action="append", default=[], metavar="DIR",
                   help="extra folder whose media files may be shown on the site (repeatable; the runs folder, "
                        f"the cache and ${config.DATA_ENV} are always allowed)")
    add_standard_option(b)
    b.set_defaults(func=cmd_build)

    a = lsub.add_parser("add", help="verify a submission bundle and add its runs to DIR", allow_abbrev=False,
                        description="Verify file hashes, record schemas, the pinned judges, the task versions and "
                                    "the suite settings of a bundle made by `harness submit`, then copy its runs "
                                    "to DIR/submissions/<id>/. A bundle that fails any check is refused with the "
                                    "reason and nothing is written.")
    a.add_argument("bundle", metavar="BUNDLE", help="the .zip written by `harness submit`")
    a.add_argument("--runs", default=config.DEFAULT_RUNS_DIR, metavar="DIR", help="runs folder (default: ./runs)")
    a.add_argument("--allow-nonstandard", action="store_true",
                   help="accept runs whose suite settings (tasks, limit, max_new_tokens, seed) differ from the "
                        "standard suite (judges and task versions are still enforced)")
    a.add_argument("--verify-samples", action="store_true",
                   help="also re-select every run's samples from this machine's task data and refuse a bundle whose "
                        "samples differ (needs the benchmark data here)")
    add_storage_options(a)
    add_include_path_option(a)
    add_standard_option(a)
    a.set_defaults(func=cmd_add)


def cmd_build(args: argparse.Namespace) -> int:
    from harness.run import default_registries
    from leaderboard.build import build_site
    from leaderboard.media import default_roots
    from leaderboard.standard import load_standard

    runs, out = Path(args.runs), Path(args.out)
    if not runs.is_dir():
        raise CLIError(f"--runs {runs}: {'a file, not a folder' if runs.exists() else 'no such folder'} "
                       "(run `harness run` first, or point --runs at a runs folder)")
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: a file, not a folder")
    roots = default_roots(Path(args.runs), [Path(p) for p in args.media_root])
    result = build_site(Path(args.runs), Path(args.out), standard=load_standard(args.standard),
                        registries=default_registries(), media_roots=roots)
    for s in result.skipped:
        print(f"skipped {s.path}: {s.reason}")
    print(f"wrote {result.index}: {result.runs} run(s), {result.main_rows} row(s) in the main table, "
          f"{result.separate_rows} in the separate table ({result.seconds:.2f} s)")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from harness.run import default_registries, load_samples
    from leaderboard.bundle import BundleRejected, add_bundle
    from leaderboard.standard import load_standard

    registries = default_registries(args.include_path)
    select = None
    if args.verify_samples:
        context = task_context(args)

        def select(spec):  # the samples this machine's task data give the run
            return load_samples(spec, registries, context)

    try:
        result = add_bundle(Path(args.bundle), Path(args.runs), standard=load_standard(args.standard),
                            registries=registries, allow_nonstandard=args.allow_nonstandard, select_samples=select)
    except BundleRejected as exc:
        raise CLIError(f"bundle refused, nothing was added: {exc}") from None
    for w in result.warnings:
        print(f"warning: {w}")
    if result.already:
        print(f"submission {result.submission_id} is already in {result.path}; nothing to do")
    else:
        print(f"added submission {result.submission_id}: {len(result.run_ids)} run(s) in {result.path}; rebuild the "
              "site with `harness leaderboard build`")
    return 0


# -- submit ------------------------------------------------------------------------------------------------
def _add_submit_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="check a defense, run the standard suite and write a submission bundle",
                       allow_abbrev=False,
                       description="Run the defense contract checks, the standard suite for the model (with the "
                                   "defense and with `none`, each task scored by its pinned judge) and write a zip "
                                   "with the runs and a manifest of hashes and versions.")
    p.add_argument("--defense", required=True, metavar="NAME_OR_MODULE:CLASS",
                   help="registered defense name, or module:Class of an unregistered one")
    p.add_argument("--model", required=True, help="built-in alias, hub id or local directory")
    p.add_argument("--suite", default=None, help="standard suite (default: the first whose model patterns match)")
    add_defense_param_options(p)
    p.add_argument("--out", default=None, metavar="ZIP", help="bundle path (default: ./submission__MODEL__DEFENSE.zip)")
    p.add_argument("--runs", default=config.DEFAULT_RUNS_DIR, metavar="DIR", help="runs folder (default: ./runs)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="default: the suite's")
    add_device_options(p)
    p.add_argument("--limit", type=positive_int, default=None,
                   help="NON-STANDARD: at most N samples per task x configuration x label (for a dry run; "
                        "leaderboards refuse such bundles unless they allow non-standard ones)")
    p.add_argument("--no-baseline", action="store_true", help="do not run the `none` baseline (no overhead ratio)")
    p.add_argument("--skip-contract-checks", action="store_true",
                   help="dry run without the contract checks (the bundle records it and is refused by `add`)")
    p.add_argument("--judge-param", action="append", metavar="KEY=VALUE",
                   help="LLM judge endpoint setting such as api_key_env=VAR (settings that change the judge id "
                        "are refused)")
    add_endpoint_options(p)
    add_storage_options(p)
    add_include_path_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_standard_option(p)
    p.set_defaults(func=cmd_submit)


def cmd_submit(args: argparse.Namespace) -> int:
    from harness.run import default_registries
    from harness.run.submit import SubmitOptions, submit
    from leaderboard.standard import load_standard

    if args.batch_size is not None and args.batch_size < 1:
        raise CLIError("--batch-size must be >= 1")
    endpoint = {**key_values(args.judge_param, "judge-param"), **endpoint_params(args)}
    opts = SubmitOptions(
        defense=args.defense, model=args.model,
        defense_params=defense_params(args), suite=args.suite,
        runs_dir=Path(args.runs), out=Path(args.out) if args.out else None, cache_dir=config.cache_dir(args.cache_dir),
        data_root=config.data_root(args.data_root), device=args.device, dtype=args.dtype, batch_size=args.batch_size,
        limit=args.limit, judge_endpoint=endpoint, baseline=not args.no_baseline,
        skip_contract=args.skip_contract_checks, show_progress=not args.no_progress,
    )
    submit(opts, standard=load_standard(args.standard), registries=default_registries(args.include_path))
    return 0
