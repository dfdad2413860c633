"""ReGap calibration: artifacts (manifest, reuse, refusal of another model or data set), disjointness from the
evaluated samples, tau per modality, parameter validation and `harness calibrate`."""

from __future__ import annotations

import json

import pytest

from defenses.regap import calibration as calibration_module
from defenses.regap.defense import ReGap
from defenses.regap.geometry import POOLED, Geometry
from defenses.toolkit.artifacts import ArtifactMismatchError
from defenses.toolkit.splits import CalibrationOverlapError
from harness.registry import UnknownNameError
from tests.support.regap import PARAMS, make


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("regap-calibration")


def test_artifacts_are_written_reused_and_describe_the_calibration(omni, load_task, cache, monkeypatch):
    first = make(omni, load_task, cache)
    geometry_dir = first.artifacts()["geometry"]
    manifest = json.loads((cache.joinpath(geometry_dir) / "manifest.json").read_text())
    assert manifest["kind"] == "regap-geometry" and manifest["model"]["name"] == "tiny-omni"
    assert manifest["layers"] == [0, 1, 2] and manifest["data"] == "smoke [0-40%]"
    assert manifest["toolkit_version"] and manifest["created"] and len(manifest["data_hash"]) == 16
    diag = manifest["extra"]["diagnostics"]
    assert set(diag) == {"audio", "image", POOLED}
    assert [row["layer"] for row in diag["image"]] == [0, 1, 2]
    assert all(-1.0 <= row["cos"] <= 1.0 and row["norm"] > 0 for row in diag["image"])
    assert manifest["extra"]["n_pairs"]["image"] == manifest["extra"]["n_text_harmful"] + \
        manifest["extra"]["n_text_benign"]  # every smoke image has its text twin
    policy = json.loads((cache.joinpath(first.artifacts()["policy"]) / "manifest.json").read_text())
    assert policy["kind"] == "regap-policy" and policy["data"] == "smoke [40-70%]"
    assert set(policy["extra"]["by_modality"]) == {"audio", "image"}
    assert len(policy["extra"]["rows"]) == sum(1 for r in policy["extra"]["rows"] if r["modality"] != "text")

    def refit(*args, **kwargs):
        raise AssertionError("a cached artifact was recomputed")

    monkeypatch.setattr(calibration_module, "fit_geometry", refit)
    monkeypatch.setattr(calibration_module, "fit_policy", refit)
    again = make(omni, load_task, cache)
    assert again.artifacts() == first.artifacts()
    info = again.info()
    assert info["status"] == "reconstructed" and info["tau"]["pooled"]["rule"] == "youden"
    # another drift variant shares the geometry but has its own tau
    monkeypatch.undo()
    full = make(omni, load_task, cache, "regap-full")
    assert full.artifacts()["geometry"] == first.artifacts()["geometry"]
    assert full.artifacts()["policy"] != first.artifacts()["policy"]


def test_an_artifact_of_another_model_or_data_set_is_refused_naming_both(omni, tiny_vl_path, load_task, cache):
    from harness.backends.qwen_vl import QwenVLBackend

    geometry_dir = make(omni, load_task, cache).artifacts()["geometry"]
    vl = QwenVLBackend(str(tiny_vl_path))
    with pytest.raises(ArtifactMismatchError) as err:
        make(vl, load_task, cache, model_name="tiny-vl", artifact=geometry_dir)
    assert "made for model tiny-omni" in str(err.value) and "this run uses model tiny-vl" in str(err.value)
    with pytest.raises(ArtifactMismatchError) as err:
        make(omni, load_task, cache, artifact=geometry_dir, calibration_part="0-30%",
             evaluation=[])
    assert "'smoke [0-40%]'" in str(err.value) and "'smoke [0-30%]'" in str(err.value)


def test_calibration_overlapping_the_evaluated_samples_is_refused(omni, load_task, cache, capsys):
    everything = load_task("smoke")
    with pytest.raises(CalibrationOverlapError, match=r"of 120 samples there, \d+ share a source_id"):
        make(omni, load_task, cache, evaluation=everything)
    make(omni, load_task, cache, evaluation=everything, allow_overlap=True)
    assert "WARNING" in capsys.readouterr().err


def test_tau_is_per_modality_with_a_pooled_fallback(omni, load_task, cache):
    regap = make(omni, load_task, cache, min_tau_samples=1000)  # too few per modality: pooled only
    policy = regap.calibrated.policy
    assert policy.by_modality == {} and policy.tau_of("image") == policy.pooled.tau
    budget = make(omni, load_task, cache, threshold="benign_budget", benign_budget=0.0)
    assert all(t.fpr == 0.0 for t in budget.calibrated.policy.by_modality.values())
    assert make(omni, load_task, cache, threshold="midpoint").calibrated.policy.pooled.tau == 0.5


def test_fixed_variant_needs_no_validation_data(omni, load_task, cache):
    fixed = make(omni, load_task, cache, "regap-fixed", validation="no-such-task")
    assert fixed.calibrated.policy is None and "policy" not in fixed.artifacts()


def test_parameters_are_validated_before_any_model_loads():
    with pytest.raises(UnknownNameError, match="Did you mean 'orth'"):
        ReGap(variant="ortho")
    with pytest.raises(UnknownNameError, match="Did you mean 'lambda_strong'"):
        ReGap(lambda_strnog=1.0)
    for bad in ({"intervention_layers": "band:1"}, {"lambda_weak": "a lot"}, {"calibration_part": "50-10%"},
                {"adaptive": "yes"}, {"ramp": 0}, {"min_tau_samples": 0}):
        with pytest.raises(ValueError):
            ReGap(**bad)


def test_drift_lookup_falls_back_to_same_media_then_pooled():
    import torch

    g = Geometry(2, {}, {"image+text": torch.zeros(2, 4), "image": torch.zeros(2, 4), POOLED: torch.zeros(2, 4)},
                 {"image+text": 5, "image": 9, POOLED: 14})
    assert g.drift_key("text") == (None, "text")
    assert g.drift_key("image+text") == ("image+text", "exact")
    assert g.drift_key("image+text", "pooled") == (POOLED, "pooled")
    g.drifts.pop("image+text")
    assert g.drift_key("image+text") == ("image", "same-media")
    assert g.drift_key("audio+text") == (POOLED, "pooled-fallback")


def test_harness_calibrate_writes_and_reuses_artifacts(cache_dir, capsys):
    from harness.cli import main

    args = ["calibrate", "--model", "tiny-omni", "--defense", "regap", "--data", "smoke", "--no-progress",
            "--cache-dir", str(cache_dir),
            *[f"--defense-param={k}={v}" for k, v in PARAMS.items() if k != "calibration"]]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "calibrated regap [reconstructed] on tiny-omni" in out.out and "geometry: " in out.out
    geometry = [line.split(": ", 1)[1] for line in out.out.splitlines() if "geometry: " in line][0]
    assert (cache_dir / "defenses" / "regap-geometry").exists() and geometry.startswith(str(cache_dir))
    assert main(args + ["--against", "smoke:text"]) == 2  # the calibration sources are in smoke:text
    assert "overlaps the evaluated samples" in capsys.readouterr().err
    assert main(args) == 0
    assert "geometry loaded from" in capsys.readouterr().err
    assert main(["calibrate", "--defense", "none", "--data", "smoke", "--cache-dir", str(cache_dir)]) == 2
    assert "takes no calibration data" in capsys.readouterr().err
