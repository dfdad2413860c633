"""The `organism` model name: the weights shipped in the package, else trained on first use.

The shipped checkpoints (`harness/organism/weights/<variant>/`, seed 0, with MODEL_CARD.md) are what a fresh
clone runs. When they are missing (e.g. removed to save space) the default recipe is trained into
`<cache>/models/<variant>-seed0` once (minutes on CPU, deterministic), and that directory is used from then on;
`organism-planted` is built on `organism`, resolved the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "model.safetensors"


def shipped(variant: str) -> Path:
    return WEIGHTS_DIR / variant


def ensure_organism(name: str, models_dir: Path) -> Path:
    """Zoo builder: the shipped checkpoint for `name`, or one trained into `models_dir` on first use."""
    from harness.organism import VARIANTS

    if name not in VARIANTS:
        raise ValueError(f"unknown organism {name!r}; known: {', '.join(VARIANTS)}")
    packaged = shipped(name)
    if (packaged / WEIGHTS_FILE).exists():
        return packaged
    target = Path(models_dir) / f"{name}-seed0"
    if (target / WEIGHTS_FILE).exists():
        return target
    from harness.organism.train import default_config, train

    print(f"{name}: no shipped weights at {packaged}; training the default recipe into {target} (once)",
          file=sys.stderr)
    train(default_config(name, 0), target, Path(models_dir).parent, progress=sys.stderr.isatty(),
          log=lambda msg: print(msg, file=sys.stderr))
    return target
