"""Shared media handling of the Qwen vision / omni backends: loading a batch's media in placeholder order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.backends.conversation import media_in_order
from harness.backends.hf_common import HFBackend
from harness.media_io import SAMPLE_RATE, MediaError, VideoClip, VisionSettings, load_audio, load_image, load_video
from harness.records import Sample

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


@dataclass
class BatchMedia:
    """A batch's media, each list in the order the processor fills the placeholders (row by row)."""

    images: list[Image.Image] = field(default_factory=list)
    videos: list[VideoClip] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)


class HFMediaBackend(HFBackend):
    """A backend whose processor takes images / videos (/ audio) next to the templated text."""

    def __init__(self, model: str, *, vision: VisionSettings | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        # Image / video sampling as qwen-omni-utils does it; tests pass smaller video frames to stay fast.
        self.vision = vision or VisionSettings()

    def load_media(self, samples: list[Sample]) -> BatchMedia:
        media = BatchMedia()
        for sample in samples:
            for part in media_in_order([sample]):
                assert part.path is not None
                try:
                    if part.type == "image":
                        media.images.append(load_image(part.path, self.vision))
                    elif part.type == "video":
                        media.videos.append(load_video(part.path, self.vision))
                    elif part.type == "audio":
                        media.audio.append(load_audio(part.path, SAMPLE_RATE))
                except MediaError as exc:
                    raise MediaError(exc.kind, exc.path, f"{exc.problem} (sample {sample.id!r})") from exc
        return media

    def _videos_kwargs(self) -> dict[str, Any]:
        # Frames arrive sampled and resized (`load_video`); the same pixel bounds here make the processor's own
        # resize a no-op (transformers' processor-level defaults would otherwise override the saved config).
        kwargs: dict[str, Any] = {
            "do_sample_frames": False,
            "size": {"shortest_edge": self.vision.video_min_pixels, "longest_edge": self.vision.video_max_pixels},
        }
        # qwen-vl-utils' total-pixel cap (already applied by `load_video`); an opt-in only in some versions.
        valid = getattr(getattr(self.processor.video_processor, "valid_kwargs", None), "__annotations__", {})
        if "cap_pixels_per_frame" in valid:
            kwargs["cap_pixels_per_frame"] = True
        return kwargs

    def _media_token_ids(self) -> list[int]:
        config = self.model.config
        ids = [getattr(config, name, None) for name in ("image_token_id", "video_token_id", "audio_token_id")]
        return [int(i) for i in ids if i is not None]

    def _processor_settings(self) -> dict[str, Any]:
        return {"padding_side": "left", "vision": self.vision.to_dict()}
