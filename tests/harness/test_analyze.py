"""`harness analyze` on the shipped organism: the streamed statistics against NumPy over every activation, batched
against unbatched, the golden vector against the toolkit's, the held-out CRS against the toolkit's CRS, and a
resumed pass against an uninterrupted one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.run.analysis_plan import AnalysisSettings, plan

LAYERS = (-1, 0, 3)
POSITIONS = ("last", "content")


@pytest.fixture(scope="module")
def organism(cache_dir):
    from organism.evaluate import load_backend
    from organism.tasks import ORGANISM_TASKS
    from organism.zoo import shipped
    from tasks.base import TaskContext, select

    backend = load_backend(shipped("organism"))
    samples = ORGANISM_TASKS["organism-calibration"](TaskContext(cache_dir=cache_dir)).load()
    return backend, select(samples, 10, seed=0)  # 10 per configuration x label: 80 samples


@pytest.fixture(scope="module")
def settings():
    return AnalysisSettings(layers="embed,0,3", positions=POSITIONS, holdout=0.5, moments="full")


def _pass(backend, samples, settings, batch_size, **kw):
    from harness.run.analysis_pass import run_pass

    the_plan = plan(samples, settings)
    return the_plan, run_pass(backend, the_plan, settings, LAYERS, batch_size=batch_size, **kw)


@pytest.fixture(scope="module")
def batched(organism, settings):
    backend, samples = organism
    return _pass(backend, samples, settings, 7)


@pytest.fixture(scope="module")
def every_row(organism, batched):
    """(position, layer) -> [N, d] float64 for the samples in pass order, read in the pass's own batches (so the
    float32 read-outs are bit-identical and only the statistics are compared)."""
    from harness.run.analysis_pass import read

    backend, _ = organism
    the_plan, _ = batched
    ordered = the_plan.fit + the_plan.held_out
    parts: dict = {}
    for part in (the_plan.fit, the_plan.held_out):
        for start in range(0, len(part), 7):
            for key, rows in read(backend, backend.prepare(part[start:start + 7]), LAYERS, POSITIONS).items():
                parts.setdefault(key, []).append(rows.double().numpy())
    return ordered, {k: np.concatenate(v) for k, v in parts.items()}


def test_last_token_read_out_matches_the_toolkit_collector(organism, batched, every_row):
    from defenses.toolkit.collect import collect

    backend, _ = organism
    ordered, rows = every_row
    acts = collect(backend, ordered, LAYERS, position="last", batch_size=5)
    for layer in LAYERS:
        np.testing.assert_allclose(rows[("last", layer)], acts.states[layer].double().numpy(), rtol=1e-5, atol=1e-5)


def test_streaming_statistics_equal_numpy_over_all_activations(batched, every_row):
    the_plan, result = batched
    stats = result["stats"]
    ordered, rows = every_row
    configs = np.array([s.config for s in ordered])
    labels = np.array([s.label for s in ordered])
    checked = 0
    for (position, layer), x in rows.items():
        for config in the_plan.configs:
            for label in ("harmful", "benign"):
                sel = x[(configs == config) & (labels == label)]
                m = stats.moments[(position, config, label, layer)]
                assert m.n == len(sel)
                scale = max(1.0, float(np.abs(sel).max()) ** 2)
                np.testing.assert_allclose(m.mean.numpy(), sel.mean(axis=0), rtol=0, atol=1e-6 * math.sqrt(scale))
                np.testing.assert_allclose(m.second.numpy() / m.n, sel.T @ sel / len(sel), rtol=0, atol=1e-6 * scale)
                np.testing.assert_allclose(m.covariance().numpy(), np.cov(sel.T, bias=True), rtol=0, atol=1e-6 * scale)
                checked += 1
        # Paired drift: the mean over pairs of (media row - text row of the same source and label).
        index = {(s.config, s.source_id, s.label): i for i, s in enumerate(ordered)}
        for config, n_pairs in the_plan.pairs.items():
            diffs = [x[i] - x[index[("text", s.source_id, s.label)]] for i, s in enumerate(ordered)
                     if s.config == config and ("text", s.source_id, s.label) in index]
            assert len(diffs) == n_pairs
            np.testing.assert_allclose(stats.drift[(position, config, layer)].numpy() / n_pairs,
                                       np.mean(diffs, axis=0), rtol=0, atol=1e-6 * max(1.0, float(np.abs(x).max())))
    assert checked == len(rows) * len(the_plan.configs) * 2


def test_held_out_projections_and_crs_match_the_toolkit(batched, every_row):
    import torch

    from defenses.toolkit.crs import crs as toolkit_crs
    from harness.run.analysis_geometry import crs

    the_plan, result = batched
    held, frozen = result["held_out"], result["frozen"]
    ordered, rows = every_row
    start = len(the_plan.fit)
    samples = ordered[start:]
    for position, layer in (("last", 0), ("last", 3), ("content", 3)):
        f = frozen[(position, layer)]
        p = rows[(position, layer)][start:] @ f["unit"].numpy()
        by = {(c, lab): p[[i for i, s in enumerate(samples) if s.config == c and s.label == lab]]
              for c in the_plan.configs for lab in ("harmful", "benign")}
        for (config, label), values in by.items():
            s = held.projections[(position, config, label, layer)]
            assert s.n == len(values)
            assert s.mean == pytest.approx(values.mean(), abs=1e-6 * max(1.0, abs(values).max()))
            assert s.var == pytest.approx(values.var(), rel=1e-6, abs=1e-9 * max(1.0, values.max() ** 2))
            inner = np.histogram(values, bins=np.linspace(s.lo, s.hi, len(s.counts) - 1))[0]
            assert s.counts[1:-1] == inner.tolist() and sum(s.counts) == len(values)
        text_h, text_b = torch.tensor(by[("text", "harmful")]), torch.tensor(by[("text", "benign")])
        for config in the_plan.configs:
            h, b = torch.tensor(by[(config, "harmful")]), torch.tensor(by[(config, "benign")])
            mine = crs(held.projections[(position, config, "harmful", layer)],
                       held.projections[(position, config, "benign", layer)], float(text_h.mean() - text_b.mean()))
            ref = toolkit_crs(h, b, text_h, text_b)
            assert mine["dprime"] == pytest.approx(ref.dprime, rel=1e-6, abs=1e-9)
            assert mine["relative_gap"] == pytest.approx(ref.relative_gap, rel=1e-6)
            # The threshold is the fit part's text midpoint (frozen before the held-out part is seen).
            cond = float((h > f["tau"]).double().mean() - (b > f["tau"]).double().mean())
            assert mine["threshold_conditional"] == pytest.approx(cond)


def test_batched_equals_unbatched(organism, settings, batched):
    from harness.run.analysis_geometry import geometry

    backend, samples = organism
    plan_b, result_b = batched
    plan_1, result_1 = _pass(backend, samples, settings, 1)
    tables_b, vec_b = geometry(result_b["stats"], result_b["frozen"], result_b["held_out"], plan_b, settings)
    tables_1, vec_1 = geometry(result_1["stats"], result_1["frozen"], result_1["held_out"], plan_1, settings)
    assert tables_b.keys() == tables_1.keys()
    for name in tables_b:
        assert len(tables_b[name]) == len(tables_1[name]) > 0, name
        for rb, r1 in zip(tables_b[name], tables_1[name]):
            assert rb.keys() == r1.keys()
            for k, vb in rb.items():
                v1 = r1[k]
                if isinstance(vb, float) and math.isfinite(vb):
                    assert v1 == pytest.approx(vb, rel=1e-4, abs=1e-4), (name, k, rb)
                elif isinstance(vb, list) and name == "histograms":
                    # A value exactly on a bin edge may move by one bin under float rounding; never more.
                    assert sum(abs(a - b) for a, b in zip(vb, v1)) <= 2, (name, rb)
                elif not isinstance(vb, (float, list)):
                    assert vb == v1, (name, k)
    for key, v in vec_b.items():
        np.testing.assert_allclose(vec_1[key].numpy(), v.numpy(), rtol=1e-4, atol=1e-4 * max(1.0, float(v.abs().max())))


def test_golden_vector_equals_the_toolkit(organism, batched, settings):
    from defenses.toolkit.collect import collect
    from defenses.toolkit.directions import refusal_directions
    from defenses.toolkit.golden import golden_vector
    from harness.run.analysis_geometry import geometry

    backend, samples = organism
    the_plan, result = batched
    tables, vectors = geometry(result["stats"], result["frozen"], result["held_out"], the_plan, settings)
    acts = collect(backend, samples, [0, 3], position="last", batch_size=8)
    dirs = refusal_directions(acts, by="modality")
    for layer in (0, 3):
        ref = golden_vector(layer, {m: d[layer].raw for m, d in dirs.items()})
        mine = vectors[f"golden/last/{layer}"]
        assert ref.modalities == ("text", "image", "audio")
        np.testing.assert_allclose(mine.numpy(), ref.vector.numpy(), rtol=1e-5, atol=1e-5 * float(ref.vector.abs().max()))
        row = next(r for r in tables["golden"] if r["position"] == "last" and r["layer"] == layer)
        np.testing.assert_allclose(row["singular_values"], ref.singular_values.numpy(), rtol=1e-5)


def test_an_interrupted_pass_resumes_to_the_same_statistics(organism, settings, batched, tmp_path):
    backend, samples = organism
    plan_b, result_b = batched
    state = tmp_path / "state.pt"

    class Stop(Exception):
        pass

    def stop_after(done: int) -> None:
        if done >= 49:  # inside the held-out part: the frozen parameters must survive the restart
            raise Stop

    with pytest.raises(Stop):
        _pass(backend, samples, settings, 7, state_path=state, checkpoint_every=1, on_batch=stop_after)
    assert state.exists()
    seen: list[int] = []
    _, resumed = _pass(backend, samples, settings, 7, state_path=state, on_batch=seen.append)
    assert seen[0] > 7  # it did not start again from the beginning
    for key, m in result_b["stats"].moments.items():
        r = resumed["stats"].moments[key]
        assert r.n == m.n
        np.testing.assert_allclose(r.total.numpy(), m.total.numpy(), rtol=1e-9, atol=1e-9)
    assert resumed["held_out"].probe == result_b["held_out"].probe
    assert {k: v.counts for k, v in resumed["held_out"].projections.items()} == \
        {k: v.counts for k, v in result_b["held_out"].projections.items()}


def test_plan_splits_by_source_and_pairs_media_with_text(organism, settings):
    _, samples = organism
    the_plan = plan(samples, settings)
    fit_sources = {(s.source_id, s.label) for s in the_plan.fit}
    assert not fit_sources & {(s.source_id, s.label) for s in the_plan.held_out}
    assert set(the_plan.pairs) == {"image", "audio", "t2i"}
    text = {(s.source_id, s.label) for s in samples if s.config == "text"}
    for config, n in the_plan.pairs.items():
        assert n == sum((s.source_id, s.label) in text for s in samples if s.config == config) > 0
    with pytest.raises(ValueError, match="--reference 'speech' is not among"):
        plan(samples, AnalysisSettings(reference="speech"))
