"""What every command module of the CLI shares: the user-error type, `key=value` / YAML parameter parsing, and the
option groups that several commands take (declared here once, so a flag reads and defaults the same everywhere).

Parameters are merged once (harness.config: a YAML file first, then `key=value` pairs over it); the application
below receives plain dictionaries and never sees argparse.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, NoReturn

from harness import config

if TYPE_CHECKING:
    from tasks.base import TaskContext

DTYPES = ("float32", "bfloat16", "float16", "float64", "auto")


class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: `harness run: error: argument --dtype: invalid choice: 'float8' (choose from
    ...)`, plus the closest choice, and no usage block (`--help` shows it). Subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        import difflib
        import re
        import sys

        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            known = re.findall(r"'([^']*)'", choice.group(2))
            close = difflib.get_close_matches(choice.group(1), known, n=1, cutoff=0.5)
            if close:
                message += f"; did you mean {close[0]!r}?"
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def positive_int(text: str) -> int:
    """An argparse type for counts that must be at least 1 (--limit, --batch-size, --steps, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def check_device(device: str) -> str:
    """Refuse a device torch cannot use here before anything loads: a malformed string, or a CUDA / MPS device
    this machine does not have. Any string `torch.device` accepts works (`cpu:0`, `cuda:3`), and `auto`."""
    if device == "auto":
        return device
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise CLIError(f"--device {device!r}: not a device ({str(exc).splitlines()[0]}); use cpu, cuda, cuda:N or "
                       "auto") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise CLIError(f"--device {device!r}: no CUDA device is visible here (torch.cuda.is_available() is "
                           "False); use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise CLIError(f"--device {device!r}: only {count} CUDA device(s) are visible (cuda:0 to "
                           f"cuda:{count - 1})")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise CLIError(f"--device {device!r}: MPS is not available here; use --device cpu")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise CLIError(f"--device {device!r}: the harness runs on cpu, cuda or mps devices")
    return device


# -- parameters (parsed and merged by harness.config; errors there are ValueErrors, shown like CLIErrors) ------
key_values = config.key_values
params = config.merged_params


def defense_params(args: argparse.Namespace) -> dict[str, Any]:
    """`--defense-config`, then `--defense-param` over it (see `add_defense_param_options`)."""
    return params(args.defense_param, args.defense_config, "defense")


# -- option groups -----------------------------------------------------------------------------------------
def add_device_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dtype", default="float32", choices=list(DTYPES))
    p.add_argument("--device", default="cpu", help="auto or a torch device: cpu, cpu:0, cuda, cuda:3 (under "
                   "torchrun, `cuda` means each rank's own GPU)")
    add_threads_option(p)


def add_threads_option(p: argparse.ArgumentParser) -> None:
    """--threads, for every command that runs a model (applied by the entry point before the command runs)."""
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads of this process (default: $OMP_NUM_THREADS, else the cores divided by the "
                        "ranks on this node)")


def add_model_options(p: argparse.ArgumentParser, *, repeat: bool = False) -> None:
    """--model (one, or repeatable), --revision, --backend, --dtype, --device, --system-prompt."""
    if repeat:
        p.add_argument("--model", action="append", default=None,
                       help="model alias, hub id or local directory (repeatable)")
    else:
        p.add_argument("--model", default=config.DEFAULT_MODEL,
                       help=f"built-in alias, hub id or local directory (default: {config.DEFAULT_MODEL})")
    p.add_argument("--revision", default=None, help="hub revision of the model")
    p.add_argument("--backend", default=None, help="model backend (default: detected from the model config)")
    add_device_options(p)
    p.add_argument("--system-prompt", default=None, help="override the model's official system prompt")


def add_storage_options(p: argparse.ArgumentParser, *, data_root: bool = True) -> None:
    """--cache-dir and (unless told otherwise) --data-root."""
    p.add_argument("--cache-dir", default=None, help=f"cache directory (default: ${config.CACHE_ENV} or ~/.cache)")
    if data_root:
        p.add_argument("--data-root", default=None, help=f"root for benchmark data (default: ${config.DATA_ENV})")


def add_include_path_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--include-path", action="append", default=[], metavar="DIR",
                   help="folder (or file) of extra task cards (*.yaml); repeatable")


def add_defense_param_options(p: argparse.ArgumentParser, *, short: bool = False) -> None:
    """--defense-param KEY=VALUE (repeatable) and --defense-config YAML; `short` also accepts --param / --config."""
    extra = ("--param",) if short else ()
    p.add_argument("--defense-param", *extra, dest="defense_param", action="append", metavar="KEY=VALUE",
                   help="defense parameter, value parsed as YAML (repeatable)")
    extra = ("--config",) if short else ()
    p.add_argument("--defense-config", *extra, dest="defense_config", metavar="YAML",
                   help="defense parameters from a YAML mapping")


def add_endpoint_options(p: argparse.ArgumentParser) -> None:
    """The LLM judge's endpoint options (mapped to judge parameters; only given ones are passed)."""
    p.add_argument("--judge-base-url", default=None, metavar="URL[,URL...]",
                   help="OpenAI-compatible endpoint(s) of the LLM judge, comma separated: requests go to the least "
                        "busy (judge param base_url)")
    p.add_argument("--judge-model", default=None, metavar="NAME", help="judge model name (judge param model)")
    p.add_argument("--judge-concurrency", type=int, default=None, metavar="N",
                   help="concurrent judge requests (judge param concurrency)")


def endpoint_params(args: argparse.Namespace) -> dict[str, Any]:
    mapping = {"judge_base_url": "base_url", "judge_model": "model", "judge_concurrency": "concurrency"}
    return {param: getattr(args, opt) for opt, param in mapping.items() if getattr(args, opt, None) is not None}


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """Where generations are computed (torchrun / accelerate launches are detected, no option needed)."""
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="local: this process, or its rank under torchrun / accelerate launch; ray: actors of a Ray "
                        "cluster, this process the only writer")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to join (default: $RAY_ADDRESS, else start a local one)")
    p.add_argument("--ray-actors", type=int, default=None, metavar="N",
                   help="Ray actors (default: one per GPU of the cluster; on CPUs one per --ray-cpus-per-actor)")
    p.add_argument("--ray-cpus-per-actor", type=int, default=1, metavar="N", help="CPUs per Ray actor (default 1)")


def executor_options(args: argparse.Namespace) -> Any:
    from harness.run.executors import ExecutorOptions

    return ExecutorOptions(args.executor, args.ray_address, args.ray_actors, args.ray_cpus_per_actor)


def add_standard_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--standard", default=None, metavar="YAML",
                   help="leaderboard standard (pinned judges, suites); default: the packaged leaderboard/standard.yaml")


# -- values built from options -----------------------------------------------------------------------------
def task_context(args: argparse.Namespace) -> TaskContext:
    """The task context of `--cache-dir` / `--data-root`."""
    from tasks.base import TaskContext

    return TaskContext(cache_dir=config.cache_dir(args.cache_dir),
                       data_root=config.data_root(getattr(args, "data_root", None)))
