"""The `harness` command line.

The only CLI of the project, imported only by the entry points (the `harness` script and `python -m harness`).
One module per command group, each with `add_parsers(subparsers)`; `common` holds what they share (CLIError,
parameter parsing, option groups).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from harness.cli import (analyze, calibrate, check_defense, judges, leaderboard, lm_eval, organism, run, sweep, tasks,
                         train)
from harness.cli.common import ArgumentParser, CLIError, check_device
from harness.provenance import harness_version

# The order of `harness --help`.
COMMAND_GROUPS = (
    run,  # run, list
    lm_eval,  # lm-eval ARGS...
    sweep,  # sweep (a grid of runs, then the leaderboard)
    leaderboard,  # leaderboard build / add, submit
    judges,  # score, compare, judge-agreement
    tasks,  # build advbench-omni, tasks check / download
    calibrate,  # calibrate
    train,  # train omnisteer
    check_defense,  # check-defense (the defense contract suite)
    organism,  # organism train / card / eval
    analyze,  # analyze (the safety geometry of a model)
)


# File-system errors caused by what the user named (a missing file, a file where a folder goes, no permission).
USER_OS_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, FileExistsError)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror.lower()}"
    return str(exc)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="harness", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {harness_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from defenses.toolkit.artifacts import ArtifactMismatchError
    from harness.files import CorruptFile
    from harness.registry import UnknownNameError
    from harness.run import MediaProblemsError
    from harness.store import RunLockedError
    from judges.base import JudgeBudgetExceeded, JudgeConfigError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed on one line
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if getattr(args, "device", None):  # every command that runs a model: refused before anything loads
            check_device(args.device)
        if hasattr(args, "threads"):  # commands that run a model: set before any model loads
            from harness.run.threads import apply_threads

            apply_threads(args.threads)
        return int(args.func(args) or 0)
    except (CLIError, CorruptFile, UnknownNameError, MediaProblemsError, RunLockedError, ValueError,
            JudgeBudgetExceeded, JudgeConfigError, ArtifactMismatchError, *USER_OS_ERRORS) as exc:
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print(f"harness: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted; finished samples are saved, run the same command to resume", file=sys.stderr)
        return 130


__all__ = ["CLIError", "build_parser", "main"]
