"""Offline media rendering: typography images (PIL), typography videos (PyAV) and speech (espeak-ng by default).

The typography parameters are those of AdvBench-Omni / FigStep (docs/reference.md, OmniSteer §1.4): white 760 x 760
canvas, black FreeMonoBold 80, text origin (20, 10), 11 px line spacing, wrapped at 15 characters. A typography
video shows the same frame for the middle of a 3 s clip at 10 fps (1.0 s blank white, 1.5 s text, 0.5 s
blank), encoded as MPEG-4 Part 2 (`mp4v`, the reference's codec) in MP4 with one encoder thread, so the
output is byte-identical for identical inputs and library versions. Files are named by a hash of (text,
parameters), written atomically, and reused when present, so a killed build resumes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.records import content_hash

FONT_SEARCH = (
    "/usr/share/fonts/truetype/freefont/{name}.ttf",
    "/usr/share/fonts/opentype/freefont/{name}.otf",
    "/usr/local/share/fonts/{name}.ttf",
    "/Library/Fonts/{name}.ttf",
)


class MissingToolError(RuntimeError):
    """A system tool or font the renderer needs is not installed; the message says how to install it."""


@dataclass(frozen=True)
class TypographyParams:
    width: int = 760
    height: int = 760
    font: str = "FreeMonoBold"
    font_size: int = 80
    origin: tuple[int, int] = (20, 10)
    line_spacing: int = 11
    wrap_width: int = 15
    # An explicit font file (`--font`) and its sha256: FreeMonoBold versions differ in glyphs, so the file's
    # hash is part of the render parameters (and of the media file names) whenever a file is chosen.
    font_file: str | None = None
    font_sha256: str | None = None

    @classmethod
    def with_font_file(cls, path: str | Path, **kwargs: Any) -> TypographyParams:
        p = Path(path).expanduser().resolve()
        if not p.is_file():
            raise MissingToolError(f"--font: {path} is not a file")
        return cls(font_file=str(p), font_sha256=file_sha256(p), **kwargs)

    def font_path(self) -> Path:
        return Path(self.font_file) if self.font_file else find_font(self.font)

    def to_dict(self) -> dict[str, Any]:
        d = {"renderer": "typography", **asdict(self)}
        if self.font_file is None:  # keeps the names of media rendered with the system font unchanged
            del d["font_file"], d["font_sha256"]
        return d

    def font_record(self) -> dict[str, Any]:
        """The font file actually used and its sha256 (for the build manifest); None when none is installed
        (a build without image or video configurations needs none)."""
        try:
            path = self.font_path()
        except MissingToolError:
            return {"file": None, "sha256": None}
        return {"file": str(path), "sha256": self.font_sha256 or file_sha256(path)}


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def find_font(name: str) -> Path:
    """Path of a TrueType font by family file name; never falls back to PIL's bitmap font silently."""
    override = os.environ.get("HARNESS_FONT_DIR")
    candidates = [Path(override) / f"{name}.ttf"] if override else []
    candidates += [Path(p.format(name=name)) for p in FONT_SEARCH]
    for path in candidates:
        if path.is_file():
            return path
    fc = shutil.which("fc-match")
    if fc:
        out = subprocess.run([fc, "-f", "%{file}", name], capture_output=True, text=True, check=False).stdout
        if out and Path(out).name.lower().startswith(name.lower()) and Path(out).is_file():
            return Path(out)
    raise MissingToolError(
        f"font {name} not found (looked in {', '.join(str(c) for c in candidates)}). Install GNU FreeFont: "
        "`apt-get install fonts-freefont-ttf` (Debian/Ubuntu), or set HARNESS_FONT_DIR to a folder holding "
        f"{name}.ttf."
    )


@dataclass(frozen=True)
class RenderResult:
    path: Path
    overflow: bool  # the wrapped text did not fit on the canvas (the bottom is clipped)


def typography_overflow(text: str, params: TypographyParams = TypographyParams()) -> bool:
    """Whether the wrapped text's bounding box leaves the canvas (the bottom would be clipped)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(params.font_path()), params.font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    box = probe.multiline_textbbox(params.origin, textwrap.fill(text, width=params.wrap_width), font=font,
                                   spacing=params.line_spacing)
    return box[2] > params.width or box[3] > params.height


def typography_frame(text: str, params: TypographyParams = TypographyParams()):
    """The typography image of `text` as a PIL image (RGB)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(params.font_path()), params.font_size)
    image = Image.new("RGB", (params.width, params.height), "white")
    ImageDraw.Draw(image).multiline_text(params.origin, textwrap.fill(text, width=params.wrap_width), fill="black",
                                         font=font, spacing=params.line_spacing)
    return image


def render_typography(text: str, out_dir: Path, params: TypographyParams = TypographyParams()) -> RenderResult:
    """Render `text` as a typography PNG in `out_dir` (cached by content)."""
    overflow = typography_overflow(text, params)  # computed even for cached files, so callers can always log it
    path = out_dir / f"{content_hash({'text': text, **params.to_dict()})}.png"
    if not path.exists():
        image = typography_frame(text, params)
        atomic_save(path, lambda tmp: image.save(tmp, format="PNG"))
    return RenderResult(path=path, overflow=overflow)


@dataclass(frozen=True)
class VideoParams:
    """Typography video timing (OmniSteer §1.4): 30 frames at 10 fps = 1.0 s blank, 1.5 s text, 0.5 s blank."""

    fps: int = 10
    lead_frames: int = 10  # blank white frames before the text
    text_frames: int = 15
    tail_frames: int = 5  # blank white frames after the text
    codec: str = "mpeg4"  # MPEG-4 Part 2, fourcc `mp4v` in the MP4 container
    pix_fmt: str = "yuv420p"
    qscale: int = 2  # constant quantiser (1 best .. 31 worst)

    @property
    def n_frames(self) -> int:
        return self.lead_frames + self.text_frames + self.tail_frames

    def to_dict(self) -> dict[str, Any]:
        return {"renderer": "typography-video", **asdict(self), "n_frames": self.n_frames,
                "seconds": self.n_frames / self.fps}


def render_typography_video(text: str, out_dir: Path, params: VideoParams = VideoParams(),
                            typography: TypographyParams = TypographyParams()) -> RenderResult:
    """Render `text` as a typography MP4 in `out_dir` (cached by content; deterministic bytes)."""
    overflow = typography_overflow(text, typography)
    key = {"text": text, **typography.to_dict(), "video": params.to_dict()}
    path = out_dir / f"{content_hash(key)}.mp4"
    if not path.exists():
        frame = typography_frame(text, typography)
        atomic_save(path, lambda tmp: _encode_video(tmp, frame, params))
    return RenderResult(path=path, overflow=overflow)


def _encode_video(path: str, text_frame, params: VideoParams) -> None:
    from fractions import Fraction

    import av
    import numpy as np

    text_rgb = np.asarray(text_frame.convert("RGB"))
    # Two distinct pictures, converted to the codec's pixel format once and sent with increasing timestamps.
    text = av.VideoFrame.from_ndarray(text_rgb, format="rgb24").reformat(format=params.pix_fmt)
    blank = av.VideoFrame.from_ndarray(np.full_like(text_rgb, 255), format="rgb24").reformat(format=params.pix_fmt)
    frames = [blank] * params.lead_frames + [text] * params.text_frames + [blank] * params.tail_frames
    with av.open(path, "w", format="mp4") as container:
        stream = container.add_stream(params.codec, rate=params.fps)
        stream.width, stream.height = text_rgb.shape[1], text_rgb.shape[0]
        stream.pix_fmt = params.pix_fmt
        stream.codec_context.time_base = Fraction(1, params.fps)
        stream.thread_count = 1  # one thread: identical bytes on every run
        stream.options = {"qscale": str(params.qscale)}
        for i, frame in enumerate(frames):
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def media_library_versions() -> dict[str, str]:
    """Versions of the libraries that determine rendered bytes (recorded by builders)."""
    import PIL

    versions = {"pillow": PIL.__version__}
    try:
        import av

        versions["av"] = av.__version__
        versions["libavcodec"] = ".".join(str(x) for x in av.library_versions.get("libavcodec", ()))
    except ImportError:
        pass
    return versions


class SpeechEngine(Protocol):
    """A text-to-speech engine: writes a WAV file for `text`."""

    name: str

    def describe(self) -> dict[str, Any]: ...

    def synthesize(self, text: str, out_path: Path) -> None: ...


@dataclass(frozen=True)
class EspeakNG:
    """espeak-ng, the offline default TTS (docs/reference.md, OmniSteer §1.9)."""

    voice: str = "en-us"
    words_per_minute: int = 160
    name: str = "espeak-ng"

    def _binary(self) -> str:
        exe = shutil.which("espeak-ng")
        if not exe:
            raise MissingToolError("espeak-ng is not installed: `apt-get install espeak-ng` (Debian/Ubuntu), "
                                   "`brew install espeak-ng` (macOS).")
        return exe

    def describe(self) -> dict[str, Any]:
        version = subprocess.run([self._binary(), "--version"], capture_output=True, text=True,
                                 check=False).stdout.strip()
        return {"renderer": "tts", "engine": self.name, "voice": self.voice, "wpm": self.words_per_minute,
                "version": version}

    def synthesize(self, text: str, out_path: Path) -> None:
        cmd = [self._binary(), "-v", self.voice, "-s", str(self.words_per_minute), "-w", str(out_path), text]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out_path.exists() or out_path.stat().st_size <= 44:
            raise RuntimeError(f"espeak-ng failed for {text[:40]!r}: {proc.stderr.strip()}")


def render_speech(text: str, out_dir: Path, engine: SpeechEngine | None = None) -> Path:
    """Speak `text` into a WAV in `out_dir` (cached by text and engine settings)."""
    engine = engine or EspeakNG()
    key = {"text": text, "engine": engine.name, **{k: v for k, v in vars(engine).items() if k != "name"}}
    path = out_dir / f"{content_hash(key)}.wav"
    if not path.exists():
        atomic_save(path, lambda tmp: engine.synthesize(text, Path(tmp)), suffix=".wav")
    return path


def atomic_save(path: Path, write, suffix: str | None = None) -> None:
    """Call `write(tmp)` on a temporary file next to `path`, then rename it into place (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix or path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
