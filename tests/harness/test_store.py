import json
import multiprocessing as mp

import pytest

from harness.records import Generation, RunSpec, TaskRef, Verdict
from harness.store import RunLockedError, RunStore, read_jsonl


def spec():
    return RunSpec(model="m/x", backend="hf-text", defense="none", tasks=(TaskRef("smoke", "1"),))


def gen(i):
    return Generation(sample_id=f"s{i}", task="smoke", config="text", label="harmful", modality="text",
                      response=f"r{i}")


def test_append_and_read_back(tmp_path):
    s = spec()
    with RunStore(tmp_path, s.run_id).open(s) as store:
        store.append_generations([gen(0), gen(1)])
        store.append_verdicts([Verdict("s0", "j@1", "refusal")])
        assert set(store.generations()) == {"s0", "s1"}
        assert store.verdicts()["j@1"]["s0"].label == "refusal"
    assert json.loads((tmp_path / s.run_id / "spec.json").read_text())["model"] == "m/x"


def test_torn_last_line_is_dropped_on_open(tmp_path):
    s = spec()
    with RunStore(tmp_path, s.run_id).open(s) as store:
        store.append_generations([gen(0)])
    path = tmp_path / s.run_id / "generations.jsonl"
    with path.open("a") as f:
        f.write('{"sample_id": "s1", "task": "smo')  # a write cut by a kill
    assert [d["sample_id"] for d in read_jsonl(path)] == ["s0"]
    with RunStore(tmp_path, s.run_id).open(s) as store:
        store.append_generations([gen(2)])
        assert list(store.generations()) == ["s0", "s2"]
    assert path.read_text().count("\n") == 2


def _hold_lock(root, run_id, ready, release):
    store = RunStore(root, run_id).open()
    ready.set()
    release.wait(10)
    store.close()


def test_second_writer_is_refused(tmp_path):
    s = spec()
    RunStore(tmp_path, s.run_id).open(s).close()
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(tmp_path), s.run_id, ready, release))
    proc.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunLockedError, match="another process"):
            RunStore(tmp_path, s.run_id).open(s)
    finally:
        release.set()
        proc.join(10)
    RunStore(tmp_path, s.run_id).open(s).close()  # free again once the holder is gone


def test_writing_without_lock_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="open the run store"):
        RunStore(tmp_path, "x").append_generations([gen(0)])
