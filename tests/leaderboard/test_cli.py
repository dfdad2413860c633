"""The command line: `harness leaderboard build`, `harness leaderboard add` and `harness submit`."""

from __future__ import annotations

import json

import yaml

from harness.cli import main
from tests.leaderboard.conftest import STANDARD
from tests.support.leaderboard_runs import text_samples, write_scored_run


def test_build_with_the_packaged_standard(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_scored_run(runs, text_samples("smoke", "text", 3, 3), model="tiny-text")
    write_scored_run(runs, text_samples("smoke", "text", 3, 3), model="tiny-text", defense="guard")
    assert main(["leaderboard", "build", "--runs", str(runs), "--out", str(tmp_path / "site")]) == 0
    out = capsys.readouterr().out
    assert "2 row(s) in the main table, 0 in the separate table" in out
    index = (tmp_path / "site" / "index.html").read_text()
    assert "keyword@" in index and "cheap and offline, NOT a safety classifier" in index


def test_add_refuses_with_the_reason_and_exit_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip: no manifest
    assert main(["leaderboard", "add", str(bad), "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "harness: error: bundle refused, nothing was added: the bundle has no manifest.json" in err
    assert not (tmp_path / "runs").exists()


def test_a_dry_run_bundle_without_contract_checks_is_refused(tmp_path, cache_dir, tiny_text_path, capsys):
    data = json.loads(json.dumps(STANDARD))
    data["suites"] = {"tiny": {"models": ["tiny-*"], "tasks": ["smoke:text"], "limit": 1, "max_new_tokens": 2}}
    std = tmp_path / "standard.yaml"
    std.write_text(yaml.safe_dump(data))
    common = ["submit", "--defense", "none", "--model", "tiny-text", "--standard", str(std), "--runs",
              str(tmp_path / "runs"), "--cache-dir", str(cache_dir), "--out", str(tmp_path / "b.zip"), "--no-progress"]
    assert main([*common, "--skip-contract-checks"]) == 0
    assert "contract checks SKIPPED" in capsys.readouterr().out
    assert main(["leaderboard", "add", str(tmp_path / "b.zip"), "--runs", str(tmp_path / "board"),
                 "--standard", str(std)]) == 2
    assert "contract checks were skipped" in capsys.readouterr().err
