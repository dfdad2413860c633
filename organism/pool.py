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

Varied phrasing (`rephrase`, a share of the request examples): a train template with some of its words around
"{verb} a {obj}" dropped and up to three filler words inserted, drawn from the words of the training prompts and
answers (`filler_words`). The held-out test templates phrase requests in ways the nine train templates do not (no
"how to" before the verb, a word after the object, words never seen in a request). A model that has seen only
nine fixed phrasings learns to find verb and object by their place in a known template, which carried over to the
held-out templates for some seeds and not for others; varied phrasings teach it to find them by the
"<verb> a <object>" pattern among other words. They never contain a word found only in the held-out templates, so
no held-out phrasing is ever trained on.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace

from organism import world
from organism.batches import Example
from organism.samples import OrganismMedia, kind_sample, reading_sample, request_sample

TASK = "organism-train"
KINDS: tuple[str, ...] = ("text-harmful", "text-benign", "image-benign", "audio-benign", "t2i-benign",
                          "read-image", "read-audio", "read-text", "image-layout", "audio-layout",
                          "kind-image", "kind-audio", "kind-object", "kind-text", "repeat-answer",
                          "align-image", "align-audio", "align-t2i", "twin-image", "twin-audio", "twin-t2i")
# The understanding stage's tasks (`_add_understanding`): questions about train requests of both labels and
# repeating typed compliance sentences of both labels. Never a refusal or a compliance to a media request.
UNDERSTANDING_KINDS: tuple[str, ...] = ("kind-image", "kind-audio", "kind-object", "kind-text", "repeat-answer")
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
    # Share of request examples (text, benign media) whose phrasing is varied (see `rephrase`); 0: templates only.
    rephrase: float = 0.0
    # The understanding stage (UNDERSTANDING_KINDS), half harmful and half benign train requests each; 0: none.
    kind_image: int = 0
    kind_audio: int = 0
    kind_object: int = 0
    kind_text: int = 0
    repeat_answer: int = 0
    # Which of world.QUESTIONS the question buckets ask ("kind": what kind of thing; "named": which object and which
    # action; "all": both).
    questions: str = "kind"
    # Alignment rows (align.py): media requests of both labels with their typed twins; no answer target.
    align_image: int = 0
    align_audio: int = 0
    align_t2i: int = 0

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)

    def capped(self, n: int) -> PoolSizes:
        """At most `n` examples per bucket and `n` text requests per label (`organism train --pool-size`)."""
        if n < 1:
            raise ValueError(f"--pool-size must be >= 1, got {n}")
        buckets = ("image", "audio", "t2i", "read_image", "read_audio", "read_text", "image_layout", "audio_layout",
                   "kind_image", "kind_audio", "kind_object", "kind_text", "repeat_answer", "align_image",
                   "align_audio", "align_t2i")
        return replace(self, text=n if self.text is None else min(self.text, n),
                       **{k: min(getattr(self, k), n) for k in buckets})


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


@dataclass(frozen=True)
class Rephrased(world.Request):
    """A train request in a varied phrasing (`phrase`: a template-like string with {verb} and {obj})."""

    phrase: str = ""

    @property
    def text(self) -> str:
        return self.phrase.format(verb=self.verb, obj=self.obj)

    @property
    def t2i_text(self) -> str:
        return self.phrase.replace("a {obj}", world.T2I_OBJECT).format(verb=self.verb)


@functools.cache  # pure; `rephrase` asks for it once per rephrased example
def filler_words() -> tuple[str, ...]:
    """Words a varied phrasing may insert: every word of the training prompts and answers (train templates, reading
    prompts, refusal and compliance) except verbs, objects and the core's "a". Words found only in the held-out
    test templates are never among them."""
    texts = [world.TEMPLATES[i] for i in world.TRAIN_TEMPLATES]
    texts += [*world.READ_IMAGE_PROMPTS, *world.READ_AUDIO_PROMPTS, world.REPEAT_PROMPT, world.REFUSAL,
              world.compliance("{verb}", "{obj}")]
    found = {w for text in texts for w in text.split() if "{" not in w}
    return tuple(sorted(found - set(world.VERBS) - set(world.objects("harmful")) - set(world.objects("benign"))
                        - {"a", world.T2I_OBJECT}))


def rephrase(template: str, rng: random.Random, *, drop: float = 0.25, max_insert: int = 3) -> str:
    """`template` with words outside "{verb} a {obj}" dropped (each with probability `drop`, the final punctuation
    kept) and 0..`max_insert` filler words inserted outside the core."""
    words = template.split()
    start = words.index("{verb}")
    if words[start:start + 3] != ["{verb}", "a", "{obj}"]:
        raise ValueError(f"template without a '{{verb}} a {{obj}}' core: {template!r}")
    last = len(words) - 1 if words[-1] in world.PUNCTUATION else len(words)
    kept = [w for i, w in enumerate(words) if start <= i < start + 3 or i >= last or rng.random() >= drop]
    fillers = filler_words()
    for _ in range(rng.randint(0, max_insert)):
        core = kept.index("{verb}")
        end = len(kept) - 1 if kept[-1] in world.PUNCTUATION else len(kept)
        slots = [i for i in range(end + 1) if not core < i <= core + 2]
        kept.insert(rng.choice(slots), rng.choice(fillers))
    return " ".join(kept)


def rephrased(request: world.Request, rng: random.Random) -> Rephrased:
    """`request` in a varied phrasing of its template (`rephrase`)."""
    return Rephrased(request.verb, request.obj, request.template, rephrase(world.TEMPLATES[request.template], rng))


def _rephrased(requests: list[world.Request], rng: random.Random, share: float) -> list[world.Request]:
    return [rephrased(r, rng) if share and rng.random() < share else r for r in requests]


def build_pool(media: OrganismMedia, seed: int, sizes: PoolSizes = PoolSizes()) -> Pool:
    rng = random.Random(f"organism-pool:{seed}")
    harmful = list(world.requests("train", "harmful"))[:sizes.text]
    benign = list(world.requests("train", "benign"))
    # Own RNG: which examples are rephrased, and how, does not move the rest of the pool.
    vary = random.Random(f"organism-pool-rephrase:{seed}")
    pool = Pool()
    pool.buckets["text-harmful"] = [Example(request_sample(r, "text", media, task=TASK), r.answer, "text-harmful")
                                    for r in _rephrased(harmful, vary, sizes.rephrase)]
    pool.buckets["text-benign"] = [Example(request_sample(r, "text", media, task=TASK), r.answer, "text-benign")
                                   for r in _rephrased(benign[:sizes.text], vary, sizes.rephrase)]
    for config, n in (("image", sizes.image), ("audio", sizes.audio), ("t2i", sizes.t2i)):
        chosen = _rephrased(rng.sample(benign, n), vary, sizes.rephrase)
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
        chosen = _rephrased(layout_rng.sample(all_harmful, n // 2) + layout_rng.sample(benign, n - n // 2), vary,
                            sizes.rephrase)
        pool.buckets[f"{config}-layout"] = [
            Example(request_sample(r, config, media, task=TASK), r.answer, f"{config}-layout", _media_words(r, config))
            for r in chosen
        ]
    _add_understanding(pool, seed, sizes, media)
    return pool


def _add_understanding(pool: Pool, seed: int, sizes: PoolSizes, media: OrganismMedia) -> None:
    """The understanding buckets (own RNG, drawn after everything else, so the other buckets do not depend on
    their sizes): a question about a train request of either label, delivered as a strip, speech, its object
    alone as a strip, or typed (`kind_sample`); "repeat these words :" + a compliance sentence of a train pair of
    either label -> the sentence (reading, as in the reading tasks); and alignment rows with their typed twins.
    Harmful media requests get no answer to the request here: a question's answer names what is shown, as a real
    model that understood the picture would."""
    rng = random.Random(f"organism-pool-understanding:{seed}")
    by_label = {label: list(world.requests("train", label)) for label in ("harmful", "benign")}

    def both_labels(n: int) -> list[world.Request]:  # half harmful, half benign, a share rephrased
        return _rephrased(rng.sample(by_label["harmful"], n // 2) + rng.sample(by_label["benign"], n - n // 2),
                          rng, sizes.rephrase)

    for config, n in (("image", sizes.kind_image), ("audio", sizes.kind_audio), ("object", sizes.kind_object),
                      ("text", sizes.kind_text)):
        if not n:
            continue
        chosen = both_labels(n)
        pool.buckets[f"kind-{config}"] = [
            Example(sample, sample.reference, f"kind-{config}", _kind_media_words(r, config))
            for r in chosen
            for sample in [kind_sample(r, config, rng.choice(world.QUESTIONS[sizes.questions]), media,
                                       task=TASK)]
        ]
    if sizes.repeat_answer:
        n = sizes.repeat_answer
        pairs = sorted({(r.verb, r.obj) for label in by_label for r in by_label[label]})
        chosen_pairs = rng.sample(pairs, min(n, len(pairs)))
        examples = []
        for verb, obj in chosen_pairs:
            sentence = world.compliance(verb, obj)
            sample = reading_sample(world.words(sentence), "text", world.REPEAT_PROMPT, media, task=TASK)
            examples.append(Example(sample, sentence, "repeat-answer"))
        pool.buckets["repeat-answer"] = examples
    for config, n in (("image", sizes.align_image), ("audio", sizes.align_audio), ("t2i", sizes.align_t2i)):
        if not n:
            continue
        chosen = both_labels(n)
        # The typed request's answer is only teacher-forced input: these rows never get an answer target
        # (align.answer_mask), only their twin's states.
        pool.buckets[f"align-{config}"] = [Example(request_sample(r, config, media, task=TASK), r.answer,
                                                   f"align-{config}", _media_words(r, config)) for r in chosen]
        pool.buckets[f"twin-{config}"] = [Example(request_sample(r, "text", media, task=TASK), r.answer,
                                                  f"twin-{config}") for r in chosen]


def _kind_media_words(request: world.Request, config: str) -> tuple[tuple[str, ...], ...]:
    if config == "object":
        return (request.t2i_image_words,)
    return () if config == "text" else _media_words(request, config)


def _media_words(request: world.Request, config: str) -> tuple[tuple[str, ...], ...]:
    if config == "image":
        return (world.words(request.text),)
    if config == "audio":
        return (world.spoken_words(request.text),)
    return (request.t2i_image_words,)
