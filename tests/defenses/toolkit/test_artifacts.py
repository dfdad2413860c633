import json

import pytest
import torch

from defenses.toolkit.artifacts import (ArtifactMismatchError, Manifest, ModelIdentity, artifact_dir, load_artifact,
                                        save_artifact)


def manifest(model: ModelIdentity, data_hash="d1"):
    return Manifest(kind="regap", model=model.__dict__, layers=[1, 2], data_hash=data_hash, data="organism:calib",
                    params={"variant": "orth"})


def test_roundtrip_and_refusals(tmp_path):
    a = ModelIdentity("org/model-a", None, "aaaa")
    b = ModelIdentity("org/model-b", "main", "bbbb")
    d = artifact_dir(tmp_path, "regap", a, "d1", {"variant": "orth"})
    save_artifact(d, manifest(a), {"drift.image.3": torch.arange(4.0)})
    m, tensors = load_artifact(d, model=a, data_hash_="d1", kind="regap")
    assert m.layers == [1, 2] and torch.equal(tensors["drift.image.3"], torch.arange(4.0))
    with pytest.raises(ArtifactMismatchError) as err:
        load_artifact(d, model=b)
    assert "org/model-a" in str(err.value) and "org/model-b@main" in str(err.value)
    with pytest.raises(ArtifactMismatchError) as err:
        load_artifact(d, model=a, data_hash_="d2")
    assert "organism:calib" in str(err.value) and "d2" in str(err.value)
    with pytest.raises(ArtifactMismatchError, match="not 'omnisteer'"):
        load_artifact(d, kind="omnisteer")
    (d / "tensors.safetensors").write_bytes((d / "tensors.safetensors").read_bytes()[:-1] + b"\x00")
    with pytest.raises(ArtifactMismatchError, match="changed after it was written"):
        load_artifact(d, model=a)
    assert json.loads((d / "manifest.json").read_text())["toolkit_version"] == "1"
