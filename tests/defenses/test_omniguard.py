"""omniguard: probe training, threshold rules, the fixed reply for flagged rows, and one layer convention for
training and inference (defect D12)."""

from __future__ import annotations

import pytest
import torch

from defenses.base import NoDefense
from defenses.omniguard.defense import REPLY, OmniGuard
from defenses.omniguard.probe import calibrate_threshold, fit_probe
from harness.records import GenerationConfig

PARAMS = {"data": "smoke:text", "n_per_group": 8, "epochs": 5, "layer": 1}


def test_probe_learns_a_separable_problem_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 16, generator=g) * 50 + 200  # large-norm states, as in deep layers
    y = torch.arange(80) % 2 == 0
    x[y, 3] += 500  # ten noise standard deviations
    for kind in ("mlp", "linear"):
        probe = fit_probe(kind, x, y, epochs=20, lr=1e-2, batch_size=8, seed=0)
        scores = probe.scores(x)
        assert float(scores[y].min()) > 0.5 > float(scores[~y].max())
        again = fit_probe(kind, x, y, epochs=20, lr=1e-2, batch_size=8, seed=0)
        assert torch.equal(scores, again.scores(x))


def test_threshold_rules():
    scores = torch.tensor([0.9, 0.8, 0.6, 0.7, 0.3, 0.2, 0.1, 0.65])
    harmful = torch.tensor([True, True, True, False, False, False, False, False])
    assert calibrate_threshold(scores, harmful, "youden") == pytest.approx(0.8)  # J = 2/3 beats 0.6 (1 - 2/5)
    tau = calibrate_threshold(scores, harmful, "benign_budget", budget=0.2)
    assert tau == pytest.approx(0.7) and int((scores[~harmful] >= tau).sum()) == 1  # 1 of 5 benign flagged
    assert calibrate_threshold(scores, harmful, "benign_budget", budget=0.0) == pytest.approx(0.8)
    assert calibrate_threshold(scores, harmful, "fixed") == 0.5
    with pytest.raises(ValueError):
        calibrate_threshold(scores, harmful, "median")


def test_flagged_rows_get_the_fixed_reply_and_others_generate(tiny_backend, make_context):
    from defenses.contract import contract_samples

    backend = tiny_backend("tiny-text")
    samples = contract_samples(backend, make_context("tiny-text").cache_dir / "media")
    config = GenerationConfig(max_new_tokens=4)
    everyone = OmniGuard(**PARAMS, threshold=0.0)
    everyone.setup(backend, make_context("tiny-text"))
    out = everyone.generate(backend, samples, config)
    assert [o.text for o in out] == [REPLY] * len(samples) and {o.n_new_tokens for o in out} == {0}
    assert all(o.info["omniguard_flagged"] for o in out)
    nobody = OmniGuard(**PARAMS, threshold=1.01)
    nobody.setup(backend, make_context("tiny-text"))
    plain = NoDefense().generate(backend, samples, config)
    assert [o.text for o in nobody.generate(backend, samples, config)] == [o.text for o in plain]
    # the calibrated threshold is recorded and comes from the validation split
    info = OmniGuard(**PARAMS)
    info.setup(backend, make_context("tiny-text"))
    art = info.info()["artifact"]
    assert art["layer"] == 1 and art["threshold_rule"] == "youden" and 0.0 <= art["threshold"] <= 1.0
    assert art["path"] == everyone.info()["artifact"]["path"]  # threshold is not part of the calibration


def test_training_and_inference_read_the_same_layer(tiny_backend, make_context):
    """D12: the probe's training features (collect) and inference features (read_batch on the generated batch)
    are both the output of layers[L], i.e. transformers' hidden_states[L + 1]."""
    from defenses.toolkit.collect import collect, read_batch

    backend = tiny_backend("tiny-text")
    guard = OmniGuard(**PARAMS)
    context = make_context("tiny-text")
    guard.setup(backend, context)
    split_samples = context.load_samples("smoke:text")[:4]
    train_feats = collect(backend, split_samples, [1], position="mean").states[1]
    batch = backend.prepare(split_samples)
    infer_feats = read_batch(backend, batch, [1], position="mean")[1]
    torch.testing.assert_close(train_feats, infer_feats, rtol=0, atol=1e-5)
    with torch.no_grad():
        out = backend.model(**batch.inputs, output_hidden_states=True)
    mask = batch.inputs["attention_mask"].unsqueeze(-1).float()
    hf = (out.hidden_states[2].float() * mask).sum(1) / mask.sum(1)
    torch.testing.assert_close(infer_feats, hf, rtol=0, atol=1e-5)
    assert not torch.allclose(infer_feats, (out.hidden_states[1].float() * mask).sum(1) / mask.sum(1), atol=1e-3)


def test_layer_choice_by_validation_auroc(tiny_backend, make_context):
    backend = tiny_backend("tiny-text")
    guard = OmniGuard(**{**PARAMS, "layer": None, "probe": "linear"})
    guard.setup(backend, make_context("tiny-text"))
    art = guard.info()["artifact"]
    table = {int(k): v for k, v in art["validation_auroc"].items()}
    assert sorted(table) == [0, 1, 2] and art["layer"] == max(table, key=lambda k: (table[k], -k))
