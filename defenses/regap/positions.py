"""ReGap's correction inside a layer hook: which positions, and a row-wise update that leaves every other position
bit-identical. (The conventions are those of the steering contract on the `steer` branch, `defenses/steering.py`:
its `all` is ReGap's `all_prompt`; the two helpers can be unified once both are merged.)

Positions (docs/reference.md, ReGap §7):
- `all_prompt`: every real prompt token (text and modality tokens), never padding;
- `media`:      image / audio / video placeholder tokens only;
- `last`:       the last prompt token only (position T - 1 under left padding).
During decode (phase `prefill_decode` only) the single new token of every row counts as `all_prompt` and as
`last`; `media` has no decode positions.

`shift_rows` changes hidden states only where the mask is True and the row's coefficient is non-zero, through
`torch.where`, so untouched positions (and rows whose coefficient is 0) keep their exact bits. The update is
computed in float32 and cast back, so a bfloat16 model does not lose the small vector to rounding twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.backends.base import ForwardState

if TYPE_CHECKING:
    import torch

POSITION_KINDS: tuple[str, ...] = ("all_prompt", "media", "last")


def pass_shape(state: ForwardState) -> tuple[int, int]:
    """(B, T) of the hidden states in the pass `state` describes (T == 1 during decode)."""
    if state.phase == "decode":
        return state.batch_size, 1
    if state.prompt_mask is None:
        raise RuntimeError("a prefill pass without a prompt mask")
    return int(state.prompt_mask.shape[0]), int(state.prompt_mask.shape[1])


def position_mask(state: ForwardState, positions: str, device: Any = None) -> torch.Tensor | None:
    """[B, T] bool mask on `device` of the positions to change in this pass, or None for none at all."""
    import torch

    if positions not in POSITION_KINDS:
        raise ValueError(f"positions must be one of {POSITION_KINDS}, got {positions!r}")
    shape = pass_shape(state)
    if state.phase == "decode":
        if positions == "media":
            return None
        return torch.ones(shape, dtype=torch.bool, device=device)
    assert state.prompt_mask is not None
    prompt = state.prompt_mask.to(device).bool()
    if positions == "all_prompt":
        return prompt
    if positions == "media":
        if state.media_mask is None:
            raise RuntimeError("a prefill pass without a media mask")
        return prompt & state.media_mask.to(device).bool()
    last = torch.zeros(shape, dtype=torch.bool, device=device)
    last[:, -1] = True  # left padding: the last prompt token of every row is at T - 1
    return last & prompt


def shift_rows(hidden: torch.Tensor, coef: torch.Tensor, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """hidden + coef[b] * vectors[b] at the positions of `mask` [B, T]; bit-identical elsewhere.

    `coef` [B] and `vectors` [B, d] live on hidden's device; rows with coef == 0 are not touched at all.
    """
    import torch

    active = mask & (coef != 0).unsqueeze(1)
    shifted = (hidden.float() + (coef.float().unsqueeze(1) * vectors.float()).unsqueeze(1)).to(hidden.dtype)
    return torch.where(active.unsqueeze(-1), shifted, hidden)
