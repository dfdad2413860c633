"""Where the request itself sits in a prompt [ours]: the positions that carry the user's words, without the chat
template or system prompt around them.

- a row with media: its media placeholder tokens (what a modality encoder turned the request into);
- a typed (text-only) row: the tokens of its typed text, found by comparing the row's prompt with the same chat
  template around an empty request (common prefix and suffix are template).

A paired difference between the two readings compares the same words delivered in two modalities, which is what a
per-token drift (e.g. a constant vector a media encoder adds to every token it emits) needs: the last prompt
token is a template token, where such a drift is invisible at the input embeddings.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from harness.records import ContentPart, Message

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ModelBackend, PreparedBatch
    from harness.records import Sample


def _empty_request(sample: Sample) -> Sample:
    """The same conversation with an empty typed request (system turns kept)."""
    messages = tuple(m if m.role != "user" else Message(role="user", content=(ContentPart(type="text", text=""),))
                     for m in sample.messages)
    return dataclasses.replace(sample, messages=messages)


def _unpadded(ids: torch.Tensor, mask: torch.Tensor) -> list[int]:
    return ids[mask.bool()].tolist()


def typed_request_mask(backend: ModelBackend, batch: PreparedBatch) -> torch.Tensor:
    """[B, T] bool (CPU): the typed request's tokens of every text-only row (False on rows with media)."""
    import torch

    ids = batch.inputs["input_ids"].cpu()
    attention = batch.inputs["attention_mask"].cpu()
    out = torch.zeros_like(ids, dtype=torch.bool)
    rows = [i for i, s in enumerate(batch.samples) if s.modality == "text"]
    if not rows:
        return out
    templates: dict[int, list[int]] = {}
    empty = backend.prepare([_empty_request(batch.samples[i]) for i in rows])
    e_ids, e_mask = empty.inputs["input_ids"].cpu(), empty.inputs["attention_mask"].cpu()
    for j, i in enumerate(rows):
        templates[i] = _unpadded(e_ids[j], e_mask[j])
    width = ids.shape[1]
    for i in rows:
        row, template = _unpadded(ids[i], attention[i]), templates[i]
        prefix = 0
        while prefix < min(len(row), len(template)) and row[prefix] == template[prefix]:
            prefix += 1
        suffix = 0
        while (suffix < min(len(row), len(template)) - prefix
               and row[len(row) - 1 - suffix] == template[len(template) - 1 - suffix]):
            suffix += 1
        start = width - len(row)  # left padding: the real tokens end at T - 1
        if len(row) - suffix <= prefix:
            raise ValueError(f"sample {batch.samples[i].id}: no typed request found between the chat template's "
                             "prefix and suffix")
        out[i, start + prefix:start + len(row) - suffix] = True
    return out


def request_mask(typed: torch.Tensor, prompt_mask: torch.Tensor, media_mask: torch.Tensor) -> torch.Tensor:
    """[B, T] bool on media_mask's device: media placeholders for rows with media, typed words for the others."""
    media = prompt_mask.bool() & media_mask.bool()
    has_media = media.any(dim=1, keepdim=True)
    return media | (~has_media & typed.to(media.device))
