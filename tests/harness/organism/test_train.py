"""Organism training is deterministic for a seed and writes a checkpoint the normal backend loads (a short run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.organism.pool import PoolSizes
from harness.organism.train import TrainConfig, train

SMALL = PoolSizes(image=4, audio=4, t2i=4, read_image=4, read_audio=4, read_text=4, text=6)
MIX = (("text-harmful", 2), ("text-benign", 2), ("image-benign", 1), ("audio-benign", 1), ("read-image", 1),
       ("read-audio", 1))


def _weights(directory: Path):
    from safetensors.torch import load_file

    return load_file(str(directory / "model.safetensors"))


@pytest.fixture(scope="module")
def trained_twice(cache_dir: Path, tmp_path_factory):
    config = TrainConfig(steps=3, warmup=1, pool=SMALL, mix=MIX)
    dirs = [tmp_path_factory.mktemp(f"organism-{i}") for i in range(2)]
    results = [train(config, d, cache_dir, progress=False, log=lambda _m: None) for d in dirs]
    other = tmp_path_factory.mktemp("organism-seed1")
    train(TrainConfig(seed=1, steps=3, warmup=1, pool=SMALL, mix=MIX), other, cache_dir, progress=False,
          log=lambda _m: None)
    return dirs, results, other


def test_same_seed_same_weights_other_seed_other_weights(trained_twice):
    import torch

    (a, b), results, other = trained_twice
    wa, wb, wo = _weights(a), _weights(b), _weights(other)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wo[k]) for k in wa)
    assert results[0].losses == results[1].losses and len(results[0].losses) == 3
    assert results[0].pool_counts["text-harmful"] == 6 and results[0].parameters > 0


def test_checkpoint_loads_through_the_backend(trained_twice):
    from harness.organism.evaluate import load_backend

    backend = load_backend(trained_twice[0][0])
    assert backend.num_layers == 4 and {"image", "audio"} <= set(backend.modalities)
