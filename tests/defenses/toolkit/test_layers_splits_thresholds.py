"""Layer specs, source-level parts and the disjointness check, threshold rules, anchors and steering masks."""

from __future__ import annotations

import pytest
import torch

from defenses.toolkit.anchors import ZScorer
from defenses.toolkit.directions import Direction
from defenses.toolkit.drift import drift_diagnostics
from defenses.toolkit.layers import LayerSpec, nearest_deeper
from defenses.toolkit.splits import CalibrationOverlapError, check_disjoint, find_overlap, take_part
from defenses.toolkit.thresholds import fit_threshold
from harness.records import Sample, user_message


def test_layer_specs_resolve_against_depth():
    assert LayerSpec.parse("all").resolve(4) == (0, 1, 2, 3)
    assert LayerSpec.parse("band:9-18").resolve(36) == tuple(range(9, 19))
    assert LayerSpec.parse("band:25%-50%").resolve(36) == tuple(range(9, 19))
    assert LayerSpec.parse("band:25%-50%").resolve(28) == tuple(range(7, 15))
    assert LayerSpec.parse("40%").resolve(10) == (4,)
    assert LayerSpec.parse([5, 3, 5]).resolve(8) == (3, 5)
    assert LayerSpec.parse("3,4").resolve(8) == (3, 4) == LayerSpec.parse(" [3, 4] ").resolve(8)
    assert LayerSpec.parse(7).resolve(8) == (7,)
    assert LayerSpec.parse("100%").resolve(8) == (7,)  # clamped to the last layer
    with pytest.raises(ValueError, match="has 8 decoder layers"):
        LayerSpec.parse("band:2-9").resolve(8)
    with pytest.raises(ValueError, match="backwards"):
        LayerSpec.parse("band:5-2").resolve(8)
    for bad in ("band:1", "layers 3", "", True, [1.5], "150%"):
        with pytest.raises(ValueError):
            LayerSpec.parse(bad).resolve(8)
    assert nearest_deeper(36, 18, 0.625) == 22 and nearest_deeper(3, 1, 0.625) == 2
    with pytest.raises(ValueError):
        nearest_deeper(3, 2, 0.5)


def _sample(i: int, source: str, modality: str = "text", label: str = "harmful") -> Sample:
    msg = user_message(f"q{source}") if modality == "text" else user_message(image=f"/img/{source}.png")
    return Sample(id=f"{modality}/{i}", task="t", config=modality, messages=(msg,), label=label, source_id=source)


def test_parts_keep_sources_together_and_do_not_overlap():
    samples = [_sample(i, f"s{i // 2}", "text" if i % 2 else "image") for i in range(200)]
    a, b, c = (take_part(samples, p) for p in ("0-40%", "40-70%", "70-100%"))
    assert len(a) + len(b) + len(c) == 200 and 50 < len(a) < 110
    sources = [{s.source_id for s in part} for part in (a, b, c)]
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2]) and not (sources[1] & sources[2])
    assert all(sum(s.source_id == src for s in a) == 2 for src in sources[0])  # both versions of a source
    assert take_part(samples, "") == samples and take_part(samples, "0-40%", seed=1) != a
    with pytest.raises(ValueError):
        take_part(samples, "40-20%")


def test_overlap_is_counted_by_source_id_and_content_and_refused():
    calib = [_sample(0, "a"), _sample(1, "b", "image")]
    evaluation = [_sample(7, "a", "image"), _sample(8, "z"), _sample(9, "b", "image", "benign")]
    overlap = find_overlap(calib, evaluation)
    assert (overlap.by_source, overlap.by_id, overlap.by_content, overlap.n_evaluation) == (2, 0, 1, 3)
    assert find_overlap(calib, [_sample(5, "q")]).any is False
    with pytest.raises(CalibrationOverlapError, match="overlaps the evaluated samples: of 3 samples there, 2 share a source_id"):
        check_disjoint(calib, evaluation, what="calibration 'x'")
    seen: list[str] = []
    check_disjoint(calib, evaluation, what="calibration 'x'", allow=True, warn=seen.append)
    assert seen and seen[0].startswith("WARNING") and "optimistic" in seen[0]


def test_threshold_rules():
    pos = torch.tensor([0.8, 0.9, 0.4, 1.2])
    neg = torch.tensor([0.1, 0.2, 0.5, 0.0, 0.3])
    youden = fit_threshold("youden", pos, neg)  # J(0.4) = 1 - 0.2 beats J(0.8) = 0.75 - 0
    assert youden.tau == pytest.approx(0.4) and youden.tpr == 1.0 and youden.fpr == pytest.approx(0.2)
    assert youden.auroc == pytest.approx(0.95)
    assert fit_threshold("midpoint", pos, neg).tau == 0.5
    budget = fit_threshold("benign_budget", pos, neg, budget=0.2)
    # Excluding the benign 0.3 needs tau > 0.3: midway to the next benign score, which keeps the harmful 0.4.
    assert budget.tau == pytest.approx(0.4) and budget.fpr == pytest.approx(0.2) and budget.tpr == 1.0
    assert fit_threshold("benign_budget", pos, neg, budget=0.0).fpr == 0.0
    with pytest.raises(ValueError):
        fit_threshold("youden", pos, torch.tensor([]))


def test_z_scorer_is_zero_at_benign_and_one_at_harmful_anchor():
    g = torch.Generator().manual_seed(3)
    dirs = {}
    for layer in (2, 5):
        h, b = torch.randn(16, generator=g), torch.randn(16, generator=g)
        dirs[layer] = Direction(layer, h - b, h, b, 4, 4)
    scorer = ZScorer.build(dirs, (2, 5), "cpu")
    states = {layer: torch.stack([dirs[layer].benign_mean, dirs[layer].harmful_mean]) for layer in (2, 5)}
    assert torch.allclose(scorer.per_layer(states), torch.tensor([[0.0, 0.0], [1.0, 1.0]]), atol=1e-5)
    x = {layer: torch.randn(3, 16, generator=g) for layer in (2, 5)}
    expected = (dirs[2].normalised_projection(x[2]) + dirs[5].normalised_projection(x[5])) / 2
    assert torch.allclose(scorer(x), expected, atol=1e-5)


def test_drift_diagnostics():
    r = torch.tensor([2.0, 0.0])
    d = drift_diagnostics(torch.tensor([-1.0, 1.0]), r)
    assert d["cos"] == pytest.approx(-2 ** -0.5) and d["dot"] == pytest.approx(-1.0)
    assert d["norm"] == pytest.approx(2 ** 0.5) and d["norm_over_gap"] == pytest.approx(2 ** 0.5 / 2)
