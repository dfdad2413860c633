"""Record types shared by tasks, backends, defenses, judges and the run store.

Everything that is written to disk is a dataclass with `to_dict` / `from_dict`, so the JSONL files in a run
directory are plain JSON and can be read without this package.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

MediaKind = Literal["image", "audio", "video"]
PartType = Literal["text", "image", "audio", "video"]
SampleLabel = Literal["harmful", "benign", "utility"]
VerdictLabel = Literal["unsafe", "safe", "refusal", "unknown"]

SAMPLE_LABELS: tuple[str, ...] = ("harmful", "benign", "utility")
VERDICT_LABELS: tuple[str, ...] = ("unsafe", "safe", "refusal", "unknown")
MEDIA_KINDS: tuple[str, ...] = ("image", "audio", "video")
# Order in which media parts are placed before the text in a user turn (Qwen2.5-Omni convention).
MEDIA_ORDER: tuple[str, ...] = ("image", "video", "audio")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the input of every content hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def content_hash(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class ContentPart:
    """One part of a chat message: text, or a reference to a media file (a local path)."""

    type: PartType
    text: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if self.type == "text":
            if self.text is None or self.path is not None:
                raise ValueError("a text part needs `text` and no `path`")
        elif self.type in MEDIA_KINDS:
            if not self.path or self.text is not None:
                raise ValueError(f"a {self.type} part needs `path` and no `text`")
        else:
            raise ValueError(f"unknown content part type {self.type!r}")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.text is not None:
            d["text"] = self.text
        if self.path is not None:
            d["path"] = self.path
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContentPart:
        return cls(type=d["type"], text=d.get("text"), path=d.get("path"))


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: tuple[ContentPart, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "content": [p.to_dict() for p in self.content]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(role=d["role"], content=tuple(ContentPart.from_dict(p) for p in d["content"]))


def user_message(text: str | None = None, **media: str | None) -> Message:
    """A user turn with media first (image, video, audio) and the text last, as Qwen2.5-Omni expects."""
    parts: list[ContentPart] = []
    for kind in MEDIA_ORDER:
        path = media.pop(kind, None)
        if path:
            parts.append(ContentPart(type=kind, path=str(path)))  # type: ignore[arg-type]
    if media:
        raise TypeError(f"unknown media kinds {sorted(media)}")
    if text:
        parts.append(ContentPart(type="text", text=text))
    if not parts:
        raise ValueError("a user message needs text or media")
    return Message(role="user", content=tuple(parts))


@dataclass(frozen=True)
class Sample:
    """One benchmark item, in the same format for every task.

    `config` is the task's modality configuration (e.g. `t2i` for AdvBench-Omni); `modality` is derived from
    the message parts and is what defenses key on (e.g. `image+text`).
    """

    id: str
    task: str
    config: str
    messages: tuple[Message, ...]
    label: SampleLabel
    category: str | None = None
    reference: str | None = None
    source_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.label not in SAMPLE_LABELS:
            raise ValueError(f"sample {self.id}: label must be one of {SAMPLE_LABELS}, got {self.label!r}")
        if not self.messages:
            raise ValueError(f"sample {self.id}: no messages")

    @property
    def parts(self) -> tuple[ContentPart, ...]:
        return tuple(p for m in self.messages for p in m.content)

    @property
    def modality(self) -> str:
        """Sorted `+`-joined set of part types, e.g. `audio+image+text`."""
        return "+".join(sorted({p.type for p in self.parts}))

    @property
    def media(self) -> tuple[ContentPart, ...]:
        return tuple(p for p in self.parts if p.type != "text")

    @property
    def text(self) -> str:
        """All text parts of user turns joined by newlines (empty for media-only samples)."""
        return "\n".join(p.text or "" for m in self.messages if m.role == "user" for p in m.content if p.type == "text")

    def replace(self, **changes: Any) -> Sample:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "config": self.config,
            "label": self.label,
            "modality": self.modality,
            "messages": [m.to_dict() for m in self.messages],
            "category": self.category,
            "reference": self.reference,
            "source_id": self.source_id,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        return cls(
            id=d["id"],
            task=d["task"],
            config=d["config"],
            messages=tuple(Message.from_dict(m) for m in d["messages"]),
            label=d["label"],
            category=d.get("category"),
            reference=d.get("reference"),
            source_id=d.get("source_id"),
            metadata=dict(d.get("metadata") or {}),
        )


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings; greedy by default so runs are reproducible and batch-size independent."""

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenerationConfig:
        return cls(**d)


@dataclass
class Generation:
    """A model answer for one sample, as appended to `generations.jsonl`."""

    sample_id: str
    task: str
    config: str
    label: str
    modality: str
    response: str
    n_prompt_tokens: int = 0
    n_new_tokens: int = 0
    # Per-sample information a defense wants on record (ReGap's z and lambda, a guard's block decision...).
    defense_info: dict[str, Any] = field(default_factory=dict)
    # Wall time of the batch this sample was generated in, divided by the batch size.
    seconds: float = 0.0
    batch_size: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Generation:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Verdict:
    """A judge's decision on one generation, as appended to `verdicts.jsonl` (one verdict set per judge id)."""

    sample_id: str
    judge: str  # judge id, e.g. "keyword:default@1a2b3c4d"
    label: VerdictLabel
    raw: str | None = None  # the judge's raw output (or the matched keyword)
    judge_model: str | None = None
    template_hash: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.label not in VERDICT_LABELS:
            raise ValueError(f"verdict label must be one of {VERDICT_LABELS}, got {self.label!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class TaskRef:
    """A task as selected for a run: name, card version and the chosen configurations (empty = all)."""

    name: str
    version: str
    configs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "configs": list(self.configs)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskRef:
        return cls(name=d["name"], version=str(d["version"]), configs=tuple(d.get("configs") or ()))


RUN_SPEC_SCHEMA = "harness.runspec/1"


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's generations. Its content hash is the run id.

    The judge is recorded here as the run's default judge but is *not* part of the id: generations do not
    depend on it, and further judges append their own verdict sets to the same run (`harness score`).
    Batch size is not part of the id either, because batched greedy output equals one-at-a-time output.
    """

    model: str
    backend: str
    defense: str
    tasks: tuple[TaskRef, ...]
    model_revision: str | None = None
    dtype: str = "float32"
    defense_params: dict[str, Any] = field(default_factory=dict)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    limit: int | None = None
    seed: int = 0
    system_prompt: str | None = None
    judge: str = "keyword"
    judge_params: dict[str, Any] = field(default_factory=dict)
    # lm-eval tasks run with the same model and defense (`harness run --utility`); recorded (and so part of the
    # run id) only when given, so runs without utility keep their ids.
    utility: tuple[str, ...] = ()
    # The defense's version (`Defense.version`); recorded, and so part of the run id, only when it is not "1", so
    # runs of defenses that never changed keep their ids.
    defense_version: str = "1"
    # A local model folder's fingerprint (harness/model_files.py): recorded, and so part of the run id, only for a
    # model given as a folder, so a model retrained or replaced at the same path gets a new run folder.
    model_fingerprint: str | None = None

    def identity(self) -> dict[str, Any]:
        d = self.to_dict()
        for key in ("judge", "judge_params", "schema"):
            d.pop(key)
        return d

    @property
    def run_id(self) -> str:
        return f"{slug(self.model)}__{slug(self.defense)}__{content_hash(self.identity(), 12)}"

    def to_dict(self) -> dict[str, Any]:
        d = {
            "schema": RUN_SPEC_SCHEMA,
            "model": self.model,
            "model_revision": self.model_revision,
            "backend": self.backend,
            "dtype": self.dtype,
            "defense": self.defense,
            "defense_params": self.defense_params,
            "tasks": [t.to_dict() for t in self.tasks],
            "generation": self.generation.to_dict(),
            "limit": self.limit,
            "seed": self.seed,
            "system_prompt": self.system_prompt,
            "judge": self.judge,
            "judge_params": self.judge_params,
        }
        if self.utility:
            d["utility"] = list(self.utility)
        if self.defense_version != "1":
            d["defense_version"] = self.defense_version
        if self.model_fingerprint is not None:
            d["model_fingerprint"] = self.model_fingerprint
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        return cls(
            model=d["model"],
            model_revision=d.get("model_revision"),
            backend=d["backend"],
            dtype=d.get("dtype", "float32"),
            defense=d["defense"],
            defense_params=dict(d.get("defense_params") or {}),
            tasks=tuple(TaskRef.from_dict(t) for t in d["tasks"]),
            generation=GenerationConfig.from_dict(d.get("generation") or {}),
            limit=d.get("limit"),
            seed=int(d.get("seed", 0)),
            system_prompt=d.get("system_prompt"),
            judge=d.get("judge", "keyword"),
            judge_params=dict(d.get("judge_params") or {}),
            utility=tuple(d.get("utility") or ()),
            defense_version=str(d.get("defense_version", "1")),
            model_fingerprint=d.get("model_fingerprint"),
        )


def slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in text.rsplit("/", 1)[-1])
    return keep.strip("-.")[:40] or "x"
