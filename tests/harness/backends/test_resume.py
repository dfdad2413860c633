"""Resumable prefills (harness/backends/resume.py): a prefill resumed from a checkpoint at layer k under other
hooks from k on gives exactly what a full prefill under those hooks gives, also when the checkpointed pass was
stopped early by a hook, and without running the media encoders or the layers below k again."""

from __future__ import annotations

import pytest
import torch

from harness.backends.base import EMBED
from harness.backends.resume import Checkpoint
from harness.records import GenerationConfig

CONFIG = GenerationConfig(max_new_tokens=5)


class _Stop(Exception):
    pass


def _shift(direction: torch.Tensor):
    def hook(hidden, state):
        if state.phase != "prefill":
            return None
        return hidden + direction.to(hidden.dtype)

    return hook


def _stop(hidden, state):
    if state.phase == "prefill":
        raise _Stop
    return None


@pytest.mark.parametrize("layer", [EMBED, 0, 1])
def test_resumed_prefill_equals_a_full_prefill_under_the_final_hooks(backend_and_samples, layer):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    gen = torch.Generator().manual_seed(1)
    probe_v = torch.randn(backend.hidden_size, generator=gen) * 3
    final_v = torch.randn(backend.hidden_size, generator=gen) * 3
    with backend.layer_hooks({layer: _shift(final_v)}):
        full = backend.prefill(batch, keep_cache=True)
        expected = backend.generate_ids(batch, CONFIG)
    checkpoint = Checkpoint(layer)
    # the probe: other hooks from `layer` on, stopped right after the last layer it needs
    with backend.layer_hooks({layer: _shift(probe_v), backend.num_layers - 1: _stop}):
        with pytest.raises(_Stop):
            backend.prefill(batch, keep_cache=True, checkpoint=checkpoint)
    assert checkpoint.ready
    with backend.layer_hooks({layer: _shift(final_v)}):
        resumed = backend.prefill(batch, keep_cache=True, resume=checkpoint)
        continued = backend.generate_ids(batch, CONFIG, prefill=resumed)
    torch.testing.assert_close(resumed.last_logits, full.last_logits, rtol=1e-5, atol=1e-5)
    assert torch.equal(continued, expected)


def test_resume_skips_the_encoders_and_the_layers_below(omni_backend, omni_samples):
    backend = omni_backend
    batch = backend.prepare(omni_samples)
    checkpoint = Checkpoint(1)
    backend.prefill(batch, checkpoint=checkpoint)
    calls: list[str] = []
    modules = {"layer0": backend.decoder_layers()[0].self_attn, "layer1": backend.decoder_layers()[1].self_attn,
               "layer2": backend.decoder_layers()[2].self_attn, "vision": backend.model.model.visual,
               "audio": backend.model.model.audio_tower}
    handles = [m.register_forward_hook(lambda *_a, name=name: calls.append(name)) for name, m in modules.items()]
    try:
        backend.prefill(batch, keep_cache=True, resume=checkpoint)
    finally:
        for h in handles:
            h.remove()
    assert calls == ["layer2"]


def test_replaying_puts_back_a_forward_wrapper_the_module_already_had():
    from harness.backends.resume import replaying

    class Cache:
        def __init__(self):
            self.updates = []

        def update(self, key, value, index):
            self.updates.append(index)

    class Stored:
        layers = [type("L", (), {"keys": torch.zeros(1), "values": torch.zeros(1)})()]

    layer = torch.nn.Linear(2, 2)
    wrapper = layer.forward  # a bound method stored as an instance attribute, as accelerate does
    layer.forward = wrapper
    checkpoint = Checkpoint(0, embeds=torch.zeros(1, 1, 2), hidden=torch.ones(1, 1, 2), cache=Stored())
    cache = Cache()
    with replaying([layer], checkpoint, cache):
        assert torch.equal(layer(torch.zeros(1, 1, 2)), torch.ones(1, 1, 2))
    assert cache.updates == [0] and layer.__dict__["forward"] is wrapper
    plain = torch.nn.Linear(2, 2)
    with replaying([plain], checkpoint, Cache()):
        pass
    assert "forward" not in plain.__dict__
