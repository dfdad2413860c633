"""`layer_hooks`: forward states per pass, masks, replacement semantics and clean removal."""

from __future__ import annotations

import pytest
import torch

from harness.backends.base import EMBED, ForwardState
from harness.records import GenerationConfig


def _installed_hooks(backend) -> int:
    layers = backend.decoder_layers()
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in layers)


def test_hooks_see_one_prefill_then_decode_steps(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    seen: list[tuple[str, int, tuple[int, ...], ForwardState]] = []

    def record(hidden, state):
        seen.append((state.phase, state.step, tuple(hidden.shape), state))

    config = GenerationConfig(max_new_tokens=5)
    with backend.layer_hooks({1: record}):
        outputs = backend.generate(batch, config)
    steps = max(o.n_new_tokens for o in outputs)
    b, t = batch.inputs["input_ids"].shape
    d = backend.hidden_size
    assert [(phase, step, shape) for phase, step, shape, _ in seen] == (
        [("prefill", 0, (b, t, d))] + [("decode", k, (b, 1, d)) for k in range(1, steps)]
    )
    prefill_state = seen[0][3]
    assert prefill_state.batch is batch and prefill_state.rows == samples and prefill_state.batch_size == b
    assert torch.equal(prefill_state.prompt_mask, batch.inputs["attention_mask"].bool())
    assert prefill_state.media_mask.shape == (b, t)
    assert all(s.prompt_mask is None and s.media_mask is None for _, _, _, s in seen[1:])


def test_single_token_prompt_is_still_prefill(text_backend, text_samples):
    # Phase comes from the backend's own loop, not from T > 1: a decode step and a 1-token prompt look alike.
    batch = text_backend.prepare(text_samples[:1])
    batch.inputs = {k: v[:, -1:] for k, v in batch.inputs.items()}
    phases = []
    with text_backend.layer_hooks({0: lambda h, s: phases.append((s.phase, h.shape[1]))}):
        text_backend.generate(batch, GenerationConfig(max_new_tokens=2))
    assert phases[0] == ("prefill", 1) and phases[1:] == [("decode", 1)] * (len(phases) - 1)


def test_media_mask_marks_exactly_the_placeholder_tokens(omni_backend, omni_samples):
    batch = omni_backend.prepare(omni_samples)
    masks = {}

    def grab(hidden, state):
        masks["media"] = state.media_mask

    with omni_backend.layer_hooks({EMBED: grab}):
        omni_backend.prefill(batch)
    config = omni_backend.model.config
    ids = batch.inputs["input_ids"]
    expected = (ids == config.image_token_id) | (ids == config.video_token_id) | (ids == config.audio_token_id)
    assert torch.equal(masks["media"], expected)
    per_row = masks["media"].sum(dim=1).tolist()
    assert per_row[0] == 0 and per_row[4] == 0  # text-only rows
    assert all(n > 0 for i, n in enumerate(per_row) if i not in (0, 4))
    image_tokens = int(batch.inputs["image_grid_thw"][0].prod()) // 4  # spatial merge 2 x 2
    assert per_row[1] == image_tokens
    assert not bool((masks["media"] & ~batch.inputs["attention_mask"].bool()).any())  # never on padding


def test_hook_returning_none_leaves_outputs_bit_identical(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    config = GenerationConfig(max_new_tokens=4)
    plain_ids = backend.generate_ids(batch, config)
    plain_prefill = backend.prefill(batch, layers=list(range(-1, backend.num_layers)), keep_cache=True)
    noop = {layer: (lambda h, s: None) for layer in range(-1, backend.num_layers)}
    with backend.layer_hooks(noop):
        hooked_ids = backend.generate_ids(batch, config)
        hooked_prefill = backend.prefill(batch, layers=list(range(-1, backend.num_layers)), keep_cache=True)
    assert torch.equal(plain_ids, hooked_ids)
    assert torch.equal(plain_prefill.last_logits, hooked_prefill.last_logits)
    for layer, value in plain_prefill.hidden.items():
        assert torch.equal(value, hooked_prefill.hidden[layer])


def test_replacing_hooks_change_outputs_and_run_in_order(text_backend, text_samples):
    batch = text_backend.prepare(text_samples)
    plain = text_backend.prefill(batch, layers=[0, 1], keep_cache=True)
    calls = []

    def add(value):
        def hook(hidden, state):
            calls.append(value)
            return hidden + value

        return hook

    with text_backend.layer_hooks({0: [add(1.0), add(2.0)]}):
        hooked = text_backend.prefill(batch, layers=[0, 1], keep_cache=True)
    assert calls == [1.0, 2.0]
    torch.testing.assert_close(hooked.hidden[0], plain.hidden[0] + 3.0)  # read-outs see the hooked output
    assert not torch.allclose(hooked.hidden[1], plain.hidden[1])  # and later layers consume it
    assert not torch.equal(hooked.last_logits, plain.last_logits)


def test_embed_hook_replaces_the_input_of_the_first_layer(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    plain = backend.prefill(batch, layers=[EMBED, 0])
    with backend.layer_hooks({EMBED: lambda h, s: torch.zeros_like(h)}):
        zeroed = backend.prefill(batch, layers=[EMBED, 0])
    assert torch.count_nonzero(zeroed.hidden[EMBED]) == 0
    assert not torch.allclose(zeroed.hidden[0], plain.hidden[0])


def test_raising_hook_leaves_no_hooks_installed(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples[:2])
    before = _installed_hooks(backend)

    def boom(hidden, state):
        if state.phase == "decode":
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with backend.layer_hooks({EMBED: lambda h, s: None, 0: boom, 1: lambda h, s: None}):
            backend.generate(batch, GenerationConfig(max_new_tokens=3))
    assert _installed_hooks(backend) == before
    assert backend._state is None
    # and the backend still works, unhooked
    assert len(backend.generate(batch, GenerationConfig(max_new_tokens=2))) == 2


def test_hooks_are_removed_on_normal_exit_and_checked_up_front(text_backend):
    before = _installed_hooks(text_backend)
    with text_backend.layer_hooks({0: lambda h, s: None, 2: [lambda h, s: None, lambda h, s: None]}):
        assert _installed_hooks(text_backend) == before + 2
    assert _installed_hooks(text_backend) == before
    for bad in (text_backend.num_layers, -2, True, "1"):
        with pytest.raises(ValueError):
            with text_backend.layer_hooks({bad: lambda h, s: None}):
                pass
    assert _installed_hooks(text_backend) == before


def test_wrong_shape_and_foreign_forwards_are_errors(text_backend, text_samples):
    batch = text_backend.prepare(text_samples[:1])
    with pytest.raises(ValueError, match="shape"):
        with text_backend.layer_hooks({0: lambda h, s: h[:, :1]}):
            text_backend.prefill(batch)
    with text_backend.layer_hooks({0: lambda h, s: None}):
        with pytest.raises(RuntimeError, match="outside"):
            text_backend.model(**batch.inputs)  # not a backend forward: no ForwardState to give
