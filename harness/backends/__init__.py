"""Model backends: real `transformers` models behind one contract (see `base`)."""

from harness.backends.base import (
    EMBED,
    ForwardState,
    GenerationOutput,
    LayerHook,
    ModelBackend,
    PrefillOutput,
    PreparedBatch,
)

__all__ = [
    "EMBED",
    "ForwardState",
    "GenerationOutput",
    "LayerHook",
    "ModelBackend",
    "PrefillOutput",
    "PreparedBatch",
]
