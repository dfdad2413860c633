"""Hook for the OmniSteer authors' evaluation JSONL (the input of their runner), one file per benchmark.

One object per line: `id`, `type` (`harmful` | `safe`; absent = harmful, as their scorer reads it),
`modality` (`text`, `image_text`, `audio`, `text_video`, `image_audio_text`, `video_audio_text`), `text`, and
`image` / `audio` / `video` paths relative to the dataset directory (or absolute paths of the authors'
machines, re-rooted). Their runner gives the model a part only when `modality` names it and the record has
it, so an `audio` record's `text` (the transcript of the speech) is not an input; we read it the same way.
A modality outside that vocabulary is refused by name.

Card options per configuration: `file` (the JSONL name, looked up in `data/`, then the dataset directory),
`judge_template` (where the authors judge this benchmark with another template than the label's default).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.card import JUDGE_TEMPLATES, TaskDataError
from tasks.items import Item, LoadContext

EVAL_MODALITIES: tuple[str, ...] = ("text", "image_text", "audio", "text_video", "image_audio_text",
                                    "video_audio_text")
PARTS: tuple[str, ...] = ("text", "image", "audio", "video")


def parse_eval_modality(value: Any, where: str) -> frozenset[str]:
    tokens = str(value or "").strip().lower().split("_")
    if any(t not in PARTS for t in tokens) or len(set(tokens)) != len(tokens):
        raise TaskDataError(f"{where}: unknown modality {value!r} (known: {', '.join(EVAL_MODALITIES)})")
    return frozenset(tokens)


def _file(lc: LoadContext, config: str) -> Path:
    name = lc.card.configurations[config].options.get("file")
    if not name:
        raise TaskDataError(f"{lc.card.where}: configuration {config} has no options.file")
    for candidate in (lc.root / "data" / str(name), lc.root / str(name)):
        if candidate.is_file():
            return candidate
    raise TaskDataError(f"{lc.card.where}: configuration {config}: {name} not found in {lc.root / 'data'} or "
                        f"{lc.root}")


def load(lc: LoadContext, configs: Sequence[str]) -> list[Item]:
    items: list[Item] = []
    problems: list[str] = []
    for config in configs:
        template = lc.card.configurations[config].options.get("judge_template")
        if template is not None and template not in JUDGE_TEMPLATES:
            raise TaskDataError(f"{lc.card.where}: configurations.{config}.options.judge_template: unknown "
                                f"template {template!r} (known: {', '.join(JUDGE_TEMPLATES)})")
        path = _file(lc, config)
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            where = f"{path}:{i + 1}"
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise TaskDataError(f"{where}: not valid JSON ({exc})") from None
            if not isinstance(rec, Mapping):
                raise TaskDataError(f"{where}: expected a JSON object, got {type(rec).__name__}")
            try:
                items.append(_item(lc, rec, config, template, where))
            except TaskDataError:
                raise
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
    if problems:
        raise TaskDataError(f"{lc.card.where}: records that cannot be read", tuple(problems))
    return items


def _item(lc: LoadContext, rec: Mapping[str, Any], config: str, template: str | None, where: str) -> Item:
    if "modality" not in rec:
        raise ValueError("no modality")
    parts = parse_eval_modality(rec["modality"], where)  # TaskDataError: one line, stops the load
    kind = str(rec.get("type", "harmful")).strip().lower()
    if kind not in ("harmful", "safe"):
        raise ValueError(f"unknown type {rec.get('type')!r} (expected harmful / safe)")
    label = "harmful" if kind == "harmful" else "benign"
    media = {k: str(rec[k]) for k in ("image", "audio", "video") if k in parts and rec.get(k)}
    missing = [k for k in parts - {"text"} if k not in media]
    if missing:
        raise ValueError(f"modality {rec['modality']!r} but no {', '.join(sorted(missing))}")
    text = str(rec["text"]) if "text" in parts and rec.get("text") not in (None, "") else None
    metadata: dict[str, Any] = {"reference_modality": rec["modality"]}
    if rec.get("id") is not None:
        metadata["record_id"] = str(rec["id"])
    if text is None and rec.get("text"):
        metadata["transcript"] = str(rec["text"])  # e.g. what an audio item says; not given to the model
    if template:
        metadata["judge_template"] = template
    return Item(config=config, label=label, text=text, source_id=f"{config}/{rec.get('id')}",
                metadata=metadata, identity=rec.get("id"), where=where,
                **{k: lc.path(v) for k, v in media.items()})
