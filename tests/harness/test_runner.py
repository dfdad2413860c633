"""End-to-end runs on the tiny models: resume after SIGKILL, cached reruns, media checked before model load."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.records import Sample, user_message
from harness.run.registries import default_registries
from harness.run.runner import MediaProblemsError, RunOptions, build_spec, execute
from harness.store import read_jsonl
from tasks.base import Task, TaskContext, TaskSelector

ROOT = Path(__file__).resolve().parents[2]


def harness_cli(*args, cache_dir, **kw):
    env = {**os.environ, "HARNESS_CACHE": str(cache_dir), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "harness", *args, "--no-progress"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


RUN_ARGS = ("run", "--model", "tiny-text", "--tasks", "smoke:text", "--max-new-tokens", "6", "--batch-size", "4",
            "--defense", "tests.support.slow_defense:SlowNoDefense")


def only_run_dir(out: Path) -> Path:
    (run_dir,) = [p.parent for p in out.glob("*/spec.json")]
    return run_dir


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, cache_dir):
    # Reference: one uninterrupted run.
    ref = harness_cli(*RUN_ARGS, "--out", str(tmp_path / "ref"), cache_dir=cache_dir)
    out, _ = ref.communicate(timeout=600)
    assert ref.returncode == 0, out
    ref_dir = only_run_dir(tmp_path / "ref")

    # Same run, killed with SIGKILL once some (not all) generations are on disk.
    killed = harness_cli(*RUN_ARGS, "--out", str(tmp_path / "resumed"), cache_dir=cache_dir)
    gens = None
    deadline = time.time() + 600
    while time.time() < deadline:
        found = list((tmp_path / "resumed").glob("*/generations.jsonl"))
        if found and sum(1 for _ in read_jsonl(found[0])) >= 8:
            gens = found[0]
            break
        assert killed.poll() is None, killed.stdout.read()
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(30)
    n_before = sum(1 for _ in read_jsonl(gens))
    assert 8 <= n_before < 40

    again = harness_cli(*RUN_ARGS, "--out", str(tmp_path / "resumed"), cache_dir=cache_dir)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert f"{n_before} cached, {40 - n_before} new" in out

    run_dir = only_run_dir(tmp_path / "resumed")
    assert run_dir.name == ref_dir.name  # same spec, same run id
    ids = [d["sample_id"] for d in read_jsonl(run_dir / "generations.jsonl")]
    assert len(ids) == len(set(ids)) == 40
    verdict_ids = [d["sample_id"] for d in read_jsonl(run_dir / "verdicts.jsonl")]
    assert len(verdict_ids) == len(set(verdict_ids)) == 40
    responses = {d["sample_id"]: d["response"] for d in read_jsonl(run_dir / "generations.jsonl")}
    ref_responses = {d["sample_id"]: d["response"] for d in read_jsonl(ref_dir / "generations.jsonl")}
    assert responses == ref_responses
    assert json.loads((run_dir / "summary.json").read_text()) == json.loads((ref_dir / "summary.json").read_text())

    # A third run finds everything cached and does no work.
    third = harness_cli(*RUN_ARGS, "--out", str(tmp_path / "resumed"), cache_dir=cache_dir)
    out, _ = third.communicate(timeout=600)
    assert third.returncode == 0 and "40 cached, 0 new" in out, out


class MissingMediaTask(Task):
    name = "missing-media"
    version = "1"

    def configurations(self):
        return ["image"]

    def load(self, configs=()):
        return [Sample(id="mm/1", task=self.name, config="image", label="harmful",
                       messages=(user_message("what is this?", image="/nonexistent/picture.png"),))]


def test_missing_media_reported_before_any_model_loads(tmp_path):
    registries = default_registries()
    registries.tasks.register("missing-media", MissingMediaTask)
    cache = tmp_path / "fresh-cache"
    context = TaskContext(cache_dir=cache)
    spec = build_spec(registries, context, model="tiny-omni", tasks=[TaskSelector("missing-media")])
    with pytest.raises(MediaProblemsError) as err:
        execute(spec, RunOptions(runs_dir=tmp_path / "runs", cache_dir=cache, show_progress=False), registries)
    assert "/nonexistent/picture.png" in str(err.value) and "1 media problem" in str(err.value)
    assert not list(cache.rglob("config.json"))  # the tiny model was never built, let alone loaded
    assert not (tmp_path / "runs").exists()


def test_a_changed_defense_does_not_reuse_earlier_run_folders(tmp_path):
    """A defense's version is part of the run id, so runs made before its answers changed are not reused."""
    from dataclasses import replace

    registries, context = default_registries(), TaskContext(cache_dir=tmp_path / "cache")
    spec = build_spec(registries, context, model="tiny-omni", tasks=[TaskSelector("smoke")], defense="omnisteer")
    assert spec.defense_version == str(registries.defenses.get("omnisteer").version) != "1"
    assert replace(spec, defense_version="1").run_id != spec.run_id
    none = build_spec(registries, context, model="tiny-omni", tasks=[TaskSelector("smoke")])
    assert none.defense_version == "1" and "defense_version" not in none.identity()



def test_a_model_retrained_at_the_same_path_gets_a_new_run_folder(tmp_path, tiny_text_path, capsys, monkeypatch):
    """`harness run --model DIR` after DIR's weights changed neither resumes nor shows the old answers; the old run
    folder stays, and an unchanged model resumes its own."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from harness.cli import main

    model = shutil.copytree(tiny_text_path, tmp_path / "my-model")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    args = ["run", "--model", str(model), "--tasks", "smoke:text", "--max-new-tokens", "4", "--out",
            str(tmp_path / "runs"), "--no-progress"]

    def run_line() -> str:
        assert main(args) == 0
        return next(line for line in capsys.readouterr().out.splitlines() if line.startswith("run "))

    first = run_line()
    assert " 0 cached" in first
    assert " 0 new" in run_line()  # unchanged: resumed, nothing generated again

    (weights,) = model.glob("*.safetensors")
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + torch.ones_like(tensors[name])  # "retrained"
    save_file(tensors, weights, metadata={"format": "pt"})
    assert main(args) == 0
    out = capsys.readouterr().out
    retrained = next(line for line in out.splitlines() if line.startswith("run "))
    assert " 0 cached" in retrained and retrained.split(":")[0] != first.split(":")[0]
    old_folder = first.split(":")[0].removeprefix("run ")
    assert f"note: {tmp_path / 'runs' / old_folder} holds a run of {model} with other weights" in out
    folders = sorted(p.parent.name for p in (tmp_path / "runs").glob("*/spec.json"))
    assert len(folders) == 2 and all(json.loads((tmp_path / "runs" / f / "spec.json").read_text())
                                     .get("model_fingerprint") for f in folders)
