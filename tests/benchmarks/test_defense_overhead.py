"""The defense overhead benchmark runs end to end on the tiny random model (plumbing; figures come from the
organism, see README)."""

from __future__ import annotations

import json


def test_overhead_times_every_method_on_the_same_batches(cache_dir, capsys):
    from benchmarks.defense_overhead import main

    assert main(["--model", "tiny-omni", "--methods", "self-reminder", "--test", "smoke:text,image",
                 "--batch-size", "4", "--rounds", "1", "--max-new-tokens", "2", "--cache-dir", str(cache_dir),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["methods"]) == ["none", "self-reminder"]  # `none` is always the reference
    assert result["methods"]["none"]["ratio_to_none"] == 1.0
    assert result["methods"]["self-reminder"]["median_batch_s"] > 0
    assert result["batches"] == ["image", "text"]  # one batch per configuration
    steered = result["methods"]["self-reminder"]
    assert set(steered["ratio_by_config"]) == {"image", "text"}
    low, high = steered["ratio_iqr"]
    assert low <= steered["ratio_to_none"] <= high and steered["decode_steps_per_batch"] >= 1


def test_batches_need_a_full_batch_per_configuration():
    from benchmarks.defense_overhead import timed_batches
    from harness.records import Sample, user_message

    samples = [Sample(id=f"s{i}", task="t", config="a" if i < 3 else "b", messages=(user_message("x"),),
                      label="benign") for i in range(5)]
    assert [len(b) for b in timed_batches(samples, 3)] == [3]
