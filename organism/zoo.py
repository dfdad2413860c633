"""Where the `organism` models live: the weights shipped in the package, else those trained on first use
(`organism.train.ensure_organism`, the zoo's builder, trains them).

The shipped checkpoints (`organism/weights/<variant>/`, with MODEL_CARD.md) are what a fresh clone runs: `organism`
is seed 0; `organism-planted` and `organism-v2` are seed 1 (each chosen on organism-validation-rephrased,
docs/organism.md), built on the seed-1 `organism`. When a checkpoint is missing (e.g. removed to save space), or
another seed is asked for, the default recipe is trained into `<cache>/models/<variant>-seed<N>` once (minutes on
CPU, deterministic) and that directory is used from then on; `organism-planted` of seed N is built on `organism` of
seed N, resolved the same way (so the shipped planted model, when missing, first trains the seed-1 `organism`), and
so is `organism-v2`.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "model.safetensors"


def shipped(variant: str) -> Path:
    return WEIGHTS_DIR / variant


def shipped_seed(variant: str) -> int:
    """The training seed of the checkpoint shipped for `variant`."""
    return 1 if variant in ("organism-planted", "organism-v2") else 0


def trained_dir(name: str, models_dir: Path, seed: int) -> Path:
    """Where the zoo trains `name` with `seed` on first use."""
    return Path(models_dir) / f"{name}-seed{seed}"


def built(name: str, models_dir: Path, seed: int | None = None) -> Path | None:
    """`name` trained with `seed` (default: the shipped seed): the shipped checkpoint when it is that seed, else the
    one trained into `models_dir` earlier, else None."""
    seed = shipped_seed(name) if seed is None else seed
    candidates = (shipped(name),) if seed == shipped_seed(name) else ()
    for path in (*candidates, trained_dir(name, models_dir, seed)):
        if (path / WEIGHTS_FILE).exists():
            return path
    return None
