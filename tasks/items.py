"""What loaders return (`Item`), what they get (`LoadContext`), and Item -> Sample with stable ids.

All card tasks build their Samples here, so the conventions hold for every benchmark: one user turn with media
first (image, video, audio) then text; absolute local media paths; ids `task/config/label/<hash>` where the
hash covers the source content (config, label, text, media paths relative to the dataset directory, source id
and the loader's identity fields), never absolute paths or row order, so ids agree across runs and machines;
judge templates written to metadata only where the card departs from the default for the label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.records import SAMPLE_LABELS, Sample, canonical_json, user_message
from tasks.base import stable_id
from tasks.card import DEFAULT_JUDGE_TEMPLATE, Card, TaskDataError
from tasks.media import extract_archive, materialize, resolve_path


@dataclass(frozen=True)
class Item:
    config: str
    label: str
    text: str | None = None
    image: Path | None = None
    audio: Path | None = None
    video: Path | None = None
    category: str | None = None
    reference: str | None = None
    source_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    identity: Any = None  # extra source content for the id hash (e.g. the upstream record id)
    where: str = ""  # for messages: file and row the item came from


@dataclass(frozen=True)
class LoadContext:
    """What a loader may use: the card, the dataset directory, and a per-task cache directory."""

    card: Card
    root: Path
    cache_dir: Path  # the harness cache (shared); task-specific files go below `task_cache`
    notes: list[str] = field(default_factory=list)  # what a loader tells the user (e.g. files it ignored)

    @property
    def task_cache(self) -> Path:
        return self.cache_dir / "tasks" / self.card.name

    def path(self, ref: str, base: str | Path | None = None) -> Path:
        base_dir = self.root / base if base else None
        return resolve_path(ref, self.root, base_dir)

    def materialize(self, data: bytes, kind: str, name_hint: str | None = None) -> Path:
        return materialize(data, kind, self.task_cache / "media" / kind, name_hint)

    def extract(self, archive: Path) -> Path:
        return extract_archive(archive, self.cache_dir / "archives")


def _media_ref(path: Path, root: Path, cache_dir: Path) -> str:
    for base, prefix in ((root, ""), (cache_dir, "cache:")):
        try:
            return prefix + path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def to_samples(card: Card, items: Iterable[Item], ctx: LoadContext) -> tuple[list[Sample], list[str]]:
    """Items -> Samples; returns (samples, notes). Identical items (same id) are kept once and counted."""
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    duplicates = 0
    problems: list[str] = []
    for item in items:
        cfg = card.configurations.get(item.config)
        if cfg is None:
            problems.append(f"{item.where}: configuration {item.config!r} is not in the card")
            continue
        if item.label not in SAMPLE_LABELS:
            problems.append(f"{item.where}: label must be one of {', '.join(SAMPLE_LABELS)}, got {item.label!r}")
            continue
        media = {k: getattr(item, k) for k in ("image", "audio", "video") if getattr(item, k) is not None}
        try:
            message = user_message(item.text or None, **{k: str(v) for k, v in media.items()})
        except ValueError as exc:
            problems.append(f"{item.where}: {exc}")
            continue
        content = {
            "config": item.config, "label": item.label, "text": item.text or "",
            "media": {k: _media_ref(v, ctx.root, ctx.cache_dir) for k, v in media.items()},
            "source_id": item.source_id, "identity": item.identity,
        }
        sid = f"{card.name}/{item.config}/{item.label}/{stable_id(canonical_json(content), length=16)}"
        if sid in seen:
            duplicates += 1
            continue
        metadata = dict(item.metadata)
        template = card.judge_template(item.label)
        if template != DEFAULT_JUDGE_TEMPLATE[item.label]:
            metadata["judge_template"] = template
        try:
            sample = Sample(id=sid, task=card.name, config=item.config, messages=(message,),
                            label=item.label,  # type: ignore[arg-type]
                            category=item.category, reference=item.reference, source_id=item.source_id,
                            metadata=metadata)
        except ValueError as exc:
            problems.append(f"{item.where}: {exc}")
            continue
        if sample.modality not in cfg.modalities:
            problems.append(f"{item.where}: configuration {item.config} expects modality "
                            f"{' or '.join(cfg.modalities)}, the item has {sample.modality}")
            continue
        seen[sid] = item.where
        samples.append(sample)
    if problems:
        raise TaskDataError(f"{card.where}: items that do not fit the card", tuple(problems))
    notes = [f"{duplicates} duplicate item(s) (identical content) kept once"] if duplicates else []
    return samples, notes

