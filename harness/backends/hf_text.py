"""Text-only causal LMs (`AutoModelForCausalLM` + tokenizer chat template), e.g. Qwen2.5-Instruct."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.backends.hf_common import HFBackend
from harness.records import Sample


class HFTextBackend(HFBackend):
    name = "hf-text"
    content_style = "string"  # text templates take a plain string per turn
    default_system_prompt = None  # the chat template's own default system turn

    def _load_processor(self, **kwargs: Any) -> Any:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model_name, **kwargs)
        if not tokenizer.chat_template:
            raise ValueError(f"the tokenizer of {self.model_name!r} has no chat template")
        return tokenizer

    def _load_model(self, **kwargs: Any) -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(self.model_name, **kwargs)

    def _language_model(self) -> Any:
        return self._model.get_decoder()

    def _encode(self, texts: list[str], samples: list[Sample]) -> Mapping[str, Any]:
        # The template already holds every special token (no second BOS).
        return self.processor(
            texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False
        )

    def _processor_settings(self) -> dict[str, Any]:
        return {"padding_side": "left"}
