"""Qwen2.5-VL (`Qwen2_5_VLForConditionalGeneration` + `Qwen2_5_VLProcessor`): image, video and text input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.backends.hf_media import HFMediaBackend
from harness.records import Sample


class QwenVLBackend(HFMediaBackend):
    name = "qwen2.5-vl"
    modalities = frozenset({"text", "image", "video"})
    default_system_prompt = None  # the chat template's own "You are a helpful assistant."

    def _load_processor(self, **kwargs: Any) -> Any:
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(self.model_name, **kwargs)

    def _load_model(self, **kwargs: Any) -> Any:
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration.from_pretrained(self.model_name, **kwargs)

    def _language_model(self) -> Any:
        return self._model.model.language_model

    def _encode(self, texts: list[str], samples: list[Sample]) -> Mapping[str, Any]:
        from transformers.video_utils import VideoMetadata

        media = self.load_media(samples)
        videos_kwargs = self._videos_kwargs()
        if media.videos:
            # The processor derives each video's seconds per temporal patch from the sampled frame rate, as
            # qwen-vl-utils passes it (`fps` = frames kept / total frames * file fps).
            videos_kwargs["video_metadata"] = [
                VideoMetadata(total_num_frames=c.total_frames, fps=c.video_fps, frames_indices=c.frame_indices)
                for c in media.videos
            ]
        return self.processor(
            text=texts,
            images=media.images or None,
            videos=[clip.frames for clip in media.videos] or None,
            return_tensors="pt",
            padding=True,
            padding_side="left",
            videos_kwargs=videos_kwargs,
        )
