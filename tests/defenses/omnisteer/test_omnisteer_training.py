"""OmniSteer pieces without a model: adapter, loss, balanced sampler, the per-layer fit and its checkpoint rule,
presets."""

from __future__ import annotations

import math

import pytest
import torch

from defenses.omnisteer.adapter import adapter_shape, hinge_l1_loss, make_adapter
from defenses.omnisteer.presets import PRESETS, auto_preset, get_preset
from defenses.omnisteer.train import TrainConfig, balanced_order, fit_layer, fit_scaled, steps_per_layer
from harness.registry import UnknownNameError


def config(**changes) -> TrainConfig:
    base = dict(preset="test", layers=(0,), a=0.3, b=0.5, beta_h=0.01, beta_s=0.05, lr=1e-2, epochs=3,
                batch_size=4, bottleneck=16, mode="sequential", golden_modalities=None, seed=0, eval_every=10)
    return TrainConfig(**{**base, **changes})


def test_adapter_starts_silent_has_the_reference_size_and_seeded_init():
    state = torch.get_rng_state()
    adapter = make_adapter(3584, 128, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is not consumed
    assert sum(p.numel() for p in adapter.parameters()) == 459_009  # spec 3.1
    assert torch.equal(adapter(torch.randn(5, 3584)), torch.zeros(5, 1))  # zero-initialised last layer
    again = make_adapter(3584, 128, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(adapter.state_dict().values(), again.state_dict().values()))
    assert adapter_shape(adapter.state_dict()) == (3584, 128)
    assert all(p.dtype == torch.float32 for p in adapter.parameters())


def test_hinge_l1_loss_by_hand():
    k = torch.tensor([0.5, -1.0, 0.0])
    proj0 = torch.tensor([1.0, 0.0, -3.0])
    harmful = torch.tensor([True, False, True])
    n, a, b, bh, bs = 2.0, 1.0, 0.5, 0.1, 0.2
    # harmful 0: proj 1.5, relu(2 - 1.5)/2 + 0.1*0.5 = 0.3; harmful 2: proj -3, relu(2 + 3)/2 + 0 = 2.5
    # benign 1: proj -1, relu(-1 + 1)/2 + 0.2*1 = 0.2
    loss = hinge_l1_loss(k, proj0, harmful, n, a=a, b=b, beta_h=bh, beta_s=bs)
    assert float(loss) == pytest.approx((0.3 + 2.5) / 2 + 0.2)
    only_harmful = hinge_l1_loss(k[:1], proj0[:1], harmful[:1], n, a=a, b=b, beta_h=bh, beta_s=bs)
    assert float(only_harmful) == pytest.approx(0.3)  # an absent class is left out, not averaged as 0


def test_balanced_order_oversamples_the_minority_and_is_seeded():
    harmful = torch.tensor([True] * 7 + [False] * 3)
    order = balanced_order(harmful, torch.Generator().manual_seed(1))
    assert len(order) == 14 and int(harmful[order].sum()) == 7
    assert set(order[~harmful[order]].tolist()) == {7, 8, 9}  # every benign item drawn, some twice
    assert torch.equal(order, balanced_order(harmful, torch.Generator().manual_seed(1)))
    assert not torch.equal(order, balanced_order(harmful, torch.Generator().manual_seed(2)))
    assert steps_per_layer(harmful, config()) == 3 * math.ceil(14 / 4)
    with pytest.raises(ValueError):
        balanced_order(torch.tensor([True, True]), torch.Generator())


def _features(n: int, seed: int):
    """Harmful items sit slightly below the harmful target, benign ones above the benign target: the adapter
    must learn to push harmful up and benign down along d = e0."""
    g = torch.Generator().manual_seed(seed)
    harmful = torch.arange(n) % 2 == 0
    x = torch.randn(n, 8, generator=g) * 0.1
    x[:, 1] = torch.where(harmful, 1.0, -1.0)  # the feature the adapter can key on
    x[:, 0] = 0.0
    return x, harmful


def test_fit_layer_learns_the_signed_correction_and_selects_on_validation():
    unit = torch.zeros(8)
    unit[0] = 1.0
    train, val = _features(64, 0), _features(32, 1)
    fit = fit_layer(0, train, val, unit, 1.0, config())
    adapter = make_adapter(8, 16)
    adapter.load_state_dict(fit.state)
    k = adapter(val[0]).squeeze(-1).detach()
    assert float(k[val[1]].mean()) > 0.1 > -0.1 > float(k[~val[1]].mean())
    assert fit.diagnostics["val_hinge_ok_after"] > fit.diagnostics["val_hinge_ok_before"]
    logged = {int(e["step"]): e["val_loss"] for e in fit.log}
    assert fit.chosen_step in logged and logged[fit.chosen_step] == min(logged.values()) == fit.chosen_val
    assert min(logged) == 0 and max(logged) == fit.steps == steps_per_layer(train[1], config())
    again = fit_layer(0, train, val, unit, 1.0, config())
    assert all(torch.equal(fit.state[k], again.state[k]) for k in fit.state)  # seeded: reproducible


def test_the_l1_scale_is_chosen_per_layer_by_validation_hinge_satisfaction():
    unit = torch.zeros(8)
    unit[0] = 1.0
    train, val = _features(64, 0), _features(32, 1)
    # golden norm 20: the hinge pulls a benign item by 1/20 per unit of k, the paper's benign L1 weight (0.05) holds it
    scaled = config(beta_scales=(1.0, 0.1), epochs=10, lr=3e-2)
    fit = fit_scaled(0, train, val, unit, 20.0, scaled)
    assert fit.diagnostics["beta_scale"] == 0.1 and fit.tried["0.1"] > fit.tried["1"] + 0.3
    assert fit.diagnostics["val_hinge_ok_after"] == fit.tried["0.1"]
    alone = fit_layer(0, train, val, unit, 20.0, config(epochs=10, lr=3e-2, beta_h=0.001, beta_s=0.005))
    assert all(torch.equal(fit.state[k], alone.state[k]) for k in fit.state)  # the same fit as that scale alone
    assert steps_per_layer(train[1], scaled) == 2 * steps_per_layer(train[1], config(epochs=10))
    # one scale: the paper's training, and the artifact parameters (hence its hash) as before
    single = fit_scaled(0, train, val, unit, 1.0, config())
    assert "beta_scale" not in single.diagnostics and not single.tried
    assert "beta_scales" not in config().to_dict()
    assert config(beta_scales=(1.0, 0.1)).to_dict()["beta_scales"] == [1.0, 0.1]
    with pytest.raises(ValueError, match="beta_scales"):
        config(beta_scales=())


def test_checkpoint_rules():
    unit = torch.zeros(8)
    unit[0] = 1.0
    train = _features(64, 0)
    # A validation set whose labels are flipped: training makes it worse, so the zero adapter (step 0) wins.
    x, harmful = _features(32, 1)
    best = fit_layer(0, train, (x, ~harmful), unit, 1.0, config())
    assert best.chosen_step == 0 and all(float(v.abs().sum()) == 0 for k, v in best.state.items() if k.startswith("2"))
    last = fit_layer(0, train, (x, ~harmful), unit, 1.0, config(checkpoint="last"))
    assert last.chosen_step == last.steps
    with pytest.raises(ValueError, match="checkpoint"):
        config(checkpoint="median")


def test_presets_and_auto_resolution():
    qwen = get_preset("qwen2.5-omni-7b")
    assert (qwen.layers, qwen.a, qwen.b, qwen.beta_h, qwen.beta_s, qwen.lr) == ((15, 16, 17), 0.3, 0.5, 0.01, 0.05, 1e-3)
    assert qwen.mode == "sequential" and get_preset("qwen2.5-omni-7b-reference").mode == "independent"
    assert get_preset("minicpm-o-2.6").layers == (13, 14, 15, 16, 17) and get_preset("minicpm-o-2.6").lr == 5e-4
    assert get_preset("baichuan-omni-1.5").layers == tuple(range(15, 21))
    assert all(p.bottleneck == 128 and p.batch_size == 4 for p in PRESETS.values())
    assert auto_preset("Qwen/Qwen2.5-Omni-7B").name == "qwen2.5-omni-7b"
    assert auto_preset("openbmb/MiniCPM-o-2_6").name == "minicpm-o-2.6"
    assert auto_preset("baichuan-inc/Baichuan-Omni-1d5").name == "baichuan-omni-1.5"
    assert auto_preset("tiny-omni").name == "tiny"
    assert auto_preset("/data/retrained/organism").name == "organism"  # a local directory: its folder name counts
    with pytest.raises(ValueError, match="no preset for model"):
        auto_preset("/data/organism/model-v3")  # but not a folder above it
    with pytest.raises(ValueError, match="no preset for model"):
        auto_preset("some/other-model")
    with pytest.raises(UnknownNameError, match="qwen2.5-omni-7b"):
        get_preset("qwen2.5-omni")
    with pytest.raises(ValueError, match="increasing"):
        config(layers=(2, 1))
