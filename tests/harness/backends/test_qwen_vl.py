"""Qwen2.5-VL backend: placeholders, video timing and modality checks."""

from __future__ import annotations

import pytest

from .conftest import make_sample


def test_vision_placeholders_are_expanded(vl_backend, vl_samples):
    batch = vl_backend.prepare(vl_samples)
    config, ids = vl_backend.model.config, batch.inputs["input_ids"]
    assert "<|vision_start|><|image_pad|><|vision_end|>What does" in batch.prompt_texts[1]
    image_tokens = int(batch.inputs["image_grid_thw"][0].prod()) // 4
    video_tokens = int(batch.inputs["video_grid_thw"][0].prod()) // 4
    assert (ids == config.image_token_id).sum(dim=1).tolist() == [0, image_tokens, 0, 0]
    assert (ids == config.video_token_id).sum(dim=1).tolist() == [0, 0, video_tokens, 0]
    assert image_tokens > 1 and video_tokens > 1
    assert batch.prompt_texts[0].startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")


def test_video_seconds_per_patch_come_from_the_sampled_rate(vl_backend, media):
    # 8 frames at 4 fps sampled down to 4 frames: 2 fps, so a temporal patch of 2 frames spans 1 second.
    batch = vl_backend.prepare([make_sample("v", "what happens", video=media.video)])
    assert batch.inputs["second_per_grid_ts"].tolist() == pytest.approx([1.0])
    # 40 frames at 10 fps -> 8 frames over 4 s: still 2 fps.
    batch = vl_backend.prepare([make_sample("w", "what happens", video=media.long_video)])
    assert batch.inputs["second_per_grid_ts"].tolist() == pytest.approx([1.0])
    assert batch.inputs["video_grid_thw"][0, 0].item() == 4


def test_audio_is_refused(vl_backend, media):
    with pytest.raises(ValueError, match="audio"):
        vl_backend.prepare([make_sample("a", "listen", audio=media.speech)])
