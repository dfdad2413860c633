"""The understanding stage's recipe (`organism-v2` when it meets its bounds; docs/organism.md, "Towards an organism
that understands what it sees"): a trained organism of the same seed goes on learning tasks a real model also
learns about requests of both labels, and its media requests are aligned to their typed twins (align.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from organism.pool import PoolSizes
from organism.train import TrainConfig, default_config

# The understanding stage (experimental, not shipped), run from a trained organism (pool.UNDERSTANDING_KINDS). The base buckets go on with
# smaller shares so what the base learned holds; questions about media and typed requests of both labels, repeating
# typed compliance sentences, and alignment rows (media requests of both labels, no answer target) are added
# (docs/organism.md, "Towards an organism that understands what it sees").
TUNE_MIX: tuple[tuple[str, int], ...] = (
    ("text-harmful", 6), ("text-benign", 6), ("image-benign", 4), ("audio-benign", 4), ("t2i-benign", 3),
    ("read-image", 2), ("read-audio", 2), ("read-text", 1),
    ("kind-image", 4), ("kind-audio", 4), ("kind-object", 2), ("repeat-answer", 2),
    ("align-image", 4), ("align-audio", 8), ("align-t2i", 2), ("kind-text", 3),
)
TUNE_STEPS = 300
UNDERSTANDING_POOL = PoolSizes(rephrase=0.5, kind_image=600, kind_audio=600, kind_object=300, kind_text=400,
                               repeat_answer=264, questions="all", align_image=400, align_audio=800, align_t2i=200)
# The alignment (align.py): weight, layers, teacher-forced answer positions (a refusal that starts is finished as
# typed text finishes it) and the weight of the refusal direction at the last prompt token.
UNDERSTANDING_ALIGN: dict[str, Any] = {"align": 1.0, "align_layers": (1, 2), "align_answer": 6,
                                       "align_refusal": 0.8}


def understanding_config(seed: int = 0, base: str = "organism") -> TrainConfig:
    """The understanding stage (experimental, not shipped: no recipe has met its bounds yet, docs/organism.md) run
    from `base`, a trained organism of the same seed (model name or directory); "" trains the base stage first."""
    return replace(default_config("organism", seed), pool=UNDERSTANDING_POOL, base=base, tune_steps=TUNE_STEPS,
                   tune_mix=TUNE_MIX, **UNDERSTANDING_ALIGN)
