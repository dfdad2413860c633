"""Defaults and locations. Environment variables only choose directories; every setting that changes results
is an explicit option recorded in the RunSpec."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "organism"  # the model organism (docs/organism.md): shipped weights, CPU-sized
DEFAULT_TASKS = "organism-safety"
# lm-eval utility tasks of the default job (with the default tasks only): safety and utility side by side
DEFAULT_UTILITY = "organism-utility,organism-utility-image"
DEFAULT_JUDGE = "keyword"
DEFAULT_DEFENSE = "none"
DEFAULT_RUNS_DIR = "runs"
DEFAULT_MAX_NEW_TOKENS = 32
DEFAULT_BATCH_SIZE = 8

CACHE_ENV = "HARNESS_CACHE"
DATA_ENV = "HARNESS_DATA"


def cache_dir(override: str | Path | None = None) -> Path:
    """Where built models, rendered media and calibration artifacts live (HARNESS_CACHE, else ~/.cache)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "omni-safety-harness"


def data_root(override: str | Path | None = None) -> Path | None:
    """Root folder for benchmark data given as relative paths (HARNESS_DATA), if any."""
    value = override or os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


# -- parameters given as text ------------------------------------------------------------------------------
# Defense and judge parameters arrive as `key=value` pairs and YAML files (the CLI, benchmark scripts). They are
# merged once, here: the file first, then the pairs over it; the result is a plain dict recorded in the RunSpec.
def _yaml_problem(exc: Exception) -> str:
    """A YAML error as one short phrase with its line, for messages that name the file or option themselves."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem


def key_values(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    """`key=value` pairs; values are parsed as YAML scalars/lists (`3`, `0.5`, `true`, `[15,16]`). `what` is the
    option they came from, without its dashes (`defense-param`), for the messages."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--{what} must look like key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"--{what} {item!r}: the value of {key.strip()!r} is not valid YAML: "
                             f"{_yaml_problem(exc)}") from None
    return out


def merged_params(pairs: Sequence[str] | None, file: str | Path | None, what: str) -> dict[str, Any]:
    """Parameters from a YAML mapping file, then `key=value` pairs over them."""
    import yaml

    merged: dict[str, Any] = {}
    if file:
        path = Path(file)
        if not path.is_file():
            raise ValueError(f"--{what}-config {file}: no such file")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"--{what}-config {file}: not a text file") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"--{what}-config {file}: not valid YAML: {_yaml_problem(exc)}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ValueError(f"--{what}-config {file}: expected a mapping of {what} parameters, "
                             f"got a {type(loaded).__name__}")
        merged.update(loaded)
    merged.update(key_values(pairs, f"{what}-param"))
    return merged
