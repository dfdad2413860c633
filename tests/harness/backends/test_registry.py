"""Built-in backend names, lazy registration and backend detection from a config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends import BUILTIN_BACKENDS, ModelBackend, detect_backend
from harness.registry import Registry


def test_builtin_backends_resolve_to_classes_with_their_names():
    registry: Registry[ModelBackend] = Registry("backend", base=ModelBackend)
    for name, target in BUILTIN_BACKENDS.items():
        registry.register(name, target, origin="builtin")
    assert registry.names() == ["hf-text", "qwen2.5-omni", "qwen2.5-vl"]
    for name in BUILTIN_BACKENDS:
        assert registry.get(name).name == name


def test_importing_backends_does_not_import_torch():
    code = (
        "import sys, harness.backends, harness.backends.hf_text, harness.backends.qwen_omni, "
        "harness.backends.qwen_vl, harness.media_io, harness.tiny_models; "
        "print(sorted(m for m in ('torch', 'transformers', 'av', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3])
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("model_type", "backend"),
    [("qwen2_5_omni", "qwen2.5-omni"), ("qwen2_5_omni_thinker", "qwen2.5-omni"), ("qwen2_5_vl", "qwen2.5-vl"),
     ("qwen2", "hf-text"), ("llama", "hf-text"), (None, "hf-text")],
)
def test_detect_backend_from_config_dict(model_type, backend):
    assert detect_backend({"model_type": model_type}) == backend


def test_detect_backend_from_directories_and_configs(tiny_text_path, tiny_omni_path, tiny_vl_path, tmp_path: Path):
    assert detect_backend(tiny_text_path) == "hf-text"
    assert detect_backend(str(tiny_omni_path)) == "qwen2.5-omni"
    assert detect_backend(tiny_vl_path) == "qwen2.5-vl"
    assert detect_backend(tiny_vl_path / "config.json") == "qwen2.5-vl"
    from transformers import AutoConfig

    assert detect_backend(AutoConfig.from_pretrained(tiny_omni_path)) == "qwen2.5-omni"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    assert detect_backend(tmp_path) == "qwen2.5-vl"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        detect_backend(empty)
