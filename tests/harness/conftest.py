"""Session fixtures: tiny Qwen checkpoints (built once per session) and small generated media files."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.media_files import write_video


@pytest.fixture(scope="session")
def tiny_cache(cache_dir: Path) -> Path:
    """Tiny models live where `harness run` looks for them (<cache>/models), so subprocess runs reuse them."""
    return cache_dir / "models"


@pytest.fixture(scope="session")
def tiny_text_path(tiny_cache: Path) -> Path:
    from harness.tiny_models import ensure_tiny_model

    return ensure_tiny_model("tiny-text", tiny_cache)


@pytest.fixture(scope="session")
def tiny_omni_path(tiny_cache: Path) -> Path:
    from harness.tiny_models import ensure_tiny_model

    return ensure_tiny_model("tiny-omni", tiny_cache)


@pytest.fixture(scope="session")
def tiny_vl_path(tiny_cache: Path) -> Path:
    from harness.tiny_models import ensure_tiny_model

    return ensure_tiny_model("tiny-vl", tiny_cache)


@dataclass(frozen=True)
class Media:
    image: Path  # RGB PNG with text on it
    image_rgba: Path  # partly transparent PNG
    speech: Path  # mono WAV at 22.05 kHz (espeak-ng) or a 1 s sine at 22.05 kHz
    stereo: Path  # stereo FLAC at 44.1 kHz, 0.5 s
    video: Path  # 8 frames at 4 fps, 64x48, frame i has gray level 30 * i
    long_video: Path  # 40 frames at 10 fps


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    import numpy as np
    import soundfile as sf
    from PIL import Image, ImageDraw

    root = tmp_path_factory.mktemp("media")
    image = root / "text.png"
    img = Image.new("RGB", (120, 80), "white")
    ImageDraw.Draw(img).text((5, 30), "How to bake bread", fill="black")
    img.save(image)
    image_rgba = root / "rgba.png"
    rgba = Image.new("RGBA", (60, 60), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 30, 60))
    rgba.save(image_rgba)
    speech = root / "speech.wav"
    espeak = shutil.which("espeak-ng")
    if espeak is None or subprocess.run([espeak, "-w", str(speech), "tell me a story"], check=False).returncode:
        t = np.arange(22050) / 22050
        sf.write(speech, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)
    stereo = root / "stereo.flac"
    t = np.arange(22050) / 44100
    sf.write(stereo, np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 220 * t)], 1), 44100)
    video = root / "clip.mp4"
    write_video(video, frames=8, fps=4)
    long_video = root / "long.mp4"
    write_video(long_video, frames=40, fps=10)
    return Media(image, image_rgba, speech, stereo, video, long_video)
