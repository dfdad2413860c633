"""`--executor ray` on a local Ray instance with 2 actors: the same run as one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.store import read_jsonl

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'omni-safety-harness[ray]')")

ROOT = Path(__file__).resolve().parents[2]
RUN = ("run", "--model", "tiny-text", "--tasks", "smoke:text", "--max-new-tokens", "6", "--batch-size", "4",
       "--no-progress", "--threads", "1")


def harness(*args, cache_dir, **extra_env):
    env = {**os.environ, "HARNESS_CACHE": str(cache_dir), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           **extra_env}
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "RAY_ADDRESS"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_two_ray_actors_equal_one_process(tmp_path, cache_dir, tiny_text_path):
    harness(*RUN, "--out", str(tmp_path / "one"), cache_dir=cache_dir)
    out = harness(*RUN, "--out", str(tmp_path / "ray"), "--executor", "ray", "--ray-actors", "2",
                  cache_dir=cache_dir)
    assert "0 cached, 40 new (2 Ray actors)" in out
    (one,) = (tmp_path / "one").glob("*/spec.json")
    (got,) = (tmp_path / "ray").glob("*/spec.json")
    one, got = one.parent, got.parent
    assert got.name == one.name

    def gens(d):
        return {r["sample_id"]: r["response"] for r in read_jsonl(d / "generations.jsonl")}

    assert gens(got) == gens(one) and len(gens(got)) == 40
    ids = [r["sample_id"] for r in read_jsonl(got / "generations.jsonl")]
    assert len(ids) == len(set(ids))
    assert json.loads((got / "summary.json").read_text()) == json.loads((one / "summary.json").read_text())
    session = json.loads((got / "run_info.json").read_text())["sessions"][-1]
    assert session["executor"] == "ray" and session["actors"] == 2

    again = harness(*RUN, "--out", str(tmp_path / "ray"), "--executor", "ray", "--ray-actors", "2",
                    cache_dir=cache_dir)
    assert "40 cached, 0 new" in again


def test_a_lost_actor_costs_its_batch_not_the_run(tmp_path, cache_dir, tiny_text_path):
    marker = tmp_path / "died"
    out = harness(*RUN, "--out", str(tmp_path / "ray"), "--executor", "ray", "--ray-actors", "2",
                  "--defense", "tests.support.die_once:DieOnceDefense", cache_dir=cache_dir,
                  HARNESS_TEST_DIE_MARKER=str(marker))
    assert marker.exists()  # an actor really died
    assert "a Ray actor was lost; 1 left" in out
    (got,) = (tmp_path / "ray").glob("*/spec.json")
    ids = [r["sample_id"] for r in read_jsonl(got.parent / "generations.jsonl")]
    assert len(ids) == len(set(ids)) == 40
