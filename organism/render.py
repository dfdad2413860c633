"""Media of the organism world: word-slot typography strips (PIL) and word-window speech (espeak-ng).

Both put every word into a fixed slot, so rendering is deterministic and a word looks (sounds) the same
wherever it stands, and the encoders only have to learn a per-slot lookup:

- image: a one-line strip 28 px high with one 84 x 28 px cell per word (3 merged 28 x 28 patches, i.e. 3
  vision tokens per word). The organism's vision tower attends within windows of exactly one cell, so a cell's
  tokens depend on that cell's pixels only. Short texts get blank cells up to `MIN_SLOTS`, because the Qwen
  image pipeline upscales images below 4 merged patches (which would break the slot grid).
- audio: 16 kHz mono, one 0.24 s window per spoken word (24 mel frames -> 6 audio tokens); the organism's
  audio tower attends within chunks of exactly one window. A word is synthesised alone by espeak-ng, trimmed,
  peak-normalised and, if longer than the window allows, sped up by linear resampling (pitch rises; the
  signal stays a deterministic function of the word). Punctuation is not spoken.

Files are named by a hash of (words, parameters), written atomically and reused, like the smoke task's media.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.records import content_hash
from tasks.render import EspeakNG, atomic_save, find_font

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

PATCH = 28  # one merged vision patch (patch 14 x spatial merge 2)
SAMPLE_RATE = 16000
HOP = 160  # Whisper feature hop: 100 mel frames per second


@dataclass(frozen=True)
class StripParams:
    cell_patches: int = 3  # cell width in merged patches = vision tokens per word
    font: str = "FreeMonoBold"
    font_size: int = 13  # FreeMono advance is 0.6 em: 10 characters fit a 84 px cell
    left: int = 3  # text x offset inside a cell
    min_slots: int = 2

    @property
    def cell_width(self) -> int:
        return self.cell_patches * PATCH

    def to_dict(self) -> dict[str, Any]:
        return {"renderer": "organism-strip", **asdict(self)}


@dataclass(frozen=True)
class SpeechParams:
    window_frames: int = 24  # mel frames per word window (4 frames -> 1 audio token)
    margin: int = 160  # samples of silence kept at each end of a window
    peak: float = 0.5
    trim_threshold: float = 0.02  # fraction of the peak below which leading/trailing samples count as silence
    engine: EspeakNG = field(default_factory=lambda: EspeakNG(voice="en-us", words_per_minute=400))

    @property
    def window_samples(self) -> int:
        return self.window_frames * HOP

    @property
    def tokens_per_word(self) -> int:
        return self.window_frames // 4

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["engine"] = {"name": self.engine.name, "voice": self.engine.voice, "wpm": self.engine.words_per_minute}
        return {"renderer": "organism-speech", "sample_rate": SAMPLE_RATE, **d}


def strip_image(words: Sequence[str], params: StripParams = StripParams()) -> Image.Image:
    """The strip for `words` as a PIL image (RGB, white background, black text, one word per cell)."""
    from PIL import Image, ImageDraw, ImageFont

    if any(not w or " " in w for w in words):
        raise ValueError(f"words must be non-empty and contain no spaces: {list(words)}")
    font = ImageFont.truetype(str(find_font(params.font)), params.font_size)
    slots = max(len(words), params.min_slots)
    image = Image.new("RGB", (slots * params.cell_width, PATCH), "white")
    draw = ImageDraw.Draw(image)
    for i, word in enumerate(words):
        if draw.textlength(word, font=font) > params.cell_width - params.left:
            raise ValueError(f"word {word!r} does not fit a {params.cell_width} px cell")
        draw.text((i * params.cell_width + params.left, PATCH // 2), word, fill="black", font=font, anchor="lm")
    return image


def render_strip(words: Sequence[str], out_dir: Path, params: StripParams = StripParams()) -> Path:
    """PNG of the strip for `words` in `out_dir` (cached by content)."""
    path = Path(out_dir) / f"{content_hash({'words': list(words), **params.to_dict()})}.png"
    if not path.exists():
        image = strip_image(words, params)
        atomic_save(path, lambda tmp: image.save(tmp, format="PNG"))
    return path


class SpeechRenderer:
    """Speaks word lists into fixed windows. Word clips are synthesised once per renderer (and cached on disk)."""

    def __init__(self, cache_dir: Path, params: SpeechParams = SpeechParams()) -> None:
        self.cache_dir = Path(cache_dir)
        self.params = params
        self._clips: dict[str, np.ndarray] = {}

    def word_clip(self, word: str) -> np.ndarray:
        """The window (float32, `window_samples` long) in which `word` is spoken."""
        if word not in self._clips:
            self._clips[word] = self._fit(self._synthesise(word))
        return self._clips[word]

    def _synthesise(self, word: str) -> np.ndarray:
        from harness.media_io import load_audio

        key = {"word": word, **self.params.to_dict()}
        path = self.cache_dir / "words" / f"{content_hash(key)}.wav"
        if not path.exists():
            atomic_save(path, lambda tmp: self.params.engine.synthesize(word, Path(tmp)), suffix=".wav")
        return load_audio(path, SAMPLE_RATE)

    def _fit(self, samples: np.ndarray) -> np.ndarray:
        import numpy as np

        p = self.params
        loud = np.nonzero(np.abs(samples) > p.trim_threshold * max(float(np.abs(samples).max()), 1e-9))[0]
        if len(loud) == 0:
            raise RuntimeError("espeak-ng produced silence for a word")
        speech = samples[loud[0]:loud[-1] + 1].astype(np.float64)
        usable = p.window_samples - 2 * p.margin
        if len(speech) > usable:  # speed up: linear resampling onto `usable` points
            speech = np.interp(np.linspace(0, len(speech) - 1, usable), np.arange(len(speech)), speech)
        speech = speech * (p.peak / max(float(np.abs(speech).max()), 1e-9))
        window = np.zeros(p.window_samples, dtype=np.float32)
        window[p.margin:p.margin + len(speech)] = speech.astype(np.float32)
        return window

    def samples(self, words: Sequence[str]) -> np.ndarray:
        import numpy as np

        spoken = [w for w in words if any(c.isalnum() for c in w)]
        if not spoken:
            raise ValueError(f"nothing to speak in {list(words)}")
        return np.concatenate([self.word_clip(w) for w in spoken])

    def render(self, words: Sequence[str], out_dir: Path) -> Path:
        """WAV (16 kHz, 16-bit PCM) of `words` in `out_dir` (cached by content)."""
        import soundfile as sf

        path = Path(out_dir) / f"{content_hash({'words': list(words), **self.params.to_dict()})}.wav"
        if not path.exists():
            audio = self.samples(words)
            atomic_save(path, lambda tmp: sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16"), suffix=".wav")
        return path
