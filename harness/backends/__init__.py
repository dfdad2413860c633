"""Model backends: real `transformers` models behind one contract (see `base`).

Importing this package never imports torch: the built-in backends are registered as lazy "module:Class"
strings.
"""

from harness.backends.base import (
    EMBED,
    ContinuationScore,
    ForwardState,
    GenerationOutput,
    LayerHook,
    ModelBackend,
    PrefillOutput,
    PreparedBatch,
)
from harness.backends.detect import detect_backend

BUILTIN_BACKENDS: dict[str, str] = {
    "hf-text": "harness.backends.hf_text:HFTextBackend",
    "qwen2.5-omni": "harness.backends.qwen_omni:QwenOmniBackend",
    "qwen2.5-vl": "harness.backends.qwen_vl:QwenVLBackend",
}

__all__ = [
    "BUILTIN_BACKENDS",
    "ContinuationScore",
    "EMBED",
    "ForwardState",
    "GenerationOutput",
    "LayerHook",
    "ModelBackend",
    "PrefillOutput",
    "PreparedBatch",
    "detect_backend",
]
