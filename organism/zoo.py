"""Where the `organism` models live: the weights shipped in the package, else those trained on first use
(`organism.train.ensure_organism`, the zoo's builder, trains them).

The shipped checkpoints (`organism/weights/<variant>/`, with MODEL_CARD.md) are what a fresh clone runs: `organism`
is seed 0; `organism-planted` and `organism-v2` are seed 1 (each chosen on organism-validation-rephrased,
docs/organism.md), built on the seed-1 `organism`. When a checkpoint is missing (e.g. removed to save space), or
another seed is asked for, the default recipe is trained into `<cache>/models/<variant>-seed<N>-<recipe key>` once
(minutes on CPU, deterministic) and that directory is used from then on; `organism-planted` of seed N is built on
`organism` of seed N, resolved the same way (so the shipped planted model, when missing, first trains the seed-1
`organism`), and so is `organism-v2`.

The recipe key (a hash of the recipe and, for a model built on another, of that model's identity) is in the trained
folder's name so that an upgrade that changes a recipe trains anew instead of reusing the earlier folder, and
`weights_identity` (the shipped checkpoint's fingerprint, else that key) is in each run's identity so that a run
folder made with other weights is not resumed. A change to the training code alone that leaves every recipe as it
was is not seen by the key.
"""

from __future__ import annotations

import hashlib
import json
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
    return Path(models_dir) / f"{name}-seed{seed}-{recipe_key(name, seed)}"


def recipe_key(name: str, seed: int) -> str:
    """12 hex digits over the default recipe of `name` with `seed` and the identity of the model it is built on."""
    from organism.recipes import default_config

    config = default_config(name, seed).to_dict()
    payload = {"recipe": config, "base": weights_identity(config["base"], seed) if config.get("base") else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def weights_identity(name: str, seed: int | None = None) -> str:
    """What `name` with `seed` (default: the shipped seed) is, without building it: the shipped checkpoint's
    fingerprint (its card left out), else the key of the recipe the zoo trains it from."""
    from harness.model_files import folder_fingerprint
    from organism.card import CARD_FILE, FIGURES_FILE

    seed = shipped_seed(name) if seed is None else seed
    if seed == shipped_seed(name) and (shipped(name) / WEIGHTS_FILE).exists():
        return folder_fingerprint(shipped(name), skip=(CARD_FILE, FIGURES_FILE))  # rewritten with a card
    return f"recipe-{recipe_key(name, seed)}"


def built(name: str, models_dir: Path, seed: int | None = None) -> Path | None:
    """`name` trained with `seed` (default: the shipped seed): the shipped checkpoint when it is that seed, else the
    one trained into `models_dir` earlier, else None."""
    seed = shipped_seed(name) if seed is None else seed
    candidates = (shipped(name),) if seed == shipped_seed(name) else ()
    for path in (*candidates, trained_dir(name, models_dir, seed)):
        if (path / WEIGHTS_FILE).exists():
            return path
    return None
