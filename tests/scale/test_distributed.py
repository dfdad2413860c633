"""Data-parallel `harness run` under torchrun (2 ranks on CPU, gloo): same run as one process, and a killed rank
loses nothing that it had finished."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.records import Generation, RunSpec, TaskRef
from harness.run.distributed import (Ranks, ShardWriter, merge_shards, rank_device, ranks_from_env, shard_of,
                                     shard_path)
from harness.store import RunStore, read_jsonl
from tests.support.runs import synthetic_samples

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")
RUN = ("run", "--model", "tiny-text", "--tasks", "smoke:text", "--max-new-tokens", "6", "--batch-size", "2",
       "--no-progress")


def env(cache_dir):
    out = {**os.environ, "HARNESS_CACHE": str(cache_dir), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        out.pop(var, None)
    return out


def one_process(*args, cache_dir):
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env(cache_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def two_ranks(*args, cache_dir):
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "harness", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env(cache_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def finish(proc, timeout=600):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def run_dir(out: Path) -> Path:
    (spec,) = out.glob("*/spec.json")
    return spec.parent


def generations(path: Path) -> dict[str, str]:
    return {d["sample_id"]: d["response"] for d in read_jsonl(path / "generations.jsonl")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache_dir, tiny_text_path):
    out = tmp_path_factory.mktemp("one-process")
    finish(one_process(*RUN, "--out", str(out), cache_dir=cache_dir))
    return run_dir(out)


# -- pieces ------------------------------------------------------------------------------------------------
def test_shards_are_deterministic_and_cover_every_sample_once():
    ids = [f"task/cfg/{i}" for i in range(400)]
    for world in (2, 3, 8):
        shards = [shard_of(i, world) for i in ids]
        assert shards == [shard_of(i, world) for i in ids]
        counts = [shards.count(r) for r in range(world)]
        assert sum(counts) == 400 and min(counts) > 400 / world * 0.6  # no rank idles
    assert shard_of("smoke/text/h0", 2) == int.from_bytes(__import__("hashlib").sha256(b"smoke/text/h0")
                                                          .digest()[:8], "big") % 2


def test_ranks_from_the_launcher_environment():
    assert ranks_from_env({}) is None and ranks_from_env({"WORLD_SIZE": "1"}) is None
    r = ranks_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert r == Ranks(3, 4, 1, 2) and not r.is_main
    with pytest.raises(ValueError, match="RANK=4"):
        ranks_from_env({"WORLD_SIZE": "4", "RANK": "4"})


def test_each_rank_gets_its_own_gpu_unless_a_device_is_named():
    ranks = Ranks(3, 4, local_rank=1, local_world=2)
    assert rank_device("cuda", ranks) == "cuda:1"
    assert rank_device("cuda:3", ranks) == "cuda:3" and rank_device("cpu:0", ranks) == "cpu:0"
    assert rank_device("cuda", None) == "cuda"


def test_merge_adds_each_sample_once_and_skips_torn_lines(tmp_path):
    samples = synthetic_samples(4, 2, 0)
    spec = RunSpec(model="m", backend="hf-text", defense="none", tasks=(TaskRef("syn", "1"),))

    def gen(s, text):
        return Generation(sample_id=s.id, task=s.task, config=s.config, label=s.label, modality=s.modality,
                          response=text)

    with RunStore(tmp_path, spec.run_id).open(spec) as store:
        store.write_samples(samples)
        store.append_generations([gen(samples[0], "in store")])
        ShardWriter(shard_path(store.dir, 0)).append_generations([gen(samples[0], "dup"), gen(samples[1], "r0")])
        ShardWriter(shard_path(store.dir, 1)).append_generations([gen(samples[2], "r1"), gen(samples[1], "r1 dup")])
        with shard_path(store.dir, 1).open("a") as f:
            f.write('{"sample_id": "syn/text/h3", "resp')  # a write cut by SIGKILL
        assert merge_shards(store, samples) == 2
        assert merge_shards(store, samples) == 0  # idempotent
        rows = list(read_jsonl(store.dir / "generations.jsonl"))
    assert [(r["sample_id"], r["response"]) for r in rows] == [
        (samples[0].id, "in store"), (samples[1].id, "r0"), (samples[2].id, "r1")]
    assert not (store.dir / "shards").exists()


# -- end to end (torchrun, 2 ranks, gloo on CPU) -------------------------------------------------------------
def test_two_ranks_equal_one_process(tmp_path, cache_dir, reference):
    out = finish(two_ranks(*RUN, "--out", str(tmp_path), cache_dir=cache_dir))
    assert "0 cached, 40 new (2 ranks)" in out
    got = run_dir(tmp_path)
    assert got.name == reference.name  # same spec, same run id
    assert generations(got) == generations(reference)
    ids = [d["sample_id"] for d in read_jsonl(got / "generations.jsonl")]
    assert len(ids) == len(set(ids)) == 40
    assert json.loads((got / "summary.json").read_text()) == json.loads((reference / "summary.json").read_text())
    session = json.loads((got / "run_info.json").read_text())["sessions"][-1]
    assert session["world_size"] == 2 and [r["generated"] for r in session["ranks"]] == [
        sum(shard_of(i, 2) == r for i in ids) for r in (0, 1)]
    assert not (got / "shards").exists()


def rank_pid(launcher_pid: int, rank: int) -> int | None:
    """The worker process of `rank` among the launcher's descendants (read from /proc)."""
    todo = [launcher_pid]
    while todo:
        pid = todo.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            try:
                environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"RANK={rank}".encode() in environ and b"harness" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
            todo.append(child)
    return None


def test_killed_rank_then_rerun_loses_and_duplicates_nothing(tmp_path, cache_dir, reference):
    slow = ("--defense", "tests.support.slow_defense:SlowNoDefense")
    proc = two_ranks(*RUN, *slow, "--out", str(tmp_path), cache_dir=cache_dir)
    deadline = time.time() + 600
    shard = None
    while time.time() < deadline:
        found = list(tmp_path.glob("*/shards/generations.rank1.jsonl"))
        if found and sum(1 for _ in read_jsonl(found[0])) >= 4:
            shard = found[0]
            break
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    assert shard is not None
    pid = rank_pid(proc.pid, 1)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode != 0  # the launcher stops the other rank and reports the failure
    finished_before = {d["sample_id"] for p in shard.parent.glob("*.jsonl") for d in read_jsonl(p)}
    assert 4 <= len(finished_before) < 40

    out = finish(two_ranks(*RUN, *slow, "--out", str(tmp_path), cache_dir=cache_dir))
    assert f"recovered {len(finished_before)} generation(s)" in out
    assert f"{len(finished_before)} cached, {40 - len(finished_before)} new" in out
    got = run_dir(tmp_path)
    ids = [d["sample_id"] for d in read_jsonl(got / "generations.jsonl")]
    assert len(ids) == len(set(ids)) == 40
    verdicts = [d["sample_id"] for d in read_jsonl(got / "verdicts.jsonl")]
    assert len(verdicts) == len(set(verdicts)) == 40
    ref = generations(reference)
    assert generations(got) == ref  # the slow defense answers like `none`
