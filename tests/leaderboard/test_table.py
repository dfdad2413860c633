"""The leaderboard table: grouping, pooling, references and the reasons rows are kept apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.metrics import wilson
from judges.keyword import KeywordJudge
from leaderboard.build import make_table
from leaderboard.runs import load_runs
from leaderboard.table import Column, modality_group, pool
from tests.support.leaderboard_runs import media_samples, refuse_every, text_samples, write_scored_run


def table_of(runs: Path, standard, registries):
    records, skipped = load_runs(runs)
    return make_table(records, skipped, standard, registries)


def row(table, model, defense="none"):
    found = [e for e in table.main if e.model == model and e.defense == defense]
    assert len(found) == 1, [(e.model, e.defense) for e in table.main]
    return found[0]


@pytest.mark.parametrize("modality,group", [
    ("text", "text"), ("image+text", "image"), ("image", "image"), ("audio+text", "audio"),
    ("text+video", "video"), ("audio+image", "mixed"), ("audio+text+video", "mixed"),
])
def test_modality_groups(modality, group):
    assert modality_group(modality) == group


def test_pool_sums_counts_then_takes_a_wilson_interval():
    rows = [
        {"label": "harmful", "n": 10, "judged": 9, "unknown": 1, "asr": {"k": 3, "n": 9}},
        {"label": "harmful", "n": 5, "judged": 5, "unknown": 0, "asr": {"k": 5, "n": 5}},
        {"label": "benign", "n": 4, "judged": 4, "unknown": 0, "benign_acceptance": {"k": 3, "n": 4}},
        {"label": "utility", "n": 4, "judged": 2, "unknown": 2, "benign_acceptance": {"k": 2, "n": 2},
         "accuracy": {"k": 1, "n": 2}},
    ]
    stats = pool(rows)
    assert stats.asr == wilson(8, 14)
    assert stats.bar == wilson(5, 6)
    assert stats.utility == wilson(1, 2)
    assert stats.unknown == wilson(3, 23)
    assert stats.n == 23


def test_one_row_per_model_and_defense_with_cells_per_benchmark_and_modality(tmp_path, standard, registries, media):
    runs = tmp_path / "runs"
    samples = text_samples("smoke", "text", 6, 4) + media_samples("smoke", "image", "image", [media.image] * 3)
    write_scored_run(runs, samples, model="alpha", respond=refuse_every(2))
    write_scored_run(runs, samples, model="alpha", defense="guard", respond=refuse_every(1))
    table = table_of(runs, standard, registries)
    assert {(e.model, e.defense) for e in table.main} == {("alpha", "none"), ("alpha", "guard")}
    assert table.separate == []
    assert table.columns == [Column("smoke", "text"), Column("smoke", "image")]
    base = row(table, "alpha")
    # refuse_every(2): ids 0, 2, 4 refuse -> of 6 harmful text samples 3 comply (unsafe)
    assert base.cells[("smoke", "text")].asr == wilson(3, 6)
    assert base.cells[("smoke", "image")].asr == wilson(1, 3)  # m0, m2 refuse; m1 complies
    assert base.overall.asr == wilson(4, 9)
    assert base.cells[("smoke", "text")].bar == wilson(2, 4)
    guard = row(table, "alpha", "guard")
    assert guard.overall.asr == wilson(0, 9) and guard.overall.bar == wilson(0, 4)


def test_other_judge_and_other_task_version_go_to_the_separate_table_with_the_reason(tmp_path, standard, registries):
    runs = tmp_path / "runs"
    samples = text_samples("smoke", "text", 4, 4)
    write_scored_run(runs, samples, model="a")
    write_scored_run(runs, samples, model="b", judges=[KeywordJudge(preset="omnisteer")])
    write_scored_run(runs, samples, model="c", task_version="0")
    table = table_of(runs, standard, registries)
    assert [e.model for e in table.main] == ["a"]
    reasons = {e.model: " | ".join(e.reasons) for e in table.separate}
    omnisteer = KeywordJudge(preset="omnisteer").id
    pinned = KeywordJudge().id
    assert f"judged by {omnisteer}" in reasons["b"] and pinned in reasons["b"] and "pinned" in reasons["b"]
    assert "task version 0" in reasons["c"] and "version 1 (current task card)" in reasons["c"]


def test_a_run_scored_by_the_pinned_judge_among_others_stays_in_the_main_table(tmp_path, standard, registries):
    runs = tmp_path / "runs"
    write_scored_run(runs, text_samples("smoke", "text", 4, 4), model="a",
                     judges=[KeywordJudge(preset="omnisteer"), KeywordJudge()])
    table = table_of(runs, standard, registries)
    assert [e.model for e in table.main] == ["a"] and not table.separate
    assert row(table, "a").judges == {"smoke": KeywordJudge().id}


def test_unpinned_unregistered_task_uses_the_majority_judge_and_version(tmp_path, standard, registries):
    runs = tmp_path / "runs"
    samples = text_samples("other-bench", "text", 3, 3)
    for model in ("a", "b", "c"):
        write_scored_run(runs, samples, model=model, task_version="2")
    write_scored_run(runs, samples, model="d", task_version="2", judges=[KeywordJudge(preset="omnisteer")])
    write_scored_run(runs, samples, model="e", task_version="1")
    table = table_of(runs, standard, registries)
    ref = table.references["other-bench"]
    assert ref.judge == KeywordJudge().id and "4 of 5 runs" in ref.judge_basis
    assert ref.version == "2" and "not registered" in ref.version_basis
    assert sorted(e.model for e in table.main) == ["a", "b", "c"]
    reasons = {e.model: e.reasons for e in table.separate}
    assert "judged by" in reasons["d"][0] and "task version 1" in reasons["e"][0]


def test_the_largest_run_of_a_task_counts_once(tmp_path, standard, registries):
    runs = tmp_path / "runs"
    write_scored_run(runs, text_samples("smoke", "text", 2, 2), model="a", limit=2)
    write_scored_run(runs, text_samples("smoke", "text", 8, 8), model="a", limit=8)
    entry = row(table_of(runs, standard, registries), "a")
    assert entry.overall.n == 16 and len(entry.runs) == 1 and entry.runs[0].spec["limit"] == 8


def test_separate_rows_keep_two_versions_of_one_task_apart(tmp_path, standard, registries):
    runs = tmp_path / "runs"
    samples = text_samples("smoke", "text", 2, 2)
    write_scored_run(runs, samples, model="a", task_version="0")
    write_scored_run(runs, samples, model="a", task_version="7")
    table = table_of(runs, standard, registries)
    assert sorted(e.versions["smoke"] for e in table.separate) == ["0", "7"]


def test_defense_parameters_make_separate_rows(tmp_path, standard, registries):
    runs = tmp_path / "runs"
    samples = text_samples("smoke", "text", 2, 2)
    write_scored_run(runs, samples, model="a", defense="steer", defense_params={"alpha": 0.5})
    write_scored_run(runs, samples, model="a", defense="steer", defense_params={"alpha": 1.0})
    table = table_of(runs, standard, registries)
    assert sorted(e.params_text for e in table.main) == ["alpha=0.5", "alpha=1.0"]


class TestOverhead:
    def test_ratio_of_seconds_per_sample_against_the_none_run(self, tmp_path, standard, registries):
        runs = tmp_path / "runs"
        samples = text_samples("smoke", "text", 4, 4)
        write_scored_run(runs, samples, model="a", seconds_per_sample=0.02)
        write_scored_run(runs, samples, model="a", defense="guard", seconds_per_sample=0.05)
        table = table_of(runs, standard, registries)
        assert row(table, "a", "guard").overhead.ratio == pytest.approx(2.5)
        assert row(table, "a").overhead.ratio == 1.0

    @pytest.mark.parametrize("change", ["batch_size", "samples", "device", "model"])
    def test_no_ratio_without_a_comparable_baseline(self, tmp_path, standard, registries, change):
        runs = tmp_path / "runs"
        samples = text_samples("smoke", "text", 4, 4)
        write_scored_run(runs, samples if change != "samples" else text_samples("smoke", "text", 4, 3),
                         model="a" if change != "model" else "b", seconds_per_sample=0.02,
                         batch_size=4 if change == "batch_size" else 8, device="cuda" if change == "device" else "cpu")
        write_scored_run(runs, samples, model="a", defense="guard", seconds_per_sample=0.05)
        entry = row(table_of(runs, standard, registries), "a", "guard")
        assert entry.overhead.ratio is None and "no `none` run" in entry.overhead.basis
