"""Small media files generated for tests."""

from __future__ import annotations

from pathlib import Path


def write_video(path: Path, frames: int, fps: int) -> Path:
    """An MP4 of `frames` 64x48 frames at `fps`; frame i has gray level 30 * i (mod 256)."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            arr = np.full((48, 64, 3), (30 * i) % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
