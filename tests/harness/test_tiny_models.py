"""Tiny checkpoints: tokenizer coverage, determinism, atomic caching, and loading through `from_pretrained`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness import tiny_models
from harness.tiny_models import build_tiny_model, ensure_tiny_model
from harness.tiny_tokenizer import VOCAB_SIZE, build_tokenizer


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_tokenizer_round_trips_arbitrary_text_and_keeps_specials_atomic():
    tok = build_tokenizer("tiny-omni")
    text = "Hello, World! ~`{}|\\ 123 \t tab\nnewline ünïcødé 日本語 🙂"
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok.decode(ids) == text
    assert max(ids) < VOCAB_SIZE and len(tok) <= VOCAB_SIZE
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|IMAGE|>", "<|AUDIO|>", "<|VIDEO|>",
                    "<|vision_bos|>", "<|vision_eos|>", "<|audio_bos|>", "<|audio_eos|>"):
        assert tok(f"a{special}b", add_special_tokens=False).input_ids[1] == tok.convert_tokens_to_ids(special)
    assert (tok.image_token, tok.audio_token, tok.video_token) == ("<|IMAGE|>", "<|AUDIO|>", "<|VIDEO|>")
    assert tok.image_token_id == tok.convert_tokens_to_ids("<|IMAGE|>")
    assert tok.vision_bos_token == "<|vision_bos|>" and tok.audio_eos_token == "<|audio_eos|>"


def test_build_is_deterministic_for_a_seed(tmp_path: Path):
    a = build_tiny_model("tiny-text", tmp_path / "a", seed=3)
    b = build_tiny_model("tiny-text", tmp_path / "b", seed=3)
    c = build_tiny_model("tiny-text", tmp_path / "c", seed=4)
    assert _digest(a / "model.safetensors") == _digest(b / "model.safetensors")
    assert _digest(a / "tokenizer.json") == _digest(b / "tokenizer.json")
    assert _digest(a / "model.safetensors") != _digest(c / "model.safetensors")


def test_build_leaves_global_rng_alone(tmp_path: Path):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model("tiny-text", tmp_path / "m")
    assert torch.equal(torch.rand(3), expected)


def test_ensure_builds_once_then_reuses(tmp_path: Path):
    first = ensure_tiny_model("tiny-text", tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    again = ensure_tiny_model("tiny-text", tmp_path)
    assert again == first and (again / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [first.name]


def test_interrupted_build_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def half_build(out: Path, seed: int) -> None:
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt  # a killed build

    monkeypatch.setitem(tiny_models._BUILDERS, "tiny-text", half_build)
    with pytest.raises(KeyboardInterrupt):
        ensure_tiny_model("tiny-text", tmp_path)
    assert [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_unknown_kind_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="tiny-omni"):
        ensure_tiny_model("tiny-gpt", tmp_path)


def test_tiny_text_loads_through_from_pretrained(tiny_text_path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_text_path)
    tok = AutoTokenizer.from_pretrained(tiny_text_path)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert model.config.num_hidden_layers == 3 and model.config.hidden_size == 64
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert _dir_size(tiny_text_path) < 3_000_000


def test_tiny_omni_is_a_full_checkpoint_whose_thinker_loads_alone(tiny_omni_path: Path):
    import json

    import torch
    from transformers import (
        AutoProcessor,
        Qwen2_5OmniForConditionalGeneration,
        Qwen2_5OmniThinkerForConditionalGeneration,
    )

    assert json.loads((tiny_omni_path / "config.json").read_text())["model_type"] == "qwen2_5_omni"
    full = Qwen2_5OmniForConditionalGeneration.from_pretrained(tiny_omni_path)  # needs spk_dict.pt, like the hub
    assert full.has_talker and hasattr(full, "token2wav")
    thinker = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(tiny_omni_path)
    assert not any(name.startswith(("talker", "token2wav")) for name, _ in thinker.named_parameters())
    full_state, thinker_state = full.thinker.state_dict(), thinker.state_dict()
    assert full_state.keys() == thinker_state.keys()
    assert all(torch.equal(full_state[k], thinker_state[k]) for k in full_state)

    processor = AutoProcessor.from_pretrained(tiny_omni_path)
    assert type(processor).__name__ == "Qwen2_5OmniProcessor"
    assert processor.image_token_id == thinker.config.image_token_id
    assert processor.audio_token_id == thinker.config.audio_token_id
    assert processor.video_token_id == thinker.config.video_token_id
    assert processor.feature_extractor.feature_size == thinker.config.audio_config.num_mel_bins
    conversation = [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": [{"type": "image", "image": "x"}, {"type": "video", "video": "y"},
                                     {"type": "audio", "audio": "z"}, {"type": "text", "text": "hello"}]},
    ]
    assert processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False) == (
        "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\n<|vision_bos|><|IMAGE|><|vision_eos|>"
        "<|vision_bos|><|VIDEO|><|vision_eos|><|audio_bos|><|AUDIO|><|audio_eos|>hello<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert _dir_size(tiny_omni_path) < 5_000_000


def test_tiny_vl_loads_through_from_pretrained(tiny_vl_path: Path):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_vl_path)
    processor = AutoProcessor.from_pretrained(tiny_vl_path)
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert processor.image_token == "<|image_pad|>" and processor.image_token_id == model.config.image_token_id
    assert processor.video_token_id == model.config.video_token_id
    conversation = [{"role": "user", "content": [{"type": "image", "image": "x"}, {"type": "text", "text": "hi"}]}]
    assert processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert _dir_size(tiny_vl_path) < 3_000_000
