"""Picking a backend name from a model's config (`model_type`) without importing torch."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# model_type -> backend name; anything else is served by the generic text backend.
MODEL_TYPE_BACKENDS: dict[str, str] = {
    "qwen2_5_omni": "qwen2.5-omni",
    "qwen2_5_omni_thinker": "qwen2.5-omni",
    "qwen2_5_vl": "qwen2.5-vl",
}
DEFAULT_BACKEND = "hf-text"


def backend_for_model_type(model_type: str | None) -> str:
    return MODEL_TYPE_BACKENDS.get(model_type or "", DEFAULT_BACKEND)


def detect_backend(model_path_or_config: str | Path | Mapping[str, Any] | Any, revision: str | None = None) -> str:
    """Backend name for a local model directory, a hub id, a config dict or a `PretrainedConfig`.

    A local directory is read from its `config.json`; a hub id fetches only that file.
    """
    source = model_path_or_config
    if isinstance(source, Mapping):
        return backend_for_model_type(source.get("model_type"))
    if hasattr(source, "model_type") and not isinstance(source, (str, Path)):
        return backend_for_model_type(source.model_type)
    path = Path(source)
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"{str(path)!r} has no config.json")
    elif path.is_file():
        config_file = path
    else:
        from huggingface_hub import hf_hub_download

        config_file = Path(hf_hub_download(str(source), "config.json", revision=revision))
    from harness.files import read_json

    return backend_for_model_type(read_json(config_file).get("model_type"))
