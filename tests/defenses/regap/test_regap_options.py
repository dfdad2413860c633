"""ReGap's options: decision maps, score kinds, drift variants and scopes, units, estimators; and a full
`harness run` with ReGap recording its status and per-row decisions."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from defenses.regap.decision import choose_lambda
from defenses.regap.probe import EXTRAS_KEY, Prober
from defenses.toolkit.directions import cosine
from harness.records import GenerationConfig
from tests.support.regap import PARAMS, held_out, make

CONFIG = GenerationConfig(max_new_tokens=4)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("regap-options")


@pytest.fixture(scope="module")
def batch_samples(load_task):
    test = held_out(load_task)
    return [s for s in test if s.modality == "image"][:3] + [s for s in test if s.modality == "audio"][:3] + \
        [s for s in test if s.modality == "text"][:1]


def test_decision_maps():
    z = torch.tensor([-1.0, 0.29, 0.3, 0.55, 2.0])
    tau = torch.full((5,), 0.3)
    two = choose_lambda(z, tau, decision="two_level", weak=0.25, strong=1.5)
    assert two.tolist() == [0.25, 0.25, 1.5, 1.5, 1.5]
    cont = choose_lambda(z, tau, decision="continuous", weak=0.0, strong=2.0, ramp=0.5)
    assert cont.tolist() == pytest.approx([0.0, 0.96, 1.0, 2.0, 2.0])  # linear around tau, clamped outside
    with pytest.raises(ValueError):
        choose_lambda(z, tau, decision="smooth", weak=0.0, strong=1.0)


def test_variants_are_orthogonal_parallel_or_full(omni, load_task, cache):
    regap = make(omni, load_task, cache)
    geometry, settings = regap.calibrated.geometry, regap.calibrated.settings
    for layer in settings.intervention_layers:
        r_hat = geometry.directions[layer].unit
        raw = geometry.drifts["image"][layer]
        orth, par, full = (geometry.vector("image", layer, v, "relative") for v in ("orth", "par", "full"))
        assert abs(float(orth @ r_hat)) < 1e-4 * float(raw.norm())
        assert abs(abs(cosine(par, r_hat)) - 1.0) < 1e-5 and torch.allclose(orth + par, full, atol=1e-5)
        assert torch.equal(full, raw.float())
        assert float(geometry.vector("image", layer, "orth", "unit").norm()) == pytest.approx(1.0, abs=1e-5)


def test_delta_score_is_corrected_minus_uncorrected(omni, load_task, cache, batch_samples):
    regap = make(omni, load_task, cache)
    cal = regap.calibrated
    prober = cal.prober

    def measure(settings):
        p = Prober(cal.geometry, settings, prober.device)
        batch = omni.prepare(batch_samples)
        plan = p.plan(batch_samples, lambda m: None)
        batch.extras[EXTRAS_KEY] = plan
        with omni.layer_hooks(p.hooks()):
            return p.measure(omni, batch, plan)

    corrected = measure(cal.settings)
    uncorrected = measure(dataclasses.replace(cal.settings, lambda_probe=0.0))
    delta = measure(dataclasses.replace(cal.settings, score="delta"))
    media = torch.tensor([s.modality != "text" for s in batch_samples])
    torch.testing.assert_close(delta[media], (corrected - uncorrected)[media], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(corrected[media], uncorrected[media])


@pytest.mark.parametrize("options", [
    {"decision": "continuous", "ramp": 0.05},
    {"score": "delta", "threshold": "benign_budget"},
    {"units": "unit", "lambda_probe": 4.0, "lambda_strong": 4.0},
    {"drift_scope": "pooled", "variant": "par", "tau_scope": "pooled"},
    {"classes": "benign_only", "estimator": "unpaired", "positions": "media"},
    {"intervention_layers": "all", "diagnostic_layers": [1, 2], "lambda_weak": 0.25, "lambda_strong": 1.5},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_every_option_runs_and_stays_batch_invariant(omni, load_task, cache, batch_samples, options):
    regap = make(omni, load_task, cache, **options)
    batched = regap.generate(omni, batch_samples, CONFIG)
    singles = [regap.generate(omni, [s], CONFIG)[0] for s in batch_samples]
    assert [o.text for o in batched] == [o.text for o in singles]
    assert [o.info["lambda"] for o in batched] == pytest.approx([o.info["lambda"] for o in singles])
    settings = regap.calibrated.settings
    for o, s in zip(batched, batch_samples):
        if s.modality == "text":
            assert o.info["lambda"] == 0.0
        else:
            lo, hi = sorted((settings.lambda_weak, settings.lambda_strong))
            assert lo <= o.info["lambda"] <= hi
            assert o.info["drift_choice"] == ("pooled" if settings.drift_scope == "pooled" else "exact")


def test_harness_run_records_status_and_decisions(omni, cache_dir, tmp_path):
    from harness.run.registries import default_registries
    from harness.run.runner import RunOptions, build_spec, execute
    from harness.store import RunStore
    from tasks.base import TaskContext, TaskSelector

    registries = default_registries()
    context = TaskContext(cache_dir=cache_dir)
    # `smoke:image` shares its sources with the calibration part of `smoke`: refused by default ...
    spec = build_spec(registries, context, model="tiny-omni", tasks=[TaskSelector("smoke", ("image",))],
                      defense="regap", defense_params=dict(PARAMS), limit=2,
                      generation=GenerationConfig(max_new_tokens=3))
    options = RunOptions(runs_dir=tmp_path / "runs", cache_dir=cache_dir, show_progress=False, echo=lambda m: None)
    with pytest.raises(ValueError, match="overlaps the evaluated samples"):
        execute(spec, options, registries)
    # ... and goes through, loudly, with allow_overlap.
    spec = dataclasses.replace(spec, defense_params={**PARAMS, "allow_overlap": True})
    notes: list[str] = []
    result = execute(spec, dataclasses.replace(options, echo=notes.append), registries)
    assert "defense regap is reconstructed" in result.notes
    store = RunStore(tmp_path / "runs", spec.run_id)
    info = store.read_json("run_info.json")["defense"]
    assert info["status"] == "reconstructed" and "geometry" in info["artifacts"]
    generations = store.generations()
    assert len(generations) == 4
    assert all(g.defense_info["signature"] == "image" and "z" in g.defense_info for g in generations.values())
