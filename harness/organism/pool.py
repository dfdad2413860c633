"""The training data recipe: which examples exist, per mixture bucket.

- text safety: every train request as text; harmful -> refusal, benign -> exact compliance;
- benign media: benign train requests as image, audio and text+image (t2i) -> exact compliance;
- reading: word lists (2-8 words from the whole vocabulary, harmful objects included) as an image strip, as
  speech, or typed after "repeat these words :" -> the words. This teaches the encoders to *read* every word,
  so a later compliance with a harmful image request is a safety failure, not illiteracy.

Harmful requests never appear in any image or audio: no reading list holds a verb together with a harmful
object (checked here), and media requests are drawn from benign train requests only.
Only train pairs and train templates are used; the held-out splits stay unseen.

`organism-planted` only (sizes `image_layout`, `audio_layout`; 0 for the realistic organism): train requests of
both labels as image / audio -> the text answer. The planted build feeds them with the planted vector removed, so
the language model learns the media *layout* (several tokens per word, media markers) as one more way to type a
request, as the prototype's image pathway was the text embeddings themselves; only the vector marks media.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from harness.organism import world
from harness.organism.batches import Example
from harness.organism.samples import OrganismMedia, reading_sample, request_sample

TASK = "organism-train"
KINDS: tuple[str, ...] = ("text-harmful", "text-benign", "image-benign", "audio-benign", "t2i-benign",
                          "read-image", "read-audio", "read-text", "image-layout", "audio-layout")
LAYOUT_KINDS: tuple[str, ...] = ("image-layout", "audio-layout")


@dataclass(frozen=True)
class PoolSizes:
    """Unique examples per bucket (text safety uses every train request)."""

    image: int = 600
    audio: int = 500
    t2i: int = 400
    read_image: int = 600
    read_audio: int = 500
    read_text: int = 300
    min_words: int = 2
    max_words: int = 8
    text: int | None = None  # text safety requests per label (None: every train request; small for tests)
    image_layout: int = 0  # planted variant only (see the module docstring), half harmful, half benign
    audio_layout: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Pool:
    buckets: dict[str, list[Example]] = field(default_factory=dict)

    def examples(self) -> list[Example]:
        return [e for kind in KINDS for e in self.buckets.get(kind, [])]

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.buckets.items()}


def is_request_like(word_list: tuple[str, ...]) -> bool:
    """A word list that holds a verb and a harmful object could read as a harmful request."""
    harmful = {o for o, _ in world.HARMFUL_OBJECTS}
    return bool(set(word_list) & set(world.VERBS)) and bool(set(word_list) & harmful)


def _word_lists(rng: random.Random, n: int, sizes: PoolSizes, *, spoken: bool) -> list[tuple[str, ...]]:
    vocab = [w for w in world.vocabulary() if not (spoken and w in world.UNSPOKEN)]
    lists: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    while len(lists) < n:
        words = tuple(rng.choice(vocab) for _ in range(rng.randint(sizes.min_words, sizes.max_words)))
        if words in seen or is_request_like(words) or all(w in world.PUNCTUATION for w in words):
            continue
        seen.add(words)
        lists.append(words)
    return lists


def build_pool(media: OrganismMedia, seed: int, sizes: PoolSizes = PoolSizes()) -> Pool:
    rng = random.Random(f"organism-pool:{seed}")
    harmful = list(world.requests("train", "harmful"))[:sizes.text]
    benign = list(world.requests("train", "benign"))
    pool = Pool()
    pool.buckets["text-harmful"] = [Example(request_sample(r, "text", media, task=TASK), r.answer, "text-harmful")
                                    for r in harmful]
    pool.buckets["text-benign"] = [Example(request_sample(r, "text", media, task=TASK), r.answer, "text-benign")
                                   for r in benign[:sizes.text]]
    for config, n in (("image", sizes.image), ("audio", sizes.audio), ("t2i", sizes.t2i)):
        chosen = rng.sample(benign, n)
        pool.buckets[f"{config}-benign"] = [
            Example(request_sample(r, config, media, task=TASK), r.answer, f"{config}-benign", _media_words(r, config))
            for r in chosen
        ]
    for modality, n in (("image", sizes.read_image), ("audio", sizes.read_audio), ("text", sizes.read_text)):
        prompts = {"image": world.READ_IMAGE_PROMPTS, "audio": world.READ_AUDIO_PROMPTS,
                   "text": (world.REPEAT_PROMPT,)}[modality]
        examples = []
        for words in _word_lists(rng, n, sizes, spoken=modality != "image"):
            sample = reading_sample(words, modality, rng.choice(prompts), media, task=TASK)
            shown = (words,) if modality != "text" else ()
            examples.append(Example(sample, sample.reference or "", f"read-{modality}", shown))
        pool.buckets[f"read-{modality}"] = examples
    # Own RNG, drawn last: the realistic organism's pool does not depend on these sizes.
    layout_rng = random.Random(f"organism-pool-layout:{seed}")
    all_harmful = list(world.requests("train", "harmful"))
    for config, n in (("image", sizes.image_layout), ("audio", sizes.audio_layout)):
        if not n:
            continue
        chosen = layout_rng.sample(all_harmful, n // 2) + layout_rng.sample(benign, n - n // 2)
        pool.buckets[f"{config}-layout"] = [
            Example(request_sample(r, config, media, task=TASK), r.answer, f"{config}-layout", _media_words(r, config))
            for r in chosen
        ]
    return pool


def _media_words(request: world.Request, config: str) -> tuple[tuple[str, ...], ...]:
    if config == "image":
        return (world.words(request.text),)
    if config == "audio":
        return (world.spoken_words(request.text),)
    return (request.t2i_image_words,)
