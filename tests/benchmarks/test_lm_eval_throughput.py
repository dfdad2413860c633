"""The lm-eval throughput benchmark runs end to end on the tiny text model (plumbing; the figure is in
results/lm_eval_throughput.txt)."""

from __future__ import annotations

import re


def test_bridge_and_hf_answer_the_same_and_a_ratio_is_printed(cache_dir, capsys):
    from benchmarks.lm_eval_throughput import main

    assert main(["--model", "tiny-text", "--requests", "4", "--batch-size", "2", "--max-gen-toks", "4",
                 "--rounds", "1", "--cache-dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"throughput ratio bridge/hf: \d+\.\d{3}", out)
    assert "identical answers: 4/4" in out  # the same greedy answers: both did the same work
