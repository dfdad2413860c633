"""Prompt-rewriting helpers shared by the prompt defenses (Self-Reminder, AdaShield-S).

Only the last user turn is rewritten: its text parts are joined into one query (newline-separated), the
rewritten text takes the place of the first text part (after the media, as Qwen2.5-Omni expects), and media
parts keep their order. The rewritten sample keeps its id, so results line up with the undefended run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.records import ContentPart, Message, Sample

MEDIA_NOUNS: dict[str, str] = {"image": "image", "audio": "audio", "video": "video"}


def user_query(sample: Sample) -> str | None:
    """The text of the last user turn, or None when that turn has no text part (media-only)."""
    turn = _last_user_turn(sample)
    texts = [p.text or "" for p in sample.messages[turn].content if p.type == "text"]
    return "\n".join(texts) if texts else None


def media_kinds(sample: Sample) -> list[str]:
    """Media kinds of the last user turn, in their order of appearance, without repeats."""
    turn = _last_user_turn(sample)
    return list(dict.fromkeys(p.type for p in sample.messages[turn].content if p.type != "text"))


def replace_query(sample: Sample, text: str, note: dict[str, Any] | None = None) -> Sample:
    """`sample` with the last user turn's text replaced by `text` (added after the media if it had none);
    `note` goes into the sample's metadata (not part of its identity) so `row_info` can report it."""
    turn = _last_user_turn(sample)
    message = sample.messages[turn]
    parts: list[ContentPart] = []
    placed = False
    for part in message.content:
        if part.type != "text":
            parts.append(part)
        elif not placed:
            parts.append(ContentPart(type="text", text=text))
            placed = True
    if not placed:
        parts.append(ContentPart(type="text", text=text))
    messages = list(sample.messages)
    messages[turn] = Message(role=message.role, content=tuple(parts))
    metadata = {**sample.metadata, **(note or {})}
    return sample.replace(messages=tuple(messages), metadata=metadata)


def join_words(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def row_note(key: str) -> Callable[[Any, int], dict[str, Any]]:
    """A `row_info` implementation that reports `metadata[key]` of the (rewritten) sample of each row."""

    def row_info(batch: Any, row: int) -> dict[str, Any]:
        value = batch.samples[row].metadata.get(key)
        return {key: value} if value is not None else {}

    return row_info


def _last_user_turn(sample: Sample) -> int:
    for i in range(len(sample.messages) - 1, -1, -1):
        if sample.messages[i].role == "user":
            return i
    raise ValueError(f"sample {sample.id} has no user turn")
