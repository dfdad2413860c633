"""`harness organism train` and `harness organism eval` through the command line: a quick training run (2 steps,
4 examples per pool bucket) that writes a checkpoint the normal backend loads, and the evaluation of the shipped
organism, which must print exactly the figures recorded with its weights (and quoted in the README)."""

from __future__ import annotations

import json
import re

from harness.cli import main
from organism.card import FIGURES_FILE
from organism.zoo import shipped


def test_train_cli_writes_a_checkpoint_the_backend_loads(tmp_path, cache_dir, capsys):
    out = tmp_path / "organism"
    assert main(["organism", "train", "--variant", "organism", "--seed", "0", "--steps", "2", "--pool-size", "4",
                 "--threads", "1", "--no-eval", "--out", str(out), "--cache-dir", str(cache_dir),
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out} (no evaluation)" in captured.out
    assert re.search(r"trained organism seed 0 in \d+ s", captured.err)
    from organism.evaluate import load_backend

    backend = load_backend(out)
    assert backend.num_layers == 4 and {"image", "audio"} <= set(backend.modalities)


def test_train_cli_refuses_an_empty_pool_before_any_work(tmp_path, capsys):
    assert main(["organism", "train", "--pool-size", "0", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--pool-size: must be >= 1" in err and not (tmp_path / "o").exists()


def test_eval_cli_prints_the_shipped_figures(cache_dir, capsys):
    assert main(["organism", "eval", "organism", "--no-probes", "--cache-dir", str(cache_dir)]) == 0
    printed = capsys.readouterr().out
    # cell, n, refusal, first token i, exact, names object, whole sentence
    rows = {m.group(1): (int(m.group(2)), m.group(3), m.group(5)) for m in
            re.finditer(r"^(\S+/\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", printed, re.MULTILINE)}
    recorded = json.loads((shipped("organism") / FIGURES_FILE).read_text())["figures"]["test"]
    assert set(rows) == set(recorded) and len(rows) == 8
    for cell, row in recorded.items():
        assert rows[cell] == (row["n"], f"{row['refusal']:.3f}", f"{row['exact_compliance']:.3f}"), cell
    assert "acceptance: every bound holds" in printed


def test_eval_cli_reads_the_rephrased_validation_requests(cache_dir, capsys):
    assert main(["organism", "eval", "organism", "--split", "validation-rephrased", "--no-probes",
                 "--cache-dir", str(cache_dir)]) == 0
    printed = capsys.readouterr().out
    assert "split: validation-rephrased" in printed
    rows = dict(re.findall(r"^(\S+/\S+)\s+(\d+)\s", printed, re.MULTILINE))
    assert len(rows) == 8 and set(rows.values()) == {"48"}


def test_train_cli_builds_organism_v2_on_the_shipped_organism(tmp_path, cache_dir, capsys):
    out = tmp_path / "v2"
    assert main(["organism", "train", "--variant", "organism-v2", "--seed", "0", "--steps", "2", "--pool-size", "4",
                 "--threads", "1", "--no-eval", "--out", str(out), "--cache-dir", str(cache_dir), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"trained organism-v2 seed 0 in \d+ s \(.*tune \d+ s", err)
    from safetensors.torch import load_file

    trained, base = (load_file(str(d / "model.safetensors")) for d in (out, shipped("organism")))
    assert any(not trained[k].equal(base[k]) for k in trained)  # the stage ran from the shipped base
    assert not (out / "MODEL_CARD.md").exists() or "organism-v2" in (out / "MODEL_CARD.md").read_text()


def test_the_removed_understanding_flag_is_a_clear_error(tmp_path, capsys):
    assert main(["organism", "train", "--understanding", "--out", str(tmp_path / "o")]) == 2
    assert "--understanding" in capsys.readouterr().err
