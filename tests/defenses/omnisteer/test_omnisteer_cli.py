"""`harness train omnisteer` through the command line on tiny-omni (the `tiny` preset, two epochs), and the
artifact it writes used by `harness run --defense omnisteer`."""

from __future__ import annotations

import json

from harness.cli import main


def test_train_omnisteer_writes_an_artifact_that_a_run_uses(tmp_path, cache_dir, capsys):
    out = tmp_path / "artifact"
    status = main(["train", "omnisteer", "--model", "tiny-omni", "--data", "smoke:text,image", "--param",
                   "n_per_group=4", "--param", "epochs=2", "--param", "checkpoint=last", "--force", "--out", str(out),
                   "--cache-dir", str(cache_dir), "--no-progress"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "omnisteer tiny (sequential), layers [0, 1]" in printed and "golden layer 0:" in printed
    assert f"copied to {out}" in printed and (out / "tensors.safetensors").is_file()

    runs = tmp_path / "runs"
    assert main(["run", "--model", "tiny-omni", "--defense", "omnisteer", "--defense-param", f"artifact={out}",
                 "--tasks", "smoke:audio", "--limit", "1", "--max-new-tokens", "4", "--out", str(runs),
                 "--cache-dir", str(cache_dir), "--no-progress"]) == 0, capsys.readouterr().err
    (info,) = runs.glob("*/run_info.json")
    artifact = json.loads(info.read_text())["defense"]["artifact"]
    assert artifact["path"] == str(out) and artifact["data"].startswith("smoke:text,image")
    assert len((runs / info.parent.name / "generations.jsonl").read_text().splitlines()) == 2  # audio x 2 labels
