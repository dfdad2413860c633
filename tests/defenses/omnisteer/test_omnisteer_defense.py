"""OmniSteer on the tiny random models: the hook adds k(h) d exactly at the last position, sequential training
matches inference, golden vectors match numpy, artifacts are refused for another model or data set, and the
calibration data rules hold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defenses.omnisteer import artifact as store
from defenses.omnisteer.defense import OmniSteer
from defenses.omnisteer.features import GoldenVectorError
from defenses.omnisteer.hooks import steer_hook
from defenses.toolkit.artifacts import ArtifactMismatchError
from defenses.toolkit.calibration_data import CalibrationDataError
from defenses.toolkit.collect import collect, read_batch
from harness.records import GenerationConfig

# The contract parameters, so the artifact trained by the contract test in the same session is reused.
PARAMS = {"preset": "tiny", "data": "smoke:text,image", "n_per_group": 4, "epochs": 2, "checkpoint": "last"}


@pytest.fixture(scope="module")
def omni(tiny_backend):
    return tiny_backend("tiny-omni")


@pytest.fixture(scope="module")
def trained(omni, make_context):
    defense = OmniSteer(**PARAMS)
    defense.setup(omni, make_context("tiny-omni"))
    return defense


def _numpy_golden(rows: list[np.ndarray]) -> np.ndarray:
    x = np.stack(rows).astype(np.float64)
    v = np.linalg.svd(x, full_matrices=False)[2][0]
    v = -v if v @ x.mean(axis=0) < 0 else v
    return v * np.linalg.norm(x, axis=1).mean()


def test_golden_vectors_match_numpy_on_collected_states(trained, omni, make_context):
    split = trained.calibration_split(make_context("tiny-omni"), "tiny-omni", 0)
    acts = collect(omni, split.train, trained._layers)
    manifest, tensors = store.load(trained._loaded.path, model=None).manifest, trained._loaded.golden
    assert manifest.extra["golden_modalities"] == ["text", "image"]
    for layer in trained._layers:
        states = acts.states[layer].double().numpy()
        rows = []
        for modality in ("text", "image"):
            harm = [i for i, s in enumerate(acts.samples) if s.modality == modality and s.label == "harmful"]
            ben = [i for i, s in enumerate(acts.samples) if s.modality == modality and s.label == "benign"]
            rows.append(states[harm].mean(axis=0) - states[ben].mean(axis=0))
        np.testing.assert_allclose(tensors[layer].numpy(), _numpy_golden(rows), atol=1e-5)


def test_hook_adds_k_times_d_at_the_last_position_only(trained, omni, make_context):
    from defenses.contract import contract_samples

    samples = contract_samples(omni, make_context("tiny-omni").cache_dir / "media")
    batch = omni.prepare(samples)
    first = trained._layers[0]
    plain = read_batch(omni, batch, [first], position="last")[first]
    captured = {}

    def grab(hidden, state):
        captured["after"] = hidden.detach().clone()

    with omni.layer_hooks({first: [trained.hooks(omni, batch)[first], grab]}):
        omni.prefill(batch)
    with omni.layer_hooks({first: grab}):
        omni.prefill(batch)
    unhooked = captured["after"]
    with omni.layer_hooks({first: [trained.hooks(omni, batch)[first], grab]}):
        omni.prefill(batch)
    hooked = captured["after"]
    with torch.no_grad():
        k = trained._adapters[first](plain)  # [B, 1]
    expected_last = plain + k * trained._units[first]
    torch.testing.assert_close(hooked[:, -1, :], expected_last, rtol=0, atol=1e-6)
    assert torch.equal(hooked[:, :-1, :], unhooked[:, :-1, :])  # every earlier position bit-identical
    assert float(k.abs().min()) > 0  # the trained adapter does act on every row
    # row_info reports the prefill k of each row (recorded by the same hook)
    out = trained.generate(omni, samples, GenerationConfig(max_new_tokens=3))
    ks = [o.info["omnisteer_k"][str(first)]["prefill"] for o in out]
    np.testing.assert_allclose(ks, k.squeeze(-1).detach().numpy(), atol=1e-4)
    assert all(o.info["omnisteer_k"][str(first)]["decode_mean"] is not None for o in out)


def test_sequential_training_sees_what_inference_sees(trained, omni, make_context):
    """Layer 1's adapter input at inference (layer 1 output with layer 0's adapter active) equals the features
    sequential mode trains it on, and differs from the unmodified states independent mode uses (defect D3)."""
    split = trained.calibration_split(make_context("tiny-omni"), "tiny-omni", 0)
    samples = split.train[:6]
    l0, l1 = trained._layers
    earlier = {l0: steer_hook(trained._adapters[l0], trained._units[l0])}
    sequential = collect(omni, samples, [l1], extra_hooks=earlier).states[l1]  # what train() reads
    independent = collect(omni, samples, [l1]).states[l1]
    seen: list[torch.Tensor] = []
    batch = omni.prepare(samples)
    hooks = trained.hooks(omni, batch)
    with omni.layer_hooks({l0: hooks[l0], l1: [lambda h, s: seen.append(h[:, -1, :].float().clone()), hooks[l1]]}):
        omni.prefill(batch)
    torch.testing.assert_close(seen[0], sequential, rtol=0, atol=1e-6)
    assert not torch.allclose(seen[0], independent, atol=1e-6)


def test_independent_mode_is_recorded_and_differs(omni, make_context):
    defense = OmniSteer(**{**PARAMS, "mode": "independent"})
    defense.setup(omni, make_context("tiny-omni"))
    assert defense._loaded.manifest.params["mode"] == "independent"
    sequential = OmniSteer(**PARAMS)
    sequential.setup(omni, make_context("tiny-omni"))
    assert defense._loaded.path != sequential._loaded.path
    first = defense._layers[0]  # the first layer is trained on the same features in both modes
    assert all(torch.equal(defense._loaded.adapters[first][k], sequential._loaded.adapters[first][k])
               for k in defense._loaded.adapters[first])
    second = defense._layers[1]
    assert not torch.equal(defense._loaded.adapters[second]["2.weight"], sequential._loaded.adapters[second]["2.weight"])


def test_artifact_from_another_model_or_data_is_refused_naming_both(trained, tiny_backend, make_context):
    path = str(trained._loaded.path)
    vl = tiny_backend("tiny-vl")
    with pytest.raises(ArtifactMismatchError) as err:
        OmniSteer(artifact=path).setup(vl, make_context("tiny-vl"))
    assert "tiny-omni" in str(err.value) and "tiny-vl" in str(err.value)
    omni = tiny_backend("tiny-omni")
    with pytest.raises(ArtifactMismatchError) as err:
        OmniSteer(artifact=path, preset="tiny", data="smoke:text,audio").setup(omni, make_context("tiny-omni"))
    assert "smoke:text,image" in str(err.value) and "smoke:text,audio" in str(err.value)
    loaded = OmniSteer(artifact=path)  # the matching model loads it
    loaded.setup(omni, make_context("tiny-omni"))
    assert loaded._layers == trained._layers


def test_missing_golden_vectors_are_errors_not_fallbacks(omni, make_context):
    with pytest.raises(GoldenVectorError, match="at least two pure modalities"):
        OmniSteer(**{**PARAMS, "data": "smoke:text"}).setup(omni, make_context("tiny-omni"))
    with pytest.raises(GoldenVectorError, match=r"\['audio'\].*no PCA fallback"):
        OmniSteer(**{**PARAMS, "golden_modalities": ["text", "audio"]}).setup(omni, make_context("tiny-omni"))


def test_calibration_must_be_disjoint_from_the_evaluated_samples(trained, omni, make_context, cache_dir):
    from harness.run.registries import default_registries
    from tasks.base import TaskContext

    smoke = default_registries().tasks.get("smoke")(TaskContext(cache_dir=cache_dir))
    evaluated = smoke.load(["audio"])[:3]  # same source items as the image / text calibration data
    with pytest.raises(CalibrationDataError, match="source_id"):
        OmniSteer(**PARAMS).setup(omni, make_context("tiny-omni", evaluation_samples=evaluated))
    with pytest.raises(CalibrationDataError, match="D17"):  # also for an artifact given by path
        OmniSteer(artifact=str(trained._loaded.path)).setup(omni, make_context("tiny-omni", evaluated))


def test_scale_zero_installs_nothing_and_train_false_needs_an_artifact(trained, omni, make_context):
    off = OmniSteer(**{**PARAMS, "scale": 0.0})
    off.setup(omni, make_context("tiny-omni"))
    assert off.hooks(omni, omni.prepare(trained.calibration_split(make_context("tiny-omni"), "tiny-omni", 0).train[:1])) == {}
    with pytest.raises(FileNotFoundError, match="harness train omnisteer"):
        OmniSteer(**{**PARAMS, "epochs": 1, "train": False}).setup(omni, make_context("tiny-omni"))

