"""Organism training is deterministic for a seed and writes a checkpoint the normal backend loads (a short run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from organism.pool import PoolSizes
from organism.recipes import TrainConfig
from organism.train import train

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
    from organism.evaluate import load_backend

    backend = load_backend(trained_twice[0][0])
    assert backend.num_layers == 4 and {"image", "audio"} <= set(backend.modalities)


def test_training_forward_equals_the_thinkers_own_forward(cache_dir: Path):
    """The training step's forward (shared prefix run once, towers run once per batch, media merged by us) gives
    the hidden states the thinker computes on the full rows itself, and the slot targets line up with the towers'
    output tokens."""
    import torch

    from organism.batches import collate, prepare_examples, split_prefix
    from organism.evaluate import load_backend
    from organism.pool import build_pool
    from organism.samples import OrganismMedia
    from organism.targets import media_word_targets
    from organism.train import _media_token_ids, forward_hidden, merge_media, tower_features
    from organism.zoo import shipped

    backend = load_backend(shipped("organism"))
    thinker = backend.model
    pool = build_pool(OrganismMedia(cache_dir), 0, SMALL)
    examples = [e for kind in ("text-benign", "image-benign", "audio-benign", "t2i-benign", "read-audio")
                for e in pool.buckets[kind][:2]]
    full = prepare_examples(backend, examples)
    prefix, rest = split_prefix(full, _media_token_ids(thinker))
    batch, whole = collate(rest, backend.pad_id()), collate(full, backend.pad_id())
    with torch.no_grad():
        image, audio = tower_features(thinker, batch)
        ours = forward_hidden(thinker, prefix, batch, merge_media(thinker, batch, image, audio))
        theirs = thinker.model(**whole.model_inputs()).last_hidden_state
    for row, t in enumerate(rest):
        n = len(t.input_ids)
        assert torch.allclose(ours[row, :n], theirs[row, len(prefix):len(prefix) + n], atol=1e-4)
    targets = media_word_targets(rest, TrainConfig())
    want_image = torch.cat([targets[id(t)]["image"] for t in rest])
    want_audio = torch.cat([targets[id(t)]["audio"] for t in rest])
    assert image.shape[0] == len(want_image) > 0 and audio.shape[0] == len(want_audio) > 0
    # The shipped organism reads: most media tokens name their slot's word through the output head.
    with torch.no_grad():
        assert (thinker.lm_head(image).argmax(-1) == want_image).float().mean() > 0.8
        assert (thinker.lm_head(audio).argmax(-1) == want_audio).float().mean() > 0.8


def test_loading_a_trained_organism_as_a_base_prints_no_transformers_warnings(capfd):
    from organism.architecture import load_full
    from organism.zoo import shipped

    model, processor = load_full(shipped("organism-planted"))
    assert model.thinker is not None and processor is not None
    err = capfd.readouterr().err
    assert "Model config:" not in err and "unexpected behavior" not in err
