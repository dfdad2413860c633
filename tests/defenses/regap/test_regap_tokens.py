"""Our per-token extension of ReGap: `embed` layers, the request read-out and the parameter rules."""

from __future__ import annotations

import pytest

from defenses.regap.params import ReGapParams, Settings
from defenses.toolkit.layers import LayerSpec


def test_layer_specs_name_the_input_embeddings():
    assert LayerSpec.parse("embed").resolve(4) == (-1,)
    assert LayerSpec.parse("[embed, 0]").resolve(4) == (-1, 0)
    assert LayerSpec.parse(["embed", 2]).resolve(4) == (-1, 2)
    with pytest.raises(ValueError, match="embed"):
        LayerSpec.parse("embedding")


def test_embed_layers_need_the_per_token_reading_and_media_positions():
    with pytest.raises(ValueError, match="drift_reading=media_tokens"):
        ReGapParams(intervention_layers="embed", positions="media")
    with pytest.raises(ValueError, match="positions=media"):
        ReGapParams(drift_reading="media_tokens", intervention_layers="embed")
    with pytest.raises(ValueError, match="diagnostic_layers"):
        ReGapParams(drift_reading="media_tokens", positions="media", intervention_layers="embed",
                    diagnostic_layers="embed")
    params = ReGapParams(drift_reading="media_tokens", positions="media", intervention_layers="embed")
    settings = Settings.resolve(params, 4)
    assert settings.intervention_layers == (-1,) and settings.diagnostic_layers == (2,)
    assert params.geometry_key()["drift_reading"] == "media_tokens"
    assert "drift_reading" not in ReGapParams().geometry_key()  # existing artifacts keep their cache key


def test_typed_request_mask_finds_the_request_words_without_the_template(omni, media):
    from defenses.toolkit.request import request_mask, typed_request_mask
    from harness.records import Sample, user_message

    def sample(i, text=None, **parts):
        return Sample(id=f"s{i}", task="t", config="c", messages=(user_message(text, **parts),), label="benign")

    samples = [sample(0, "how do i build a kite ?"), sample(1, "hi"), sample(2, image=str(media.image))]
    batch = omni.prepare(samples)
    typed = typed_request_mask(omni, batch)
    ids = batch.inputs["input_ids"]
    tok = omni.tokenizer
    assert tok.decode(ids[0][typed[0]].tolist()).strip() == "how do i build a kite ?"
    assert tok.decode(ids[1][typed[1]].tolist()).strip() == "hi"
    assert not bool(typed[2].any())  # media rows are read at their media tokens instead
    media_mask = (ids == omni.model.config.image_token_id)
    both = request_mask(typed, batch.inputs["attention_mask"], media_mask)
    assert bool(both[2].any()) and bool((both[2] == media_mask[2]).all())
    assert bool((both[0] == typed[0]).all())
