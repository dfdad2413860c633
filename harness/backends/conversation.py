"""Turning a `Sample` into the chat messages a `transformers` chat template expects (no heavy imports)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from harness.records import ContentPart, Sample

ContentStyle = Literal["parts", "string"]


def check_modalities(sample: Sample, supported: Collection[str], backend: str) -> None:
    unsupported = sorted({p.type for p in sample.parts} - set(supported))
    if unsupported:
        raise ValueError(
            f"sample {sample.id!r} has {'/'.join(unsupported)} input, which backend {backend!r} does not accept "
            f"(it accepts {', '.join(sorted(supported))})"
        )


def build_messages(sample: Sample, system_prompt: str | None, style: ContentStyle) -> list[dict[str, Any]]:
    """Chat messages for `sample`: its own system turn if it has one, else `system_prompt` (when not None).

    `style="parts"` gives content lists ({"type": "image", "image": path}, ..., {"type": "text", ...}) in the
    sample's part order, which already puts media before text; `style="string"` joins the text parts of each
    turn with newlines for text-only templates.
    """
    messages: list[dict[str, Any]] = []
    if system_prompt is not None and not any(m.role == "system" for m in sample.messages):
        messages.append({"role": "system", "content": system_prompt})
    for message in sample.messages:
        if style == "string" or message.role == "system":
            content: Any = "\n".join(p.text or "" for p in message.content if p.type == "text")
        else:
            content = [_part(p) for p in message.content]
        messages.append({"role": message.role, "content": content})
    return messages


def _part(part: ContentPart) -> dict[str, Any]:
    if part.type == "text":
        return {"type": "text", "text": part.text}
    return {"type": part.type, part.type: part.path}


def media_in_order(samples: list[Sample]) -> list[ContentPart]:
    """Media parts of a batch in prompt order (row by row), the order processors fill placeholders in."""
    return [p for s in samples for m in s.messages for p in m.content if p.type != "text"]
