"""Qwen2.5-Omni: the thinker only (text output), loaded from a full or a thinker-only checkpoint.

`Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained` reads the thinker out of the full checkpoint that
the hub repos hold (config `qwen2_5_omni`, weights prefixed `thinker.`): transformers takes the thinker's
sub-config and strips the prefix, and the talker / token2wav weights are never materialised. A thinker-only
checkpoint (config `qwen2_5_omni_thinker`) loads through the same call. So the talker is never loaded, and no
audio is generated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.backends.hf_media import HFMediaBackend
from harness.media_io import SAMPLE_RATE
from harness.records import Sample

QWEN_OMNI_SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving auditory "
    "and visual inputs, as well as generating text and speech."
)


class QwenOmniBackend(HFMediaBackend):
    name = "qwen2.5-omni"
    modalities = frozenset({"text", "image", "audio", "video"})
    default_system_prompt = QWEN_OMNI_SYSTEM_PROMPT

    def _load_processor(self, **kwargs: Any) -> Any:
        from transformers import AutoTokenizer, Qwen2_5OmniProcessor, Qwen2_5OmniThinkerConfig

        # Given no config, AutoTokenizer loads the full Qwen2_5OmniConfig, and transformers 5.x logs its repr,
        # which builds a *default* talker config whose token ids (151647, 151860, ...) lie outside that
        # default's own vocabulary (8448): seven warnings on every load of any Qwen2.5-Omni checkpoint, whatever
        # its config.json says. The thinker's config picks the same tokenizer and builds no talker.
        thinker = Qwen2_5OmniThinkerConfig.from_pretrained(self.model_name, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(self.model_name, config=thinker, **kwargs)
        return Qwen2_5OmniProcessor.from_pretrained(self.model_name, tokenizer=tokenizer, **kwargs)

    def _load_model(self, **kwargs: Any) -> Any:
        from transformers import Qwen2_5OmniThinkerForConditionalGeneration

        return Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(self.model_name, **kwargs)

    def _language_model(self) -> Any:
        return self._model.model.language_model

    def _forward_extras(self) -> dict[str, Any]:
        return {"use_audio_in_video": False}  # the same value in the processor call and the model (defect D6)

    def _encode(self, texts: list[str], samples: list[Sample]) -> Mapping[str, Any]:
        media = self.load_media(samples)
        return self.processor(
            text=texts,
            images=media.images or None,
            videos=[clip.frames for clip in media.videos] or None,
            audio=media.audio or None,
            return_tensors="pt",
            padding=True,
            padding_side="left",
            videos_kwargs=self._videos_kwargs(),
            **self._no_audio_from_video(),
        )

    def _no_audio_from_video(self) -> dict[str, bool]:
        # transformers 5.2x renamed the processor's `use_audio_in_video` to `load_audio_from_video`.
        names = getattr(getattr(type(self.processor), "valid_processor_kwargs", None), "__annotations__", {})
        return {"load_audio_from_video": False} if "load_audio_from_video" in names else {"use_audio_in_video": False}

    def _processor_settings(self) -> dict[str, Any]:
        return {
            **super()._processor_settings(),
            "use_audio_in_video": False,
            "audio_sample_rate": SAMPLE_RATE,
            # As in the reference pipeline (process_mm_info without video kwargs), the processor is not told
            # the sampled frame rate and assumes 2 fps for the temporal positions of video tokens.
            "processor_video_fps": 2.0,
        }
