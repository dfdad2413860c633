"""harness/files.py, the careful reader: JSONL lines, JSON files, tensor files, and the writer's torn-tail repair."""

import json

import pytest

from harness.files import CorruptFile, iter_jsonl, load_safetensors, load_torch, read_json, repair_torn_tail

GARBAGE = bytes((i * 37 + 11) % 256 for i in range(600))
ROWS = b"".join(json.dumps({"i": i}).encode() + b"\n" for i in range(6))


def ids(path, **kw):
    return [d["i"] for d in iter_jsonl(path, **kw)]


def test_a_torn_last_line_is_skipped_by_readers_and_set_aside_by_the_writer(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_bytes(ROWS + b'{"i": 6, "x": "ha')
    assert ids(path) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(CorruptFile, match=r"g.jsonl, line 7: the last line is torn"):
        ids(path, strict=True)
    report = repair_torn_tail(path)
    (side,) = tmp_path.glob("g.jsonl.torn-*")
    assert "line 7 was torn" in report and side.name in report
    assert path.read_bytes() == ROWS and side.read_bytes() == b'{"i": 6, "x": "ha'
    assert repair_torn_tail(path) is None  # nothing more to do


def test_an_unparsable_last_line_with_its_newline_is_torn_too(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_bytes(ROWS + b"\x00\x00\x00\n")
    assert ids(path) == list(range(6))
    repair_torn_tail(path)
    assert path.read_bytes() == ROWS


def test_a_whole_record_missing_only_its_newline_is_kept(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_bytes(ROWS + b'{"i": 6}')
    assert ids(path) == list(range(7))
    assert "completed it" in repair_torn_tail(path)
    assert path.read_bytes() == ROWS + b'{"i": 6}\n' and not list(tmp_path.glob("*.torn-*"))


@pytest.mark.parametrize("bad", [b'{"i": "garbage\n', b"[1, 2]\n", b"42\n", GARBAGE[:80] + b"\n"])
def test_a_bad_line_before_the_last_stops_with_its_number_and_changes_nothing(tmp_path, bad):
    path = tmp_path / "g.jsonl"
    lines = ROWS.splitlines(keepends=True)
    data = b"".join(lines[:2]) + bad + b"".join(lines[2:])
    path.write_bytes(data)
    with pytest.raises(CorruptFile, match=r"g.jsonl, line 3: line is not a JSON object") as info:
        ids(path)
    assert str(info.value).isprintable()  # one readable line
    if bad.startswith(GARBAGE[:80]):
        assert "(binary data, 81 bytes)" in str(info.value) and "\ufffd" not in str(info.value)
    with pytest.raises(CorruptFile, match=r"line 3"):
        repair_torn_tail(path)
    assert path.read_bytes() == data


def test_blank_lines_and_empty_files_hold_no_records(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_bytes(b"")
    assert ids(path) == [] and repair_torn_tail(path) is None
    path.write_bytes(b"\n" + ROWS[:12] + b"\n   \n")
    assert ids(path) == [0]
    assert ids(tmp_path / "missing.jsonl") == []


def test_a_record_the_decoder_rejects_names_its_line(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_bytes(ROWS + b'{"j": 1}\n')
    with pytest.raises(CorruptFile, match=r"line 7: not a valid row \(missing field 'i'\)"):
        list(iter_jsonl(path, lambda d: d["i"], what="row"))


@pytest.mark.parametrize("data,problem", [
    (b"", "empty file"),
    (b"  \n", "empty file"),
    (GARBAGE, "not UTF-8 text"),
    (b'{\n  "a": 1,\n  "b": [1, 2\n', r"line 4: not valid JSON"),
    (b"[1, 2]\n", "expected a JSON object, found a array"),
])
def test_json_file_damage_is_named(tmp_path, data, problem):
    path = tmp_path / "s.json"
    path.write_bytes(data)
    with pytest.raises(CorruptFile, match=problem) as info:
        read_json(path, hint="do this")
    assert str(info.value).startswith(str(path)) and str(info.value).endswith("; do this")
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")


def test_tensor_files_that_do_not_load_are_named(tmp_path):
    import torch
    from safetensors.torch import save_file

    st, pt = tmp_path / "t.safetensors", tmp_path / "v.pt"
    save_file({"a": torch.ones(3)}, str(st))
    torch.save({"a": torch.ones(3)}, pt)
    assert load_safetensors(st)["a"].sum() == 3 and load_torch(pt)["a"].sum() == 3
    for path, load in ((st, load_safetensors), (pt, load_torch)):
        data = path.read_bytes()
        for damaged in (data[: len(data) // 2], GARBAGE, b""):
            path.write_bytes(damaged)
            with pytest.raises(CorruptFile, match="not a readable") as info:
                load(path)
            assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_a_damaged_calibration_artifact_is_named(tmp_path):
    import torch

    from defenses.toolkit.artifacts import Manifest, load_artifact, save_artifact

    directory = save_artifact(tmp_path / "art", Manifest(kind="k", model={}, layers=[1], data_hash="d", data="x",
                                                         params={}), {"v": torch.ones(4)})
    manifest = directory / "manifest.json"
    good = manifest.read_bytes()
    assert load_artifact(directory)[1]["v"].sum() == 4
    manifest.write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptFile, match=r"manifest.json, line \d+: not valid JSON.*to recalibrate"):
        load_artifact(directory)
    manifest.write_text(json.dumps({"kind": "k"}))
    with pytest.raises(CorruptFile, match="not a calibration manifest"):
        load_artifact(directory)
    tensors = directory / "tensors.safetensors"
    data = json.loads(good)
    data["tensors_sha256"] = ""  # a manifest without the hash: the loader itself must notice the damage
    manifest.write_text(json.dumps(data))
    tensors.write_bytes(tensors.read_bytes()[:40])
    with pytest.raises(CorruptFile, match="tensors.safetensors: not a readable safetensors file"):
        load_artifact(directory)


def test_the_fast_shape_check_falls_back_to_the_careful_reader(tmp_path):
    from harness.files import check_jsonl

    path = tmp_path / "g.jsonl"
    path.write_bytes(ROWS)
    check_jsonl(path)
    path.write_bytes(ROWS + b"\n" + ROWS[:5])  # a blank line and a torn tail: shape off, careful reader says fine
    check_jsonl(path)
    with pytest.raises(CorruptFile, match="line 8: the last line is torn"):
        check_jsonl(path, strict=True)
    lines = ROWS.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]) + b'{"i": "garb\n' + b"".join(lines[3:]))
    with pytest.raises(CorruptFile, match="line 4"):
        check_jsonl(path)


# -- build_once: folders built on first use (tiny models, organisms trained by the zoo) --------------------------
def _done(path):
    return (path / "weights").exists()


def _write(tmp, text="complete"):
    (tmp / "weights").write_text(text)


def test_a_failed_build_leaves_no_folder_and_a_finished_one_is_reused(tmp_path):
    from harness.files import build_once

    target = tmp_path / "models" / "m-seed1"

    def failing(tmp):
        (tmp / "half").write_text("x")
        raise RuntimeError("training crashed")

    with pytest.raises(RuntimeError, match="training crashed"):
        build_once(target, failing, done=_done)
    assert not target.exists() and sorted(p.name for p in target.parent.iterdir()) == [".m-seed1.lock"]
    calls = []
    assert build_once(target, lambda tmp: (calls.append(tmp), _write(tmp)), done=_done) == target
    assert build_once(target, lambda tmp: calls.append(tmp), done=_done) == target
    assert len(calls) == 1 and (target / "weights").read_text() == "complete"


def test_a_killed_build_is_not_taken_for_finished(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "m-seed1"
    script = ("import os, signal, sys; from pathlib import Path; from harness.files import build_once\n"
              "def build(tmp):\n"
              "    (tmp / 'weights').write_text('half')\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "build_once(Path(sys.argv[1]), build, done=lambda p: (p / 'weights').exists())\n")
    proc = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, timeout=60, check=False)
    assert proc.returncode != 0 and not target.exists()
    from harness.files import build_once

    assert build_once(target, _write, done=_done) == target and (target / "weights").read_text() == "complete"


def test_an_unfinished_folder_from_elsewhere_is_moved_aside_not_deleted(tmp_path):
    from harness.files import build_once

    target = tmp_path / "m-seed1"
    target.mkdir()
    (target / "notes.txt").write_text("someone's files")
    build_once(target, _write, done=_done)
    (aside,) = tmp_path.glob("m-seed1.incomplete-*")
    assert (aside / "notes.txt").read_text() == "someone's files" and _done(target)
