"""`prefill` / `hidden_states`: the layer convention, read-out positions, and continuing from a KV cache."""

from __future__ import annotations

import pytest
import torch

from harness.backends.base import EMBED
from harness.records import GenerationConfig

CONFIG = GenerationConfig(max_new_tokens=5)


def _steer(direction: torch.Tensor):
    """An OmniSteer-like hook: add a vector at the last position of every forward pass."""

    def hook(hidden, state):
        out = hidden.clone()
        out[:, -1, :] += direction.to(hidden.dtype)
        return out

    return hook


def test_layer_convention_matches_output_hidden_states(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    layers = [EMBED, *range(backend.num_layers)]
    ours = backend.hidden_states(batch, layers, positions="all")
    positions = backend._prompt_position_ids(batch)  # left padding: positions count real tokens only
    with torch.no_grad():
        reference = backend.model(
            **batch.inputs, **backend._forward_extras(), position_ids=positions, output_hidden_states=True
        )
    assert len(reference.hidden_states) == backend.num_layers + 1
    for layer in layers[:-1]:  # hidden_states[L + 1] is the output of layers[L]; EMBED is index 0
        assert torch.equal(ours[layer], reference.hidden_states[layer + 1].float()), layer
    # transformers' last entry has the final norm applied: it is norm(layers[-1] output), not the raw output
    last = backend.num_layers - 1
    assert not torch.equal(ours[last], reference.hidden_states[-1].float())
    final_norm = backend._language_model().norm
    with torch.no_grad():
        torch.testing.assert_close(final_norm(ours[last]), reference.hidden_states[-1].float())


def test_last_and_mean_read_outs(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    layers = [EMBED, 0, backend.num_layers - 1]
    full = backend.hidden_states(batch, layers, positions="all")
    last = backend.hidden_states(batch, layers, positions="last")
    mean = backend.hidden_states(batch, layers, positions="mean")
    assert backend.prefill(batch, layers).hidden.keys() == set(layers)
    mask = batch.inputs["attention_mask"].bool().cpu()
    for layer in layers:
        assert last[layer].shape == (len(samples), backend.hidden_size) and last[layer].dtype == torch.float32
        assert last[layer].device.type == "cpu"
        assert torch.equal(last[layer], full[layer][:, -1, :])
        for row in range(len(samples)):
            expected = full[layer][row][mask[row]].mean(dim=0)
            torch.testing.assert_close(mean[layer][row], expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(backend.prefill(batch, layers).hidden[0], last[0])


def test_last_read_out_does_not_depend_on_the_batch(backend_and_samples):
    backend, samples = backend_and_samples
    batched = backend.hidden_states(backend.prepare(samples), [1])[1]
    for row, sample in enumerate(samples):
        single = backend.hidden_states(backend.prepare([sample]), [1])[1][0]
        torch.testing.assert_close(batched[row], single, rtol=1e-4, atol=1e-5)


def test_prefill_then_continue_equals_generate(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    expected = backend.generate_ids(batch, CONFIG)
    prefill = backend.prefill(batch, layers=[0], keep_cache=True)
    assert prefill.last_logits.shape[0] == len(samples)
    assert torch.equal(backend.generate_ids(batch, CONFIG, prefill=prefill), expected)
    # the cache is restored afterwards, so the same prefill can be continued again
    assert prefill.past_key_values.get_seq_length() == batch.inputs["input_ids"].shape[1]
    assert torch.equal(backend.generate_ids(batch, CONFIG, prefill=prefill), expected)
    texts = [o.text for o in backend.generate(batch, CONFIG, prefill=prefill)]
    assert texts == [o.text for o in backend.generate(batch, CONFIG)]


def test_prefill_then_continue_under_hooks_equals_hooked_generate(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    direction = torch.randn(backend.hidden_size, generator=torch.Generator().manual_seed(0)) * 5
    plain = backend.generate_ids(batch, CONFIG)
    with backend.layer_hooks({1: _steer(direction)}):
        steered = backend.generate_ids(batch, CONFIG)
        prefill = backend.prefill(batch, layers=[1], keep_cache=True)
        continued = backend.generate_ids(batch, CONFIG, prefill=prefill)
    assert not torch.equal(steered, plain)  # the hook matters
    assert torch.equal(continued, steered)


def test_prefill_runs_the_prompt_once(text_backend, text_samples):
    batch = text_backend.prepare(text_samples)
    prefill = text_backend.prefill(batch, keep_cache=True)
    phases = []
    with text_backend.layer_hooks({0: lambda h, s: phases.append(s.phase)}):
        text_backend.generate(batch, CONFIG, prefill=prefill)
    assert phases and set(phases) == {"decode"}


def test_prefill_must_match_the_batch(text_backend, text_samples):
    batch = text_backend.prepare(text_samples)
    with pytest.raises(ValueError, match="keep_cache"):
        text_backend.generate(batch, CONFIG, prefill=text_backend.prefill(batch))
    other = text_backend.prepare(text_samples[:2])
    with pytest.raises(ValueError, match="does not match"):
        text_backend.generate(other, CONFIG, prefill=text_backend.prefill(batch, keep_cache=True))


def test_unknown_layers_are_refused(text_backend, text_samples):
    batch = text_backend.prepare(text_samples[:1])
    with pytest.raises(ValueError, match="layer"):
        text_backend.hidden_states(batch, [text_backend.num_layers])
    with pytest.raises(ValueError, match="positions"):
        text_backend.hidden_states(batch, [0], positions="first")  # type: ignore[arg-type]
