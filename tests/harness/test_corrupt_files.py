"""Damaged stored files through the real commands (`harness run` resume, `score`, `compare`, `leaderboard build`).

One real tiny-text run is made once; every case damages one file of a copy in one way and runs each command on
its own fresh copy through `harness.cli.main`. Expected, per (file, damage, command):
  error  exit 2, stderr exactly one line naming the file (and line where there is one), no traceback, the
         damaged file byte for byte as it was;
  aside  exit 0, the torn last line moved to `<name>.torn-<time>` and reported, every valid line kept in place;
  ok     exit 0, the file untouched (a read-only command skips a torn last line; the command does not read it);
  redo   exit 0, the file rebuilt by the command (samples.jsonl is rewritten by every `harness run`);
  refill exit 0, an empty (valid) file filled again with every record (the run generates or judges them);
  refused exit 2 with the command's own one-line reason (compare: no judge in common once verdicts are empty).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main

RUN_ARGS = ["run", "--model", "tiny-text", "--tasks", "smoke:text", "--limit", "4", "--max-new-tokens", "4",
            "--batch-size", "8", "--judge", "keyword", "--no-progress"]
COMMANDS = ("score", "run", "compare", "build")
GARBAGE = bytes((i * 37 + 11) % 256 for i in range(600))  # binary noise with a few newline bytes in it


# -- damages -----------------------------------------------------------------------------------------------
def middle(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    lines[4] = b'{"sample_id": "garbage\n'  # line 5
    return b"".join(lines)


def torn_last(data: bytes) -> bytes:
    """A write cut by a kill: the last line with some content ends halfway (a JSON file's closing `}` goes too)."""
    lines = data.splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if len(line.strip()) > 2)
    return b"".join(lines[:last]) + lines[last][: len(lines[last]) // 2]


def empty(data: bytes) -> bytes:
    return b""


def binary(data: bytes) -> bytes:
    return GARBAGE


def truncated(data: bytes) -> bytes:
    cut = len(data) // 2
    while data[cut - 1:cut] == b"\n":  # cut inside a line, not at its end
        cut += 1
    return data[:cut]


DAMAGES = {"middle": middle, "torn_last": torn_last, "empty": empty, "binary": binary, "truncated": truncated}

# -- the table ---------------------------------------------------------------------------------------------
APPENDED = {  # generations.jsonl and verdicts.jsonl: a crash can tear the last line
    "middle": dict(score="error", run="error", compare="error", build="error"),
    "torn_last": dict(score="aside", run="aside", compare="ok", build="ok"),
    "empty": dict(score="ok", run="refill", compare="ok", build="ok"),
    "binary": dict(score="error", run="error", compare="error", build="error"),
    "truncated": dict(score="aside", run="aside", compare="ok", build="ok"),
}
ATOMIC_JSON = {damage: dict(score="error", run="error", compare="error", build="error") for damage in DAMAGES}
SAMPLES = {damage: dict(score="error", run="redo", compare="error", build="error") for damage in DAMAGES}


def expected(name: str, damage: str, command: str) -> str:
    if name == "samples.jsonl":
        return SAMPLES[damage][command]
    if name in ("generations.jsonl", "verdicts.jsonl"):
        outcome = APPENDED[damage][command]
        if command == "compare" and name == "generations.jsonl":
            return "ok"  # compare reads samples and verdicts only
        if damage == "empty" and name == "verdicts.jsonl":
            # no verdicts is a valid state: scoring judges everything again; compare finds no common judge
            return {"score": "refill", "compare": "refused"}.get(command, outcome)
        return outcome
    outcome = ATOMIC_JSON[damage][command]
    if command == "compare" and name == "run_info.json":
        return "ok"  # not read by compare
    return outcome


FILES = ("generations.jsonl", "verdicts.jsonl", "samples.jsonl", "summary.json", "spec.json", "run_info.json")
CASES = [(f, d) for f in FILES for d in DAMAGES]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, cache_dir, tiny_text_path) -> Path:
    """A finished, judged tiny-text run (8 samples): runs/<id>/ with every file `harness run` writes."""
    root = tmp_path_factory.mktemp("pristine")
    assert main([*RUN_ARGS, "--out", str(root / "runs"), "--cache-dir", str(cache_dir)]) == 0
    (run_dir,) = [p.parent for p in (root / "runs").glob("*/spec.json")]
    for name in FILES:
        assert (run_dir / name).exists(), name
    assert len((run_dir / "generations.jsonl").read_bytes().splitlines()) == 8
    return run_dir


def run_command(command: str, runs: Path, run_dir: Path, other: Path, cache_dir: Path, tmp: Path) -> int:
    argv = {
        "score": ["score", str(run_dir), "--judge", "keyword", "--cache-dir", str(cache_dir)],
        "run": [*RUN_ARGS, "--out", str(runs), "--cache-dir", str(cache_dir)],
        "compare": ["compare", str(run_dir), str(other)],
        "build": ["leaderboard", "build", "--runs", str(runs), "--out", str(tmp / "site")],
    }[command]
    return main(argv)


def valid_lines(data: bytes) -> list[bytes]:
    """The lines of `data` that are complete JSON objects (what must never be lost)."""
    out = []
    for raw in data.splitlines(keepends=True):
        try:
            if raw.endswith(b"\n") and isinstance(json.loads(raw), dict):
                out.append(raw)
        except ValueError:
            pass
    return out


@pytest.mark.parametrize("name,damage", CASES, ids=[f"{f}-{d}" for f, d in CASES])
def test_damaged_file_through_every_command(name, damage, pristine, cache_dir, tmp_path, capsys):
    original = (pristine / name).read_bytes()
    damaged = DAMAGES[damage](original)
    assert damaged != original
    for command in COMMANDS:
        want = expected(name, damage, command)
        work = tmp_path / command
        runs = work / "runs"
        shutil.copytree(pristine.parent, runs)
        other = shutil.copytree(pristine, work / "other" / pristine.name)  # an undamaged run to compare with
        run_dir = runs / pristine.name
        path = run_dir / name
        path.write_bytes(damaged)
        capsys.readouterr()
        rc = run_command(command, runs, run_dir, other, cache_dir, work)
        out, err = capsys.readouterr()
        where = f"{name} {damage} {command}: rc={rc} stderr={err!r}"
        assert "Traceback" not in err + out, where
        if want == "refused":
            assert rc == 2 and len(err.strip().splitlines()) == 1 and path.read_bytes() == damaged, where
            continue
        if want == "error":
            assert rc == 2, where
            assert len(err.strip().splitlines()) == 1 and err.startswith("harness: error: "), where
            assert str(path) in err, where
            if damage == "middle" or (damage == "binary" and name.endswith(".jsonl")):
                assert f"{name}, line {5 if damage == 'middle' else 1}:" in err, where
            assert path.read_bytes() == damaged, where  # nothing rewritten
            continue
        assert rc == 0, where
        if want == "ok":
            assert path.read_bytes() == damaged, where
        elif want == "redo":
            assert path.read_bytes() == original, where
        elif want == "refill":
            assert len(valid_lines(path.read_bytes())) == len(valid_lines(original)), where
        elif want == "aside":
            sides = list(run_dir.glob(f"{name}.torn-*"))
            assert len(sides) == 1, where
            kept = damaged[: len(damaged) - len(sides[0].read_bytes())]
            assert damaged.endswith(sides[0].read_bytes()) and kept.endswith(b"\n"), where
            assert "torn" in err and sides[0].name in err, where
            now = path.read_bytes()
            assert now.startswith(kept), where  # every valid line kept, byte for byte, in place
            assert valid_lines(kept) == valid_lines(damaged), where
            if command == "run":  # the torn record was made again: the run is whole
                assert len(valid_lines(now)) == len(valid_lines(original)), where
        if want != "error" and name in ("generations.jsonl", "verdicts.jsonl"):
            # Whatever happened, no valid line of the damaged file was lost.
            assert set(valid_lines(damaged)) <= set(valid_lines(path.read_bytes())), where


def test_score_of_the_issue_report_keeps_every_record(pristine, cache_dir, tmp_path, capsys):
    """The reported case: line 5 of generations.jsonl damaged, `harness score` must not truncate the file."""
    runs = shutil.copytree(pristine.parent, tmp_path / "runs")
    path = runs / pristine.name / "generations.jsonl"
    damaged = middle(path.read_bytes())
    path.write_bytes(damaged)
    assert main(["score", str(path.parent), "--judge", "keyword", "--cache-dir", str(cache_dir)]) == 2
    err = capsys.readouterr().err
    assert err == f"harness: error: {path}, line 5: " + err.split(", line 5: ", 1)[1]
    assert path.read_bytes() == damaged and len(damaged.splitlines()) == 8


@pytest.mark.parametrize("name,damage", [("generations.jsonl", "torn_last"), ("verdicts.jsonl", "middle"),
                                         ("summary.json", "truncated"), ("samples.jsonl", "binary")])
def test_a_damaged_run_is_not_packed_into_a_bundle(name, damage, pristine, tmp_path):
    """`harness submit` packs runs with leaderboard.bundle.write_bundle: a damaged file, even a torn last line
    (which `leaderboard add` would refuse), stops it naming the file, and no bundle is written."""
    from harness.files import CorruptFile
    from leaderboard.bundle import BundleRun, write_bundle

    run_dir = shutil.copytree(pristine, tmp_path / "runs" / pristine.name)
    path = run_dir / name
    path.write_bytes(DAMAGES[damage](path.read_bytes()))
    out = tmp_path / "bundle.zip"
    with pytest.raises(CorruptFile) as info:
        write_bundle(out, [BundleRun(run_dir, "defense")], {}, None)
    assert str(info.value).startswith(str(path)) and not out.exists()
