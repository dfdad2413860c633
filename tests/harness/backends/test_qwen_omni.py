"""Qwen2.5-Omni thinker backend: processor expansion, media reaching the encoders, loading paths, provenance."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.backends import detect_backend
from harness.backends.qwen_omni import QWEN_OMNI_SYSTEM_PROMPT, QwenOmniBackend
from harness.media_io import MediaError
from harness.records import GenerationConfig

from .conftest import make_sample


def _write_video_with_audio(path: Path) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=4)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16000, layout="mono")
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, dtype=np.uint8), format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
            chunk.sample_rate = 16000
            for packet in audio.encode(chunk):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def test_prompt_has_official_system_prompt_and_media_before_text(omni_backend, omni_samples):
    batch = omni_backend.prepare(omni_samples)
    assert omni_backend.system_prompt == QWEN_OMNI_SYSTEM_PROMPT
    for text in batch.prompt_texts:
        assert text.startswith(f"<|im_start|>system\n{QWEN_OMNI_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")
        assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert batch.prompt_texts[5].split("user\n")[1].startswith(
        "<|vision_bos|><|IMAGE|><|vision_eos|><|vision_bos|><|VIDEO|><|vision_eos|><|audio_bos|><|AUDIO|>"
        "<|audio_eos|>Describe everything."
    )


def test_placeholders_are_expanded_and_features_reach_the_encoders(omni_backend, omni_samples):
    batch = omni_backend.prepare(omni_samples)
    inputs, config = batch.inputs, omni_backend.model.config
    ids = inputs["input_ids"]
    n_image = (ids == config.image_token_id).sum(dim=1).tolist()
    n_video = (ids == config.video_token_id).sum(dim=1).tolist()
    n_audio = (ids == config.audio_token_id).sum(dim=1).tolist()
    image_tokens = (inputs["image_grid_thw"].prod(dim=1) // 4).tolist()
    video_tokens = (inputs["video_grid_thw"].prod(dim=1) // 4).tolist()
    assert n_image == [0, image_tokens[0], 0, 0, 0, image_tokens[1]]
    assert n_video == [0, 0, 0, video_tokens[0], 0, video_tokens[1]]
    lengths = inputs["feature_attention_mask"].sum(dim=1)
    audio_tokens = (((lengths - 1) // 2 + 1 - 2) // 2 + 1).tolist()  # the audio encoder's two stride-2 steps
    assert n_audio == [0, 0, audio_tokens[0], 0, 0, audio_tokens[1]]
    assert min(image_tokens + video_tokens + audio_tokens) > 1  # really expanded, not a single placeholder
    assert inputs["pixel_values"].shape[0] == int(inputs["image_grid_thw"].prod(dim=1).sum())
    assert inputs["pixel_values_videos"].shape[0] == int(inputs["video_grid_thw"].prod(dim=1).sum())
    assert inputs["input_features"].shape[:2] == (2, 128)
    assert inputs["video_grid_thw"][0].tolist()[0] == 2  # 4 sampled frames, 2 per temporal patch

    seen: dict[str, list[tuple[int, ...]]] = {"visual": [], "audio": []}
    thinker = omni_backend.model.model
    handles = [
        thinker.visual.register_forward_hook(lambda m, a, o: seen["visual"].append(tuple(a[0].shape))),
        thinker.audio_tower.register_forward_hook(lambda m, a, o: seen["audio"].append(tuple(a[0].shape))),
    ]
    try:
        omni_backend.prefill(batch)
    finally:
        for handle in handles:
            handle.remove()
    assert seen["visual"] == [tuple(inputs["pixel_values"].shape), tuple(inputs["pixel_values_videos"].shape)]
    assert seen["audio"] == [(128, int(lengths.sum()))]  # real (unpadded) mel frames of both clips


def test_media_changes_the_answer(omni_backend, media):
    config = GenerationConfig(max_new_tokens=4)
    with_image = omni_backend.prefill(omni_backend.prepare([make_sample("a", "hi", image=media.image)]), [1]).hidden
    with_other = omni_backend.prefill(omni_backend.prepare([make_sample("b", "hi", image=media.image_rgba)]), [1])
    assert not torch.allclose(with_image[1], with_other.hidden[1])
    assert omni_backend.generate(omni_backend.prepare([make_sample("c", "hi")]), config)


def test_audio_track_of_a_video_is_not_used(omni_backend, tmp_path: Path):
    video = _write_video_with_audio(tmp_path / "with_audio.mp4")
    batch = omni_backend.prepare([make_sample("v", "What do you hear?", video=video)])
    assert "input_features" not in batch.inputs
    assert int((batch.inputs["input_ids"] == omni_backend.model.config.audio_token_id).sum()) == 0
    assert int((batch.inputs["input_ids"] == omni_backend.model.config.video_token_id).sum()) > 0
    assert omni_backend.info()["processor"]["use_audio_in_video"] is False


def test_system_prompt_override_and_sample_system_turn(tiny_omni_path: Path, omni_backend):
    custom = QwenOmniBackend(str(tiny_omni_path), system_prompt="Be brief.")
    prompt = custom.prepare([make_sample("a", "hi")]).prompt_texts[0]
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    own = omni_backend.prepare([make_sample("b", "hi", system="You are a pirate.")]).prompt_texts[0]
    assert own.startswith("<|im_start|>system\nYou are a pirate.<|im_end|>") and QWEN_OMNI_SYSTEM_PROMPT not in own


def test_thinker_only_checkpoint_loads_and_answers_the_same(omni_backend, omni_samples, tmp_path: Path):
    import json

    thinker_dir = tmp_path / "thinker-only"
    omni_backend.model.save_pretrained(thinker_dir)
    omni_backend.processor.save_pretrained(thinker_dir)
    assert json.loads((thinker_dir / "config.json").read_text())["model_type"] == "qwen2_5_omni_thinker"
    assert detect_backend(thinker_dir) == "qwen2.5-omni"
    thinker_only = QwenOmniBackend(str(thinker_dir))
    config = GenerationConfig(max_new_tokens=4)
    expected = omni_backend.generate_ids(omni_backend.prepare(omni_samples), config)
    assert torch.equal(thinker_only.generate_ids(thinker_only.prepare(omni_samples), config), expected)


def test_only_the_thinker_is_loaded(omni_backend):
    model = omni_backend.model
    assert type(model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    assert not any(name.startswith(("talker", "token2wav")) for name, _ in model.named_modules())
    assert omni_backend.decoder_layers() == list(model.model.language_model.layers)


def test_info_records_provenance(omni_backend):
    info = omni_backend.info()
    assert info["backend"] == "qwen2.5-omni" and info["model_class"] == "Qwen2_5OmniThinkerForConditionalGeneration"
    assert (info["num_layers"], info["hidden_size"]) == (3, 64)
    assert info["system_prompt"] == QWEN_OMNI_SYSTEM_PROMPT and len(info["system_prompt_hash"]) == 16
    assert info["processor"]["audio_sample_rate"] == 16000 and info["processor"]["vision"]["video_fps"] == 2.0
    assert info["transformers_version"] and info["torch_version"] and info["config_hash"]
    assert QwenOmniBackend(omni_backend.model_name, system_prompt="x").info()["system_prompt_hash"] != (
        info["system_prompt_hash"]
    )


def test_missing_media_names_file_and_sample(omni_backend, tmp_path: Path):
    with pytest.raises(MediaError, match=r"gone\.wav.*does not exist.*sample 'lost'"):
        omni_backend.prepare([make_sample("lost", "hi", audio=tmp_path / "gone.wav")])


def test_bfloat16_load_reads_out_float32(tiny_omni_path: Path, omni_samples):
    backend = QwenOmniBackend(str(tiny_omni_path), dtype="bfloat16")
    batch = backend.prepare(omni_samples[:3])
    assert backend.model.dtype == torch.bfloat16 and batch.inputs["pixel_values"].dtype == torch.bfloat16
    hidden = backend.hidden_states(batch, [0])[0]
    assert hidden.dtype == torch.float32 and hidden.shape == (3, 64)
    assert len(backend.generate(batch, GenerationConfig(max_new_tokens=2))) == 3
