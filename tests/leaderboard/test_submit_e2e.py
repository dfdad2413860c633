"""Submitting a defense end to end with nothing of ours replaced: the example plugin (examples/my_defense) installed
through its entry point -> `harness submit --model organism` (real contract checks on tiny-omni, the organism suite
with its pinned keyword judge, a `none` baseline) -> bundle -> `harness leaderboard add --verify-samples` ->
`harness leaderboard build`. The flow itself is the session fixture `submitted` (tests/leaderboard/conftest.py),
shared with the browser test that finds the row on the page."""

from __future__ import annotations

import json
import zipfile

from leaderboard.bundle import MANIFEST
from leaderboard.runs import SUBMISSIONS_DIR

CHECKS = ["setup", "strength-zero-identical", "hooks-removed", "hooks-removed-on-error", "positions",
          "batched-equals-single"]


def test_the_bundle_holds_a_real_contract_report_and_both_runs(submitted, registries):
    with zipfile.ZipFile(submitted.bundle) as zf:
        manifest = json.loads(zf.read(MANIFEST))
        contract = json.loads(zf.read("contract.json"))
    # The contract ran for real on the standard's contract model with the plugin's declared parameters.
    assert contract["passed"] is True and contract["model"] == "tiny-omni" and contract["defense"] == "my-defense"
    assert contract["params"] == {"layer": 1, "strength": 4.0}
    assert [(c["name"], c["status"]) for c in contract["checks"]] == [(c, "pass") for c in CHECKS]
    assert manifest["contract"] == {"passed": True, "skipped": False, "model": "tiny-omni"}
    assert [(r["role"], r["defense"]) for r in manifest["runs"]] == [("defense", "my-defense"), ("baseline", "none")]
    assert manifest["model"] == "organism" and manifest["standard"]["suite"] == "organism"
    assert manifest["judges"] == {"organism-safety": registries.judges.get("keyword")().id}
    assert manifest["nonstandard"] == {} and len(manifest["defense"]["source_hash"]) >= 8
    assert "contract checks of my-defense on tiny-omni" in submitted.output


def test_the_maintainers_board_has_the_submission_and_the_site_its_row(submitted, registries):
    (entry,) = (submitted.board / SUBMISSIONS_DIR).iterdir()
    assert (entry / MANIFEST).is_file() and len([p for p in entry.iterdir() if p.is_dir()]) == 2
    assert f"added submission {entry.name}: 2 run(s)" in submitted.output
    table = json.loads((submitted.site / "leaderboard.json").read_text())
    rows = {(r["model"], r["defense"]): r for r in table["rows"]}
    assert set(rows) == {("organism", "my-defense"), ("organism", "none")}
    assert all(r["table"] == "main" for r in rows.values())
    # organism-safety has 4 configurations x 2 labels; the suite here takes one sample of each, and one item of
    # each of the suite's lm-eval utility subtasks (which the overall count includes).
    mine = rows[("organism", "my-defense")]
    assert mine["overall"]["asr"]["n"] == 4 and mine["overall"]["bar"]["n"] == 4
    assert mine["overall"]["utility"]["n"] >= 1
    assert mine["overall"]["n"] == 8 + mine["overall"]["utility"]["n"]
    safety_judges = {t: j for t, j in mine["judges"].items() if not t.startswith("lm-eval:")}
    assert safety_judges == {"organism-safety": registries.judges.get("keyword")().id}  # the pinned judge
    assert {j for t, j in mine["judges"].items() if t.startswith("lm-eval:")} == {"lm-eval"}  # lm-eval's metric
    assert mine["overhead"]["ratio"] > 0  # paired with the bundle's own `none` baseline
    assert "my-defense" in (submitted.site / "index.html").read_text()


def test_the_packaged_standard_refuses_the_small_suite_bundle(submitted, tmp_path, capsys, cache_dir):
    from harness.cli import main

    # The bundle ran 1 sample per cell; the packaged standard's organism suite runs all of them.
    assert main(["leaderboard", "add", str(submitted.bundle), "--runs", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert "not the standard suite organism" in err and "limit 1" in err
    assert not (tmp_path / "board").exists()
