"""`harness sweep`: a 2 x 2 grid builds a leaderboard of 4 rows and a second call skips all 4 cells; grid files
are checked before any model loads."""

import json
import os

import pytest

from harness.cli import main
from harness.run.grid import GridError, load_grid, shipped_grids
from leaderboard.standard import load_standard

GRID = """\
models: [tiny-text, tiny-vl]
defenses: [none, self-reminder]
tasks: ["smoke:text"]
limit: 2
max_new_tokens: 4
"""


@pytest.fixture
def harness_env(monkeypatch, cache_dir):
    monkeypatch.setenv("HARNESS_CACHE", str(cache_dir))
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)


def test_two_by_two_sweep_builds_the_leaderboard_then_skips_every_cell(tmp_path, harness_env, tiny_text_path,
                                                                       tiny_vl_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    args = [str(grid), "--out", str(tmp_path / "runs"), "--site", str(tmp_path / "site"), "--no-progress",
            "--threads", "1"]
    assert main(["sweep", *args]) == 0
    out = capsys.readouterr().out
    assert "4 cells, 0 finished, 4 to run" in out and "4/4 cells done" in out
    assert "4 main row(s)" in out
    board = json.loads((tmp_path / "site" / "leaderboard.json").read_text())
    rows = [r for r in board["rows"] if r["table"] == "main"]
    assert len(rows) == 4 and {(r["model"], r["defense"]) for r in rows} == {
        (m, d) for m in ("tiny-text", "tiny-vl") for d in ("none", "self-reminder")}
    run_dirs = sorted(p.parent.name for p in (tmp_path / "runs").glob("*/summary.json"))
    assert len(run_dirs) == 4
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/generations.jsonl")}

    assert main(["sweep", *args]) == 0
    out = capsys.readouterr().out
    assert "4 cells, 4 finished, 0 to run" in out and "-- cell" not in out
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes  # nothing regenerated

    # a cell is the same run as `harness run` with the same settings: same run id, found cached
    assert main(["run", "--model", "tiny-vl", "--defense", "self-reminder", "--tasks", "smoke:text", "--limit", "2",
                 "--max-new-tokens", "4", "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    assert "4 cached, 0 new" in capsys.readouterr().out

    assert main(["sweep", *args, "--status", "--json"]) == 0
    states = json.loads(capsys.readouterr().out)
    assert sorted(s["run_id"] for s in states) == run_dirs and {s["status"] for s in states} == {"done"}


def test_bad_grid_is_one_line_exit_2_before_any_model(tmp_path, harness_env, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID.replace("limit:", "limt:"))
    assert main(["sweep", str(grid), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'limt'" in err and "did you mean 'limit'" in err and "Traceback" not in err
    grid.write_text(GRID.replace("self-reminder", "self-remindr"))
    assert main(["sweep", str(grid), "--out", str(tmp_path / "runs")]) == 2
    assert "self-reminder" in capsys.readouterr().err  # the closest name is suggested
    assert main(["sweep", "standard-omnii", "--out", str(tmp_path / "runs")]) == 2
    assert "did you mean the shipped grid 'standard-omni'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_defense_parameter_grid_expands_to_cells(tmp_path):
    grid = tmp_path / "g.yaml"
    grid.write_text("models: [a]\ndefenses:\n  - none\n  - {name: refusal-steer, params: {select: arditi}, "
                    "grid: {alpha: [1.0, 2.0], layers: [[1], [2]]}}\ntasks: [smoke, 'organism-safety']\n")
    cells = load_grid(str(grid)).cells
    assert len(cells) == (1 + 4) * 2
    steer = {c.defense_label for c in cells if c.defense == "refusal-steer"}
    assert "refusal-steer(alpha=1.0,layers=[1],select=arditi)" in steer and len(steer) == 4
    grid.write_text("models: [a]\ntasks: [smoke]\nsuite: organism\n")
    with pytest.raises(GridError, match="either `suite`"):
        load_grid(str(grid), load_standard())


@pytest.mark.parametrize("name", shipped_grids())
def test_shipped_grids_run_the_standard_suite_with_its_pinned_judges(name):
    standard = load_standard()
    grid = load_grid(name, standard)
    suite = standard.suite(grid.suite)
    cells = grid.cells
    assert {t for c in cells for t in c.tasks} == set(suite.tasks)
    for c in cells:
        assert (c.limit, c.max_new_tokens, c.seed, c.batch_size) == (suite.limit, suite.max_new_tokens, suite.seed,
                                                                     suite.batch_size)
        for task in c.tasks:
            assert c.judge == standard.judges[standard.pinned[task.partition(":")[0]]].judge
    assert {c.model for c in cells} == set(grid.models) and all(suite.matches(m) for m in grid.models)
    assert "none" in {c.defense for c in cells}  # the baseline every overhead ratio needs


def test_sweep_under_torchrun_shards_every_cell_and_matches_one_process(tmp_path, cache_dir, tiny_text_path,
                                                                        tiny_vl_path, harness_env, capsys):
    import subprocess
    import sys
    from pathlib import Path

    from harness.store import read_jsonl

    root = Path(__file__).resolve().parents[2]
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    env = {**os.environ, "HARNESS_CACHE": str(cache_dir), "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "harness", "sweep",
                           str(grid), "--out", str(tmp_path / "ranks"), "--no-leaderboard", "--no-progress"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("(2 ranks)") == 4 and "4/4 cells done" in proc.stdout

    assert main(["sweep", str(grid), "--out", str(tmp_path / "one"), "--no-leaderboard", "--no-progress"]) == 0
    capsys.readouterr()
    ranks = sorted(p.parent for p in (tmp_path / "ranks").glob("*/summary.json"))
    one = sorted(p.parent for p in (tmp_path / "one").glob("*/summary.json"))
    assert [p.name for p in ranks] == [p.name for p in one] and len(one) == 4
    for a, b in zip(ranks, one):
        ga = {d["sample_id"]: d["response"] for d in read_jsonl(a / "generations.jsonl")}
        gb = {d["sample_id"]: d["response"] for d in read_jsonl(b / "generations.jsonl")}
        assert ga == gb and len(ga) == sum(1 for _ in read_jsonl(a / "generations.jsonl"))
        assert json.loads((a / "summary.json").read_text()) == json.loads((b / "summary.json").read_text())
