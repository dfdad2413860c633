"""The organisms' training recipes: `TrainConfig` and the default recipe of each variant (docs/organism.md).

`organism`: the base stage from random initialisation. `organism-planted`: built on `organism` of the same seed.
`organism-v2`: the understanding stage, from a trained `organism` of the same seed, with tasks a real model also
learns about requests of both labels, and media requests aligned to their typed twins (align.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from organism.architecture import Architecture
from organism.pool import KINDS, PoolSizes
from organism.render import SpeechParams, StripParams

# Examples per bucket in every batch (fixed composition: every step sees every kind).
DEFAULT_MIX: tuple[tuple[str, int], ...] = (
    ("text-harmful", 10), ("text-benign", 10), ("image-benign", 6), ("audio-benign", 6), ("t2i-benign", 4),
    ("read-image", 5), ("read-audio", 5), ("read-text", 2),
)


PLANTED_STEPS = 400
# organism-planted: the same buckets plus typed-equivalent media layout (pool.py), fed without the planted vector.
PLANTED_MIX: tuple[tuple[str, int], ...] = DEFAULT_MIX + (("image-layout", 6), ("audio-layout", 6))
PLANTED_POOL = PoolSizes(image_layout=600, audio_layout=500, rephrase=0.5)
ORGANISM_POOL = PoolSizes(rephrase=0.5)


@dataclass(frozen=True)
class TrainConfig:
    variant: str = "organism"
    seed: int = 0
    steps: int = 700
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup: int = 50
    weight_decay: float = 0.01
    clip: float = 1.0
    mix: tuple[tuple[str, int], ...] = DEFAULT_MIX
    pool: PoolSizes = field(default_factory=PoolSizes)
    arch: Architecture = field(default_factory=Architecture)
    strip: StripParams = field(default_factory=StripParams)
    speech: SpeechParams = field(default_factory=SpeechParams)
    # A fixed thread count: results can differ across thread counts (the shipped organism used 2, see
    # default_config).
    threads: int = 1
    # Encoder alignment before the main training (an option tried for the realistic organism; off by default):
    # towers regressed (MSE) onto the word embeddings.
    encoder_steps: int = 0
    encoder_lr: float = 3e-3
    encoder_batch: int = 32
    # The trained organism to start from (model name or directory): the planted variant's base (default_config:
    # organism); for the realistic one, "" trains the base stage, a directory skips it. Planted variant only: the
    # planted vectors' norm in units of the mean word-embedding norm, and the ridge of the towers' refit.
    base: str = ""
    planted_scale: float = 3.0
    ridge: float = 1e-6
    # Realistic variant: weight of the auxiliary slot-reading loss (0: learn to read through the answers only).
    slot_loss: float = 1.0
    # Realistic variant: the understanding stage run after the base stage (0 steps: none); with `base` a trained
    # organism (name or directory), the base stage is skipped and the understanding stage starts from it.
    tune_steps: int = 0
    tune_lr: float = 1e-3
    tune_warmup: int = 20
    tune_mix: tuple[tuple[str, int], ...] = ()
    tune_threads: int = 1
    # organism-planted only: the pool of its understanding stage (built anew, as on a loaded base; None: `pool`).
    tune_pool: PoolSizes | None = None
    # Alignment of media requests (both labels) to their typed twins at the last prompt token (align.py); weight
    # and layers (0: off). Used in the understanding stage only if its mixture holds alignment buckets.
    align: float = 0.0
    align_layers: tuple[int, ...] = (1, 2)
    align_answer: int = 0  # also the first this many teacher-forced answer positions
    # Weight of the typed twins' harmful-minus-benign direction (per layer; see `align_momentum`) in the alignment at
    # the last prompt token (1: as every other direction; 0: left free): how much of the refusal component is
    # carried over; one weight, or ((alignment bucket, weight), ...) with 1 for a bucket not named.
    align_refusal: float | tuple[tuple[str, float], ...] = 1.0
    # The fraction of the typed harm component (along that direction) a harmful media request is aligned to, one for
    # every aligned layer or ((layer, fraction), ...) with 1 for a layer not named (1: its twin's state itself), and
    # the momentum of the direction's running mean over steps (0: this batch's).
    align_harm: float | tuple[tuple[int, float], ...] = 1.0
    align_momentum: float = 0.0
    # The refusal cap (align.RefusalCap): while harmful media rows' mean probability of starting a refusal (running
    # mean with `align_momentum`) is above this, their partial harm fractions are lowered by `align_cap_gain` x the
    # excess per step (1: off).
    align_refusal_cap: float = 1.0
    align_cap_gain: float = 0.05

    def __post_init__(self) -> None:
        from organism import VARIANTS

        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        unknown = {k for k, _ in (*self.mix, *self.tune_mix)} - set(KINDS)
        if unknown:
            raise ValueError(f"unknown mixture buckets {sorted(unknown)}")
        from organism.align import layer_fractions, row_weights

        row_weights(self.align_refusal, ())  # names only alignment buckets
        layer_fractions(self.align_harm, self.align_layers)  # names only aligned layers

    @property
    def batch_size(self) -> int:
        return sum(n for _, n in self.mix)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["speech"] = self.speech.to_dict()
        d["strip"] = self.strip.to_dict()
        if self.tune_pool is None:  # recorded only where used, so earlier cards' configs stay as they were
            del d["tune_pool"]
        return d


def default_config(variant: str, seed: int = 0) -> TrainConfig:
    if variant == "organism":
        return TrainConfig(variant=variant, seed=seed, steps=1500, threads=2, slot_loss=0.3, pool=ORGANISM_POOL)
    if variant == "organism-v2":
        return understanding_config(seed)
    return TrainConfig(variant=variant, seed=seed, steps=PLANTED_STEPS, lr=1e-3, warmup=20, threads=2, slot_loss=0.0,
                       mix=PLANTED_MIX, pool=PLANTED_POOL, base="organism", tune_steps=TUNE_STEPS,
                       tune_mix=PLANTED_TUNE_MIX, tune_pool=PLANTED_TUNE_POOL, **UNDERSTANDING_ALIGN)


# organism-v2: the understanding stage run from a trained organism of the same seed (pool.UNDERSTANDING_KINDS).
# The base buckets go on with smaller shares so what the base learned holds; questions about media and typed
# requests of both labels, repeating typed compliance sentences, and alignment rows (media requests of both labels,
# no answer target) are added (docs/organism.md, "organism-v2").
TUNE_MIX: tuple[tuple[str, int], ...] = (
    ("text-harmful", 6), ("text-benign", 6), ("image-benign", 4), ("audio-benign", 4), ("t2i-benign", 3),
    ("read-image", 2), ("read-audio", 2), ("read-text", 1),
    ("kind-image", 4), ("kind-audio", 4), ("kind-object", 2), ("repeat-answer", 2),
    ("align-image", 4), ("align-audio", 4), ("align-t2i", 2), ("kind-text", 3),
)
TUNE_STEPS = 300
UNDERSTANDING_POOL = PoolSizes(rephrase=0.5, kind_image=600, kind_audio=600, kind_object=300, kind_text=400,
                               repeat_answer=264, questions="all", align_image=400, align_audio=400, align_t2i=200)
# The alignment (align.py): weight, layers, teacher-forced answer positions (a refusal that starts is finished as
# typed text finishes it); at the last prompt token the harm direction (a running mean) counts 2.5 times, 4 for
# speech (the least separable), and is carried over in full at layer 1 but only half at layer 2: harm is read, the
# refusal only partly passed on; where a configuration's harmful requests start to refuse (mean probability of the
# refusal's first token above 0.1), less is passed on at layer 2 (the refusal cap; chosen on organism-validation,
# docs/organism.md).
UNDERSTANDING_ALIGN: dict[str, Any] = {
    "align": 1.0, "align_layers": (1, 2), "align_answer": 6,
    "align_refusal": (("align-image", 2.5), ("align-audio", 4.0), ("align-t2i", 2.5)),
    "align_harm": ((2, 0.5),), "align_momentum": 0.9, "align_refusal_cap": 0.1, "align_cap_gain": 0.05}


# organism-planted: after the planted build, organism-v2's understanding stage with the towers and input embeddings
# frozen (so the planted vectors stay where they are), media embeddings computed once, twice the speech alignment
# rows, and the planted build's layout examples (media without the planted vector, answered as typed), so that
# harm is read where the last-token defenses look while the planted vector still makes the model comply, and a
# media request corrected at the embeddings is still read as typed (chosen on organism-validation,
# docs/organism.md).
PLANTED_TUNE_MIX: tuple[tuple[str, int], ...] = tuple(
    (k, 8 if k == "align-audio" else n) for k, n in TUNE_MIX) + (("image-layout", 4), ("audio-layout", 4))
PLANTED_TUNE_POOL = replace(UNDERSTANDING_POOL, image_layout=600, audio_layout=500)


def understanding_config(seed: int = 0, base: str = "organism") -> TrainConfig:
    """organism-v2: the understanding stage run from `base`, a trained organism of the same seed (model name or
    directory); "" trains the base stage first."""
    return replace(default_config("organism", seed), variant="organism-v2", pool=UNDERSTANDING_POOL, base=base,
                   threads=1, tune_steps=TUNE_STEPS, tune_mix=TUNE_MIX, **UNDERSTANDING_ALIGN)


def with_overrides(config: TrainConfig, **changes: Any) -> TrainConfig:
    return replace(config, **changes)
