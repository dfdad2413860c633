"""Defaults and locations. Environment variables only choose directories; every setting that changes results
is an explicit option recorded in the RunSpec."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL = "organism"  # the model organism (docs/organism.md): shipped weights, CPU-sized
DEFAULT_TASKS = "organism-safety"
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
