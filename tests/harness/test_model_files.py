"""The model-folder fingerprint: what changes it (weights rewritten, files added) and what does not (a copy)."""

import os
import shutil

from harness.model_files import CHUNK, folder_fingerprint


def _folder(root):
    root.mkdir()
    (root / "config.json").write_text('{"model_type": "qwen2"}')
    big = bytearray(os.urandom(3 * CHUNK))
    (root / "model.safetensors").write_bytes(big)
    (root / ".cache").mkdir()
    (root / ".cache" / "lock").write_text("x")
    return root, big


def test_fingerprint_follows_the_weights_not_the_copy(tmp_path):
    root, big = _folder(tmp_path / "m")
    before = folder_fingerprint(root)
    copy = shutil.copytree(root, tmp_path / "copy")
    assert folder_fingerprint(copy) == before  # other place, other modification times
    (root / ".cache" / "lock").write_text("y")  # hidden files are not the model
    assert folder_fingerprint(root) == before

    big[-10] ^= 0xFF  # the last MiB of a weight file
    (root / "model.safetensors").write_bytes(big)
    assert folder_fingerprint(root) != before
    (copy / "generation_config.json").write_text("{}")  # a file added
    assert folder_fingerprint(copy) != before
    (copy / "config.json").write_text('{"model_type": "qwen2_vl"}')
    assert folder_fingerprint(copy) not in (before, folder_fingerprint(root))

