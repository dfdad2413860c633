"""ReGap's position masks and the row-wise update: exactly the named positions change, nothing else."""

from __future__ import annotations

import pytest
import torch

from defenses.regap.positions import position_mask, shift_rows
from harness.backends.base import ForwardState, PreparedBatch


def _state(phase: str, prompt=None, media=None, batch_size: int = 0) -> ForwardState:
    from harness.records import Sample, user_message

    rows = [Sample(id=f"s{i}", task="t", config="c", messages=(user_message("x"),), label="benign")
            for i in range(batch_size)]
    batch = PreparedBatch(samples=rows, inputs={}, prompt_texts=[])
    return ForwardState(phase=phase, batch=batch, prompt_mask=prompt, media_mask=media)  # type: ignore[arg-type]


def test_position_masks_and_rowwise_shift_leave_other_positions_bit_identical():
    prompt = torch.tensor([[False, True, True, True], [True, True, True, True]])  # row 0 left-padded
    media = torch.tensor([[False, True, True, False], [False, False, False, False]])
    hidden = torch.randn(2, 4, 3)
    pre = _state("prefill", prompt, media)
    assert torch.equal(position_mask(pre, "all_prompt"), prompt)
    assert torch.equal(position_mask(pre, "media"), media)
    assert torch.equal(position_mask(pre, "last"), torch.tensor([[False, False, False, True]] * 2))
    dec = _state("decode", batch_size=2)
    assert position_mask(dec, "media") is None
    assert bool(position_mask(dec, "all_prompt").all())
    vec = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out = shift_rows(hidden, torch.tensor([0.5, 0.0]), vec, prompt)
    assert torch.equal(out[1], hidden[1])  # coefficient 0: the row is not touched at all
    assert torch.equal(out[0, 0], hidden[0, 0])  # padding is never touched
    assert torch.allclose(out[0, 1:], hidden[0, 1:] + 0.5 * vec[0])
    with pytest.raises(ValueError):
        position_mask(pre, "everything")
