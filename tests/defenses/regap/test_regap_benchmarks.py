"""The defense table (ReGap methods) and the ReGap overhead benchmark run end to end on the tiny random model (plumbing only: a random
model never refuses, so the numbers say nothing about ReGap)."""

from __future__ import annotations

import json

SPLIT_ARGS = ["--model", "tiny-omni", "--calibration", "smoke:text,image", "--calibration-part", "0-40%",
              "--validation", "smoke:text,image", "--validation-part", "40-70%", "--test", "smoke:text,image",
              "--test-part", "70-100%"]


def test_defense_table_reports_rates_decisions_and_geometry(cache_dir, tmp_path, capsys):
    from benchmarks.defense_table import main

    out = tmp_path / "eval.json"
    assert main([*SPLIT_ARGS, "--methods", "none,regap,regap-fixed-full,self-reminder", "--max-new-tokens", "4", "--limit", "3",
                 "--cache-dir", str(cache_dir), "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert list(results["methods"]) == ["none", "regap", "regap-fixed-full", "self-reminder"] and results["n_test"] == 12
    regap = results["methods"]["regap"]
    assert regap["status"] == "reconstructed" and regap["params"]["calibration_part"] == "0-40%"
    rate = regap["rates"]["image"]["harmful_refusal"]
    assert rate["n"] == 3 and 0 <= rate["value"] <= 1
    assert set(regap["decisions"]["image"]) >= {"harmful", "benign"}
    assert results["methods"]["regap-fixed-full"]["params"]["variant"] == "full"
    assert set(regap["crs"]["image"]) == {"uncorrected", "probe_corrected"}
    assert "crs" not in results["methods"]["regap-fixed-full"]  # no probe, no score
    geometry = results["geometry"]["regap"]["image"]
    assert [row["layer"] for row in geometry] == [0, 1, 2] and {row["role"] for row in geometry} == {"int", "diag"}
    assert "crs" not in results["methods"]["self-reminder"] and "decisions" not in results["methods"]["self-reminder"]
    assert results["matched_to_regap"]["layers"] == regap["defense_info"]["settings"]["intervention_layers"]
    assert results["matched_to_regap"]["alpha"] > 0
    out = capsys.readouterr().out
    assert "| regap |" in out and "| self-reminder |" in out and "refusal-steer matched to ReGap" in out


def test_matched_methods_need_regap_first(tmp_path):
    import pytest

    from benchmarks.defense_table import main

    with pytest.raises(SystemExit, match="list 'regap' before it"):
        main([*SPLIT_ARGS, "--methods", "refusal-steer", "--cache-dir", str(tmp_path)])


def test_regap_overhead_forces_both_probe_paths(cache_dir, capsys):
    from benchmarks.regap_overhead import main

    assert main([*SPLIT_ARGS, "--batches", "1", "--rounds", "1", "--max-new-tokens", "2",
                 "--cache-dir", str(cache_dir), "--json"]) == 0
    methods = json.loads(capsys.readouterr().out)["methods"]
    assert methods["regap[reuse]"]["cache_reused_share"] == 1.0
    assert methods["regap[rerun]"]["cache_reused_share"] == 0.0
    assert methods["none"]["cache_reused_share"] is None and methods["none"]["ratio_to_none"] == 1.0
