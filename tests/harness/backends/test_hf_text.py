"""Text backend: chat templating, system prompts, left padding and modality checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.hf_text import HFTextBackend
from harness.records import ContentPart, Message, Sample

from .conftest import make_sample


def test_template_default_system_prompt_unless_overridden(text_backend, tiny_text_path: Path):
    assert text_backend.system_prompt is None
    default = text_backend.prepare([make_sample("a", "hi")]).prompt_texts[0]
    assert default == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    custom = HFTextBackend(str(tiny_text_path), system_prompt="Be brief.")
    assert custom.prepare([make_sample("a", "hi")]).prompt_texts[0].startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n"
    )
    own = custom.prepare([make_sample("b", "hi", system="You are a pirate.")]).prompt_texts[0]
    assert own.startswith("<|im_start|>system\nYou are a pirate.<|im_end|>\n") and "Be brief." not in own


def test_multi_turn_conversation_is_kept(text_backend):
    sample = Sample(
        id="turns", task="t", config="c", label="benign",
        messages=(
            Message("user", (ContentPart("text", text="first"), ContentPart("text", text="second"))),
            Message("assistant", (ContentPart("text", text="answer"),)),
            Message("user", (ContentPart("text", text="again"),)),
        ),
    )
    text = text_backend.prepare([sample]).prompt_texts[0]
    assert "<|im_start|>user\nfirst\nsecond<|im_end|>\n<|im_start|>assistant\nanswer<|im_end|>\n" in text
    assert text.endswith("<|im_start|>user\nagain<|im_end|>\n<|im_start|>assistant\n")


def test_batches_are_left_padded(text_backend, text_samples):
    batch = text_backend.prepare(text_samples)
    mask = batch.inputs["attention_mask"]
    assert bool(mask[:, -1].all()) and not bool(mask[:, 0].all())
    pad = text_backend.tokenizer.pad_token_id
    assert bool((batch.inputs["input_ids"][mask == 0] == pad).all())


def test_media_is_refused_by_a_text_backend(text_backend, media):
    with pytest.raises(ValueError, match="'img'.*image.*hf-text"):
        text_backend.prepare([make_sample("img", "what is this", image=media.image)])


def test_construction_checks_dtype_and_device():
    with pytest.raises(ValueError, match="dtype"):
        HFTextBackend("x", dtype="int8")
    with pytest.raises(ValueError, match="device"):
        HFTextBackend("x", device="tpu")


def test_loading_is_lazy_and_idempotent(tiny_text_path: Path):
    backend = HFTextBackend(str(tiny_text_path))
    assert backend._model is None  # nothing loaded at construction
    backend.load()
    model = backend.model
    backend.load()
    assert backend.model is model
    info = backend.info()
    assert info["model_class"] == "Qwen2ForCausalLM" and info["system_prompt"] is None
    assert info["chat_template_hash"]
