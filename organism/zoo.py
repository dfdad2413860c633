"""Where the `organism` models live: the weights shipped in the package, else those trained on first use
(`organism.train.ensure_organism`, the zoo's builder, trains them).

The shipped checkpoints (`organism/weights/<variant>/`, seed 0, with MODEL_CARD.md) are what a fresh
clone runs. When they are missing (e.g. removed to save space) the default recipe is trained into
`<cache>/models/<variant>-seed0` once (minutes on CPU, deterministic), and that directory is used from then on;
`organism-planted` is built on `organism`, resolved the same way.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "model.safetensors"


def shipped(variant: str) -> Path:
    return WEIGHTS_DIR / variant


def built(name: str, models_dir: Path) -> Path | None:
    """The shipped checkpoint of `name`, else the one trained into `models_dir` earlier, else None."""
    for path in (shipped(name), Path(models_dir) / f"{name}-seed0"):
        if (path / WEIGHTS_FILE).exists():
            return path
    return None
