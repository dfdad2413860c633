"""Validation before any model loads: a missing media file, a corrupt image, a wrong field name and an unknown
hub split each fail with a message naming the file or the field (`harness tasks check` and `harness run`)."""

import yaml

from harness.cli import main
from tests.support.task_data import png_bytes, write, write_jsonl, write_parquet_snapshot

CARD = dict(
    name="probe", version="1",
    source={"local": "probe", "data_files": "items.jsonl"},
    fields={"id": "qid", "text": "question", "image": "img"},
    label="harmful",
    configurations={"all": None},
)


def setup(tmp_path, card=None, rows=None, images=("0.png", "1.png")):
    cards = tmp_path / "cards"
    cards.mkdir(exist_ok=True)
    card = card or CARD
    (cards / f"{card['name']}.yaml").write_text(yaml.safe_dump(card))
    data = tmp_path / "data"
    rows = rows if rows is not None else [{"qid": i, "question": f"q{i}", "img": f"{i}.png"} for i in range(2)]
    write_jsonl(data / "probe" / "items.jsonl", rows)
    for name in images:
        write(data / "probe" / name, png_bytes())
    return ["--include-path", str(cards), "--data-root", str(data), "--cache-dir", str(tmp_path / "cache")]


def check(capsys, *args):
    rc = main(["tasks", "check", *args])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def run(capsys, tmp_path, *args):
    rc = main(["run", "--model", "tiny-omni", "--tasks", "probe", "--out", str(tmp_path / "runs"), "--no-progress",
               *args])
    captured = capsys.readouterr()
    assert not list((tmp_path / "cache").rglob("config.json")), "a model was built"
    assert not (tmp_path / "runs").exists()
    return rc, captured.out + captured.err


def test_good_data_passes(tmp_path, capsys):
    rc, out = check(capsys, "probe", *setup(tmp_path))
    assert rc == 0 and "probe: 2 samples, 2 media files checked, 0 problem(s) OK" in out


def test_missing_media_file(tmp_path, capsys):
    opts = setup(tmp_path, images=("0.png",))
    rc, out = check(capsys, "probe", *opts)
    missing = tmp_path / "data" / "probe" / "1.png"
    assert rc == 2 and f"image '{missing}': does not exist" in out and "1 problem(s)" in out


def test_corrupt_image(tmp_path, capsys):
    opts = setup(tmp_path)
    bad = tmp_path / "data" / "probe" / "1.png"
    bad.write_bytes(png_bytes(size=(64, 64))[:50])
    rc, out = check(capsys, "probe", *opts)
    assert rc == 2 and f"image '{bad}': cannot be decoded" in out


def test_run_reports_bad_media_before_any_model_loads(tmp_path, capsys):
    opts = setup(tmp_path, images=("0.png",))
    rc, out = run(capsys, tmp_path, *opts)
    assert rc == 2 and str(tmp_path / "data" / "probe" / "1.png") in out and "1 media problem" in out


def test_wrong_field_name(tmp_path, capsys):
    card = {**CARD, "fields": {**CARD["fields"], "text": "qestion"}}
    opts = setup(tmp_path, card=card)
    rc, out = check(capsys, "probe", *opts)
    assert rc == 2 and "FAILED" in out and "fields.text refers to column 'qestion'" in out
    assert str(tmp_path / "cards" / "probe.yaml") in out
    rc, out = run(capsys, tmp_path, *opts)
    assert rc == 2 and "fields.text refers to column 'qestion'" in out


def test_unknown_hub_split(tmp_path, capsys):
    card = {**CARD, "source": {"hub": "someone/probe", "hub_status": "confirmed", "local": "probe",
                               "split": "validation"}}
    opts = setup(tmp_path, card=card, rows=[], images=())
    write_parquet_snapshot(tmp_path / "data" / "probe", "test",
                           [{"qid": 0, "question": "q", "img": {"bytes": png_bytes(), "path": None}}], {"img": "image"})
    (tmp_path / "data" / "probe" / "items.jsonl").unlink()
    rc, out = check(capsys, "probe", *opts)
    assert rc == 2 and "source.split: unknown split 'validation'" in out and "(splits: test)" in out
    rc, out = run(capsys, tmp_path, *opts)
    assert rc == 2 and "source.split: unknown split 'validation'" in out


def test_schema_error_and_missing_data(tmp_path, capsys):
    opts = setup(tmp_path, card={**CARD, "metrics": ["rsr", "f1"]})
    rc, out = check(capsys, "probe", *opts)
    assert rc == 2 and "metrics.1: unknown metric 'f1'" in out
    rc, out = check(capsys, "vlguard", "--data-root", str(tmp_path / "nothing"))
    assert rc == 2 and "data not found at" in out and "harness tasks download vlguard" in out


def test_limit_checks_a_seeded_subset(tmp_path, capsys):
    rows = [{"qid": i, "question": f"q{i}", "img": f"{i}.png"} for i in range(6)]
    opts = setup(tmp_path, rows=rows, images=[f"{i}.png" for i in range(6)])
    rc, out = check(capsys, "probe", "--limit", "2", *opts)
    assert rc == 0 and "probe: 2 samples" in out


def test_check_without_names_checks_every_card(tmp_path, capsys):
    opts = setup(tmp_path)
    (tmp_path / "cards" / "typo.yaml").write_text("name: typo\nversion: 1\nsource: {local: x}\nconfigurations: [a]\n"
                                                   "feilds: {text: q}\nlabel: benign\n")
    rc, out = check(capsys, *opts)
    assert rc == 2
    assert "probe: 2 samples, 2 media files checked, 0 problem(s) OK" in out
    assert "omnibench: card OK; data not present here (schema checked only)" in out
    assert "typo: FAILED" in out and "unknown key(s) 'feilds' (did you mean 'fields'?)" in out
