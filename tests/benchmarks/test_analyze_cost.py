"""The analysis cost benchmark runs end to end on the organism (small numbers; figures: docs/analyze.md)."""

from __future__ import annotations

import json


def test_analyze_cost_reports_a_ratio_and_memory(cache_dir, capsys):
    from benchmarks.analyze_cost import main

    assert main(["--samples", "48", "--rounds", "1", "--memory-samples", "48", "--layers", "embed,0",
                 "--cache-dir", str(cache_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 48 and result["layers"] == [-1, 0]
    assert result["forward_s"][0] > 0 and result["analysis_s"][0] > 0
    assert result["ratio"] == result["analysis_s"][0] / result["forward_s"][0]
    (memory,) = result["memory"]
    assert memory["samples"] == 48 and memory["peak_after_mb"] >= memory["peak_before_mb"] > 0
