"""Loading media for the Qwen processors: images, 16 kHz mono audio and sampled video frames.

This is our own equivalent of `qwen_omni_utils.process_mm_info` (qwen-omni-utils 0.0.9, `v2_5/vision_process.py`
and `audio_process.py`), written with PyAV instead of the package because the package reads video through
`torchvision.io.read_video` / decord / torchcodec and audio through librosa, none of which we want to depend
on (torchvision 0.29 has no video decoding). It reproduces the package's choices:

- images: RGB (RGBA composited on white), resized with `smart_resize` to a multiple of 28 px with the pixel
  count clamped to [4, 16384] * 28 * 28;
- audio: mono float32 at 16 kHz (channels averaged as librosa does; resampled with libswresample, so values
  differ from librosa's soxr resampler in the last bits);
- video: frames sampled at 2 fps (`smart_nframes`: at least 4, at most 768, an even count), picked with
  `linspace(0, total - 1, n).round()`, resized with bicubic antialiasing to a multiple of 28 px with the
  pixel count clamped to [128, 768] * 28 * 28 and a total-pixel budget, returned as a float tensor [T, C, H, W].
  The audio track of a video is never used (`use_audio_in_video=False` everywhere).

Every error names the file. `validate_media` checks a medium without raising, for the runner's pre-flight check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

SAMPLE_RATE = 16000
PATCH_FACTOR = 28  # patch size 14 x spatial merge 2
MAX_ASPECT_RATIO = 200
FRAME_FACTOR = 2  # frames per temporal patch


@dataclass(frozen=True)
class VisionSettings:
    """Image and video sampling parameters; defaults are those of qwen-omni-utils for Qwen2.5-Omni."""

    image_min_pixels: int = 4 * PATCH_FACTOR * PATCH_FACTOR
    image_max_pixels: int = 16384 * PATCH_FACTOR * PATCH_FACTOR
    video_fps: float = 2.0
    video_min_frames: int = 4
    video_max_frames: int = 768
    video_min_pixels: int = 128 * PATCH_FACTOR * PATCH_FACTOR
    video_max_pixels: int = 768 * PATCH_FACTOR * PATCH_FACTOR
    video_total_pixels: float = 128000 * PATCH_FACTOR * PATCH_FACTOR * 0.9  # MODEL_SEQ_LEN budget
    factor: int = PATCH_FACTOR

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class VideoClip:
    """Sampled frames of one video and the facts the processors need about the sampling."""

    frames: torch.Tensor  # [T, C, H, W] float32 in 0..255
    video_fps: float  # frame rate of the file
    total_frames: int
    frame_indices: list[int]

    @property
    def sample_fps(self) -> float:
        return len(self.frame_indices) / max(self.total_frames, 1e-6) * self.video_fps


class MediaError(ValueError):
    """A medium is missing or cannot be decoded; the message names the file."""

    def __init__(self, kind: str, path: str | Path, problem: str) -> None:
        self.kind, self.path, self.problem = kind, str(path), problem
        super().__init__(f"{kind} {str(path)!r}: {problem}")


# -- sizes ---------------------------------------------------------------------------------------------------


def smart_resize(height: int, width: int, factor: int, min_pixels: float, max_pixels: float) -> tuple[int, int]:
    """(height, width) divisible by `factor`, pixel count within [min_pixels, max_pixels], aspect ratio kept."""
    if max(height, width) / max(min(height, width), 1) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio must be below {MAX_ASPECT_RATIO}, got {height}x{width}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def smart_nframes(total_frames: int, video_fps: float, settings: VisionSettings) -> int:
    """Number of frames to sample: `fps` per second, clamped to [min_frames, max_frames], an even count."""
    min_frames = math.ceil(settings.video_min_frames / FRAME_FACTOR) * FRAME_FACTOR
    max_frames = math.floor(min(settings.video_max_frames, total_frames) / FRAME_FACTOR) * FRAME_FACTOR
    nframes = total_frames / video_fps * settings.video_fps
    nframes = min(min(max(nframes, min_frames), max_frames), total_frames)
    nframes = math.floor(nframes / FRAME_FACTOR) * FRAME_FACTOR
    if not FRAME_FACTOR <= nframes <= total_frames:
        raise ValueError(f"cannot sample {FRAME_FACTOR}..{total_frames} frames (got {nframes}); the video is too short")
    return int(nframes)


# -- images --------------------------------------------------------------------------------------------------


def load_image(path: str | Path, settings: VisionSettings | None = None) -> Image.Image:
    """RGB image resized as qwen-omni-utils' `fetch_image` does."""
    from PIL import Image

    settings = settings or VisionSettings()
    _require_file("image", path)
    try:
        with Image.open(path) as img:
            img.load()
            image = _to_rgb(img)
        height, width = smart_resize(
            image.height, image.width, settings.factor, settings.image_min_pixels, settings.image_max_pixels
        )
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError("image", path, f"cannot be decoded ({exc})") from exc
    return image.resize((width, height))


def _to_rgb(image: Image.Image) -> Image.Image:
    from PIL import Image

    if image.mode == "RGBA":  # transparent areas become white, as in qwen-omni-utils
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        return background
    return image.convert("RGB")


# -- audio ---------------------------------------------------------------------------------------------------


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples at `sample_rate` from any container PyAV reads (wav, flac, mp3, ogg, m4a, ...)."""
    import av
    import numpy as np

    _require_file("audio", path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError("audio", path, "has no audio stream")
            stream = container.streams.audio[0]
            # Decode to planar float at the native rate and layout; downmix ourselves (librosa: channel mean).
            resampler = av.AudioResampler(format="fltp")
            chunks = [
                out.to_ndarray()
                for frame in container.decode(stream)
                for out in resampler.resample(frame)
            ]
            rate = stream.codec_context.sample_rate or stream.rate
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError("audio", path, f"cannot be decoded ({exc})") from exc
    if not chunks:
        raise MediaError("audio", path, "contains no samples")
    samples = np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32)
    if rate != sample_rate:
        samples = resample(samples, rate, sample_rate)
    return samples


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Resample mono float32 samples with libswresample (through PyAV)."""
    import av
    import numpy as np

    mono = np.ascontiguousarray(samples[None, :], dtype=np.float32)
    frame = av.AudioFrame.from_ndarray(mono, format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)
    outs = list(resampler.resample(frame)) + list(resampler.resample(None))  # None flushes the tail
    return np.concatenate([o.to_ndarray().reshape(-1) for o in outs]).astype(np.float32)


# -- video ---------------------------------------------------------------------------------------------------


def load_video(path: str | Path, settings: VisionSettings | None = None) -> VideoClip:
    """Frames sampled and resized as qwen-omni-utils' `fetch_video` does (audio track ignored)."""
    import av
    import numpy as np
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    settings = settings or VisionSettings()
    _require_file("video", path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError("video", path, "has no video stream")
            stream = container.streams.video[0]
            video_fps = float(stream.average_rate or stream.guessed_rate or 0)
            total = stream.frames or _count_frames(container, stream)
            if total <= 0 or video_fps <= 0:
                raise MediaError("video", path, "has no decodable frames")
            nframes = smart_nframes(total, video_fps, settings)
            indices = torch.linspace(0, total - 1, nframes).round().long().tolist()
            frames = _decode_frames(container, stream, indices)
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError("video", path, f"cannot be decoded ({exc})") from exc
    if len(frames) < len(indices):
        if not frames:
            raise MediaError("video", path, "has no decodable frames")
        frames += [frames[-1]] * (len(indices) - len(frames))  # container over-reported its frame count
    video = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)  # [T, C, H, W] uint8
    height, width = video.shape[-2:]
    max_pixels = max(
        min(settings.video_max_pixels, settings.video_total_pixels / nframes * FRAME_FACTOR),
        int(settings.video_min_pixels * 1.05),
    )
    try:
        new_h, new_w = smart_resize(height, width, settings.factor, settings.video_min_pixels, max_pixels)
    except ValueError as exc:
        raise MediaError("video", path, str(exc)) from exc
    video = TF.resize(video, [new_h, new_w], interpolation=InterpolationMode.BICUBIC, antialias=True).float()
    return VideoClip(frames=video, video_fps=video_fps, total_frames=int(total), frame_indices=indices)


def _count_frames(container: Any, stream: Any) -> int:
    count = sum(1 for _ in container.decode(stream))
    container.seek(0)
    return count


def _decode_frames(container: Any, stream: Any, indices: list[int]) -> list[np.ndarray]:
    """Decode sequentially and keep the frames at `indices` (which may repeat for very short videos)."""
    wanted: dict[int, int] = {}
    for i in indices:
        wanted[i] = wanted.get(i, 0) + 1
    frames = []
    for i, frame in enumerate(container.decode(stream)):
        if i in wanted:
            frames.extend([frame.to_ndarray(format="rgb24")] * wanted[i])
        if i >= indices[-1]:
            break
    return frames


# -- validation ----------------------------------------------------------------------------------------------


def _require_file(kind: str, path: str | Path) -> None:
    p = Path(path)
    if not p.exists():
        raise MediaError(kind, path, "does not exist")
    if not p.is_file():
        raise MediaError(kind, path, "is not a file")


def validate_media(kind: str, path: str | Path) -> str | None:
    """None if the medium exists and decodes (a video must yield frames), else a one-line problem naming the file.

    Images are fully decoded; audio and video are probed by decoding their first frame(s) only, so checking a
    whole benchmark before loading a model stays fast.
    """
    try:
        _require_file(kind, path)
        if kind == "image":
            from PIL import Image

            with Image.open(path) as img:
                img.load()
                smart_resize(img.height, img.width, PATCH_FACTOR, 0, float("inf"))  # aspect-ratio check
        elif kind in ("audio", "video"):
            _probe_stream(kind, path)
        else:
            return f"{kind} {str(path)!r}: unknown media kind"
    except MediaError as exc:
        return str(exc)
    except Exception as exc:  # any decoder failure is a problem to report, not a crash
        return f"{kind} {str(path)!r}: cannot be decoded ({exc})"
    return None


def _probe_stream(kind: str, path: str | Path) -> None:
    import av

    # Audio needs one decodable frame; a video needs FRAME_FACTOR frames, the fewest `load_video` can sample.
    needed = FRAME_FACTOR if kind == "video" else 1
    with av.open(str(path)) as container:
        streams = container.streams.audio if kind == "audio" else container.streams.video
        if not streams:
            raise MediaError(kind, path, f"has no {kind} stream")
        decoded = 0
        for _ in container.decode(streams[0]):
            decoded += 1
            if decoded >= needed:
                return
    if kind == "audio":
        raise MediaError(kind, path, "contains no samples")
    raise MediaError(kind, path, f"has {decoded} decodable frame(s), at least {FRAME_FACTOR} are needed")
