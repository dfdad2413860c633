"""`validate_medium(kind, path)`: does a media file exist and decode? (None when fine, else a message.)

Same signature as `harness.media_io.validate_medium` (the runner's check); this copy lets the task checks run
before that module exists, and the two are to be deduplicated. Checks are cheap but real: an image is fully
decoded, audio frames are read, a video must yield at least one decoded frame.
"""

from __future__ import annotations

from pathlib import Path


def validate_medium(kind: str, path: str) -> str | None:
    if kind not in ("image", "audio", "video"):
        return f"unknown media kind {kind!r} for {path}"
    p = Path(path)
    if not path or not p.is_file():
        return f"{kind} file missing: {path}"
    if p.stat().st_size == 0:
        return f"{kind} file is empty: {path}"
    check = {"image": _image, "audio": _audio, "video": _video}[kind]
    try:
        problem = check(p)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a problem to report, not a crash
        return f"{kind} does not decode: {path} ({type(exc).__name__}: {str(exc)[:160]})"
    return f"{kind} does not decode: {path} ({problem})" if problem else None


def _image(path: Path) -> str | None:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.width < 1 or im.height < 1:
            return "empty image"
    return None


def _audio(path: Path) -> str | None:
    try:
        import soundfile as sf

        with sf.SoundFile(str(path)) as f:
            if f.frames == 0 or f.samplerate <= 0:
                return "no audio frames"
            f.read(frames=min(f.frames, 4096))
        return None
    except Exception:  # noqa: BLE001 - formats libsndfile does not read (m4a, some mp3): try FFmpeg via PyAV
        return _audio_av(path)


def _audio_av(path: Path) -> str | None:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return "no audio stream"
        for _frame in container.decode(audio=0):
            return None
    return "no audio frames"


def _video(path: Path) -> str | None:
    import av

    with av.open(str(path)) as container:
        fmt = container.format.name
        if fmt.endswith("_pipe") or fmt == "image2":  # FFmpeg decodes a still image as a one-frame "video"
            return f"a still image ({fmt}), not a video"
        if not container.streams.video:
            return "no video stream"
        for _frame in container.decode(video=0):
            return None
    return "no video frames"
