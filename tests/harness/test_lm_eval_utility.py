"""Utility inside runs (`harness run --utility`): lm-eval's files in the run folder, resume, the run id, the
summary's utility section, the leaderboard's utility column; and the organism's shipped utility items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RUN = ["run", "--model", "tiny-text", "--tasks", "smoke:text", "--limit", "2", "--max-new-tokens", "4",
       "--no-progress"]


def _run(cache_dir: Path, out: Path, *extra: str) -> int:
    from harness.cli import main

    return main([*RUN, "--cache-dir", str(cache_dir), "--out", str(out), *extra])


def test_utility_in_a_run_resume_summary_and_leaderboard(cache_dir, tmp_path, capsys):
    from harness.cli import main

    runs = tmp_path / "runs"
    assert _run(cache_dir, runs) == 0
    assert _run(cache_dir, runs, "--utility", "organism-utility") == 0
    first = capsys.readouterr().out
    dirs = sorted(p for p in runs.iterdir() if p.is_dir())
    assert len(dirs) == 2  # the run id covers the utility tasks
    run_dir = next(d for d in dirs if (d / "lm_eval").exists())
    folder = run_dir / "lm_eval" / "organism-utility"
    results = json.loads((folder / "results.json").read_text())
    assert set(results["results"]) >= {"organism-utility-choice", "organism-utility-answer"}
    logged = (folder / "samples_organism-utility-choice.jsonl").read_text().splitlines()
    assert len(logged) == 2 and "resps" in json.loads(logged[0])
    spec = json.loads((run_dir / "spec.json").read_text())
    assert spec["utility"] == ["organism-utility"]
    summary = json.loads((run_dir / "summary.json").read_text())
    by_task = {(e["task"], e["metric"]): e for e in summary["utility"]}
    choice = by_task[("lm-eval:organism-utility-choice", "acc")]
    assert choice["n"] == 2 and choice["rate"]["n"] == 2
    assert choice["rate"]["low"] <= choice["value"] <= choice["rate"]["high"]
    assert ("lm-eval:organism-utility-answer", "exact_match") in by_task
    assert "utility (lm-eval):" in first and "lm-eval:organism-utility-choice" in first

    # Resume: nothing is generated or evaluated again.
    stamp = (folder / "results.json").stat().st_mtime_ns
    assert _run(cache_dir, runs, "--utility", "organism-utility") == 0
    again = capsys.readouterr().out
    assert "0 new" in again and "lm-eval: organism-utility" not in again
    assert (folder / "results.json").stat().st_mtime_ns == stamp

    # The leaderboard: a utility cell per lm-eval task, and the overall utility the scatter plots.
    site = tmp_path / "site"
    assert main(["leaderboard", "build", "--runs", str(runs), "--out", str(site)]) == 0
    board = json.loads((site / "leaderboard.json").read_text())
    with_utility = [e for e in board["rows"] if (e.get("overall") or {}).get("utility", {}).get("n")]
    assert with_utility and with_utility[0]["overall"]["utility"]["n"] == 4  # 2 choice + 2 answer items
    assert "lm-eval:organism-utility-choice/text" in board["columns"]
    assert "lm-eval:organism-utility-choice" in (site / "index.html").read_text()


def test_unknown_utility_task_fails_before_any_model_loads(cache_dir, tmp_path, capsys):
    code = _run(cache_dir, tmp_path / "runs", "--utility", "organism-utilty")
    assert code == 2
    err = capsys.readouterr().err
    assert "organism-utilty" in err and "organism-utility" in err
    assert not list((tmp_path / "runs").rglob("generations.jsonl"))


def test_shipped_organism_items_are_current_and_never_test_pairs():
    from organism import world
    from organism.utility.organism_utility import DATA_FILE, build_items, render

    items = build_items()
    assert DATA_FILE.read_text() == render(items)  # regenerate: python -m organism.utility.organism_utility
    splits = world.pair_splits()
    assert all(splits[(i["verb"], i["object"])] == "train" for i in items)
    safety = {r.source_id for label in ("harmful", "benign") for r in world.requests("test", label)}
    assert not safety & {i["id"] for i in items}
    assert all(i["choices"][i["gold"]] == i["answer"] and len(set(i["choices"])) == 4 for i in items)


@pytest.mark.parametrize("entry", [{"task": 3, "n": 1}, {"task": "x", "n": 2, "rate": {"k": "a"}}])
def test_malformed_utility_entries_are_refused_by_the_leaderboard(entry):
    from leaderboard.runs import summary_problem

    summary = {"rows": [], "spec": {"tasks": []}, "utility": [entry]}
    assert summary_problem(summary) is not None
