"""Media loading as qwen-omni-utils does it: sizes, sample rates, frame sampling and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.media_io import (
    MediaError,
    VisionSettings,
    load_audio,
    load_image,
    load_video,
    smart_nframes,
    smart_resize,
    validate_media,
)
from tests.harness.media_files import write_video


def test_smart_resize_keeps_multiples_of_28_within_bounds():
    assert smart_resize(80, 120, 28, 4 * 784, 16384 * 784) == (84, 112)
    h, w = smart_resize(2000, 3000, 28, 4 * 784, 16 * 784)  # downscale to at most 16 patches of 28 x 28
    assert h % 28 == 0 and w % 28 == 0 and h * w <= 16 * 784
    h, w = smart_resize(10, 10, 28, 128 * 784, 768 * 784)  # upscale to at least 128 patches
    assert h % 28 == 0 and w % 28 == 0 and h * w >= 128 * 784
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(1, 500, 28, 784, 784 * 100)


def test_smart_nframes_follows_qwen_rules():
    settings = VisionSettings()
    assert smart_nframes(8, 4.0, settings) == 4  # 2 s at 2 fps, and at least 4 frames
    assert smart_nframes(40, 10.0, settings) == 8  # 4 s at 2 fps
    assert smart_nframes(41, 10.0, settings) == 8  # an even count
    assert smart_nframes(3000, 30.0, VisionSettings(video_max_frames=16)) == 16
    with pytest.raises(ValueError):
        smart_nframes(1, 1.0, settings)


def test_load_image_is_rgb_and_resized(media):
    image = load_image(media.image)
    assert image.mode == "RGB" and image.size == (112, 84)
    rgba = load_image(media.image_rgba)
    assert rgba.mode == "RGB"
    assert rgba.getpixel((50, 30)) == (255, 255, 255)  # transparent area composited on white
    assert rgba.getpixel((5, 30))[2] > 200  # the opaque blue half stays blue


def test_load_audio_is_mono_float32_at_16k(media, tmp_path: Path):
    import soundfile as sf

    speech = load_audio(media.speech)
    info = sf.info(media.speech)
    assert speech.dtype == np.float32 and speech.ndim == 1
    assert abs(len(speech) - info.duration * 16000) <= 16
    stereo = load_audio(media.stereo)  # 0.5 s at 44.1 kHz, two channels
    assert stereo.ndim == 1 and abs(len(stereo) - 8000) <= 16
    # Channel mean: 440 Hz at amplitude 1 and 220 Hz at 0.5 average to a peak of at most 0.75.
    assert 0.5 < np.abs(stereo).max() <= 0.76

    # A 16 kHz file comes back sample for sample; an mp3 decodes too.
    tone = (0.25 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", tone, 16000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(tmp_path / "tone.wav"), tone)
    mp3 = _write_mp3(tmp_path / "tone.mp3", tone)
    decoded = load_audio(mp3)
    assert abs(len(decoded) - 16000) < 2000 and np.abs(decoded).max() > 0.1


def _write_mp3(path: Path, samples: np.ndarray) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libmp3lame", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_load_video_samples_frames_like_qwen(media):
    clip = load_video(media.video)  # 8 frames at 4 fps: 2 s -> 4 frames
    assert clip.total_frames == 8 and clip.video_fps == pytest.approx(4.0)
    assert clip.frame_indices == [0, 2, 5, 7]  # linspace(0, 7, 4).round()
    assert clip.sample_fps == pytest.approx(2.0)
    t, c, h, w = clip.frames.shape
    assert (t, c) == (4, 3) and h % 28 == 0 and w % 28 == 0 and h * w >= 128 * 784
    gray = clip.frames[:, 0, h // 2, w // 2]
    assert gray.tolist() == pytest.approx([0, 60, 150, 210], abs=6)  # frame i has gray level 30 * i

    long = load_video(media.long_video, VisionSettings(video_min_pixels=4 * 784, video_max_pixels=16 * 784))
    assert len(long.frame_indices) == 8 and long.frames.shape[-2] * long.frames.shape[-1] <= 16 * 784


def test_missing_and_broken_media_raise_errors_naming_the_file(tmp_path: Path, media):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(MediaError, match="missing.png.*does not exist"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(MediaError, match="broken.mp4"):
        load_video(broken)
    with pytest.raises(MediaError, match="speech.wav.*no video stream"):
        load_video(media.speech)
    with pytest.raises(MediaError, match="broken.mp4"):
        load_audio(broken)
    with pytest.raises(MediaError, match="directory|not a file"):
        load_image(tmp_path)


def test_validate_media_reports_problems_without_raising(tmp_path: Path, media):
    from PIL import Image

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG garbage")
    sliver = tmp_path / "sliver.png"
    Image.new("RGB", (500, 1)).save(sliver)
    one_frame = tmp_path / "one_frame.mp4"
    write_video(one_frame, frames=1, fps=4)
    assert "aspect ratio" in validate_media("image", sliver)
    assert "1 decodable frame" in validate_media("video", one_frame)
    with pytest.raises(MediaError, match="one_frame.mp4"):
        load_video(one_frame)
    assert validate_media("image", media.image) is None
    assert validate_media("audio", media.speech) is None
    assert "no audio stream" in validate_media("audio", media.video)  # the test clip is silent
    assert validate_media("video", media.video) is None
    assert "does not exist" in validate_media("video", tmp_path / "nope.mp4")
    assert "broken.png" in validate_media("image", broken)
    assert "no video stream" in validate_media("video", media.speech)
    assert "unknown media kind" in validate_media("smell", media.image)
