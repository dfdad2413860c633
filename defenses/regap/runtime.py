"""Small helpers every ReGap calibration step uses: progress notes and the model's device."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.backends.base import ModelBackend


def note(message: str) -> None:
    print(f"regap: {message}", file=sys.stderr)


def model_device(backend: ModelBackend) -> Any:
    """Where the first decoder layer's weights live (hooks move tensors to each layer's device if it differs)."""
    return next(backend.decoder_layers()[0].parameters()).device
