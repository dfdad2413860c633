"""Batched generation on every backend: equal to one-at-a-time output and to `model.generate`."""

from __future__ import annotations

import pytest
import torch

from harness.records import GenerationConfig

GREEDY = GenerationConfig(max_new_tokens=6)


def test_batched_greedy_equals_one_at_a_time(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    lengths = batch.inputs["attention_mask"].sum(dim=1)
    assert len(set(lengths.tolist())) == len(samples)  # mixed lengths: every row but the longest is padded
    batched = backend.generate_ids(batch, GREEDY)
    assert batched.shape[1] == GREEDY.max_new_tokens  # some row decoded all the way (no trivial early stop)
    for row, sample in enumerate(samples):
        single = backend.generate_ids(backend.prepare([sample]), GREEDY)[0]
        assert batched[row, : len(single)].tolist() == single.tolist(), sample.id
    texts = [o.text for o in backend.generate(batch, GREEDY)]
    assert texts == [backend.generate(backend.prepare([s]), GREEDY)[0].text for s in samples]


def test_greedy_equals_transformers_generate(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    ours = backend.generate_ids(batch, GREEDY)
    reference = backend.model.generate(
        **batch.inputs, **backend._forward_extras(), do_sample=False, max_new_tokens=GREEDY.max_new_tokens,
        eos_token_id=backend.eos_ids(), pad_token_id=backend.pad_id(),
    )
    assert ours.tolist() == reference[:, batch.inputs["input_ids"].shape[1]:].cpu().tolist()


def test_outputs_count_prompt_and_new_tokens(backend_and_samples):
    backend, samples = backend_and_samples
    batch = backend.prepare(samples)
    outputs = backend.generate(batch, GenerationConfig(max_new_tokens=3))
    assert [o.n_prompt_tokens for o in outputs] == batch.inputs["attention_mask"].sum(dim=1).tolist()
    assert all(1 <= o.n_new_tokens <= 3 for o in outputs)
    assert all(isinstance(o.text, str) for o in outputs)


def test_repetition_penalty_ignores_padding(text_backend, text_samples):
    config = GenerationConfig(max_new_tokens=6, repetition_penalty=1.3)
    batch = text_backend.prepare(text_samples)
    batched = text_backend.generate_ids(batch, config)
    plain = text_backend.generate_ids(batch, GREEDY)
    assert not torch.equal(batched, plain)  # the penalty does act
    for row, sample in enumerate(text_samples):
        single = text_backend.generate_ids(text_backend.prepare([sample]), config)[0]
        assert batched[row, : len(single)].tolist() == single.tolist()


def test_sampling_is_reproducible_under_a_seed(text_backend, text_samples):
    config = GenerationConfig(max_new_tokens=8, do_sample=True, temperature=1.5, top_k=50, top_p=0.95)
    batch = text_backend.prepare(text_samples)
    torch.manual_seed(0)
    first = text_backend.generate_ids(batch, config)
    torch.manual_seed(0)
    assert torch.equal(text_backend.generate_ids(batch, config), first)


def test_bad_generation_config_is_refused(text_backend, text_samples):
    batch = text_backend.prepare(text_samples[:1])
    with pytest.raises(ValueError, match="max_new_tokens"):
        text_backend.generate(batch, GenerationConfig(max_new_tokens=0))
