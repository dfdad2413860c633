"""Malformed input across every command: exit 2, one line naming the problem and the file or option, no traceback,
no model loaded where the input can be checked before, and nothing stored changed.

Each case runs the real command line (`harness.cli.main`). The only stand-in is a tripwire on model loading that
fails the case if a model would load, so a late failure cannot pass as an early one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main
from tests.support.runs import make_run, synthetic_samples


class ModelLoaded(BaseException):
    """Raised by the tripwire: escapes every `except Exception` so a case cannot swallow it."""


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    expect: str  # a fragment the one-line message must contain (case-insensitive)
    loads_model: bool = False  # True where the problem can only show once the model is there


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """Real files the cases point at: a finished run, broken YAML/JSON/CSV files, a plain file where a folder goes."""
    runs = tmp_path / "runs"
    run = make_run(runs, synthetic_samples(4, 2, 0))
    other = make_run(runs, synthetic_samples(4, 2, 0), model="other-model")
    (tmp_path / "bad.yaml").write_text("layers: [1,\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "bad.json").write_text('{"a": ')
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "bad.csv").write_text("wrong_column\nx\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "garbage.zip").write_bytes(b"\x00\x01 not a zip")
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "broken-rows.yaml").write_text(
        "name: broken-rows\nversion: '1'\nsource:\n  route: local\n  local: rows\n"
        "  data_files: {test: rows.jsonl}\n  split: test\nloader: records\nfields:\n  id: id\n  text: text\n"
        "label: harmful\nconfigurations:\n  all: {}\n")
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "rows.jsonl").write_text(
        '{"id": "1", "text": "hi"}\n{"id": "2", "text": \n{"id": "3", "text": "ho"}\n')
    return {"tmp": tmp_path, "runs": runs, "run": run, "other": other}


def _cases(w: dict[str, Path]) -> list[Case]:
    t, runs, run, other = str(w["tmp"]), str(w["runs"]), w["run"].name, w["other"].name
    out = str(w["tmp"] / "out")
    tiny = ("--model", "tiny-omni", "--cache-dir", t + "/cache")
    r = ("run", *tiny, "--tasks", "smoke", "--out", out)
    return [
        # run: names
        Case("run unknown defense", (*r, "--defense", "regapp"), "regap"),
        Case("run defense module missing", (*r, "--defense", "nosuchmod:Cls"), "nosuchmod"),
        Case("run defense class missing", (*r, "--defense", "json:NoSuchClass"), "NoSuchClass"),
        Case("run unknown task", ("run", *tiny, "--tasks", "smokee", "--out", out), "smoke"),
        Case("run unknown configuration", ("run", *tiny, "--tasks", "smoke:nosuchcfg", "--out", out), "nosuchcfg"),
        Case("run unknown judge", (*r, "--judge", "keywrd"), "keyword"),
        Case("run unknown model dir", ("run", "--model", t + "/no/such/model", "--tasks", "smoke", "--out", out),
             "no/such/model"),
        Case("run unknown backend", (*r, "--backend", "nosuch-backend"), "nosuch-backend"),
        # run: devices and numbers
        Case("run cuda without gpu", (*r, "--device", "cuda"), "--device"),
        Case("run bogus device", (*r, "--device", "toaster"), "--device"),
        Case("run limit 0", (*r, "--limit", "0"), "--limit"),
        Case("run limit negative", (*r, "--limit", "-3"), "--limit"),
        Case("run batch size 0", (*r, "--batch-size", "0"), "--batch-size"),
        Case("run max new tokens 0", (*r, "--max-new-tokens", "0"), "--max-new-tokens"),
        Case("run dtype unknown", (*r, "--dtype", "float8"), "--dtype"),
        Case("run limit not a number", (*r, "--limit", "ten"), "--limit"),
        # run: defense parameters
        Case("run defense param bad yaml", (*r, "--defense", "refusal-steer", "--defense-param", "layers=[1,"),
             "layers"),
        Case("run defense param no equals", (*r, "--defense", "refusal-steer", "--defense-param", "layers"),
             "key=value"),
        Case("run defense config missing", (*r, "--defense", "regap", "--defense-config", t + "/none.yaml"),
             "none.yaml"),
        Case("run defense config bad yaml", (*r, "--defense", "regap", "--defense-config", t + "/bad.yaml"),
             "bad.yaml"),
        Case("run defense config not mapping", (*r, "--defense", "regap", "--defense-config", t + "/list.yaml"),
             "list.yaml"),
        Case("run refusal-steer layers abc", (*r, "--defense", "refusal-steer", "--defense-param", "layers=abc"),
             "layers"),
        Case("run regap unknown param", (*r, "--defense", "regap", "--defense-param", "lambda_strnog=2"),
             "lambda_strnog"),
        Case("run judge param no equals", (*r, "--judge-param", "oops"), "key=value"),
        # run: output and data
        Case("run out is a file", ("run", *tiny, "--tasks", "smoke", "--out", t + "/afile"), "afile"),
        Case("run broken data row", ("run", *tiny, "--tasks", "broken-rows", "--include-path", t + "/cards",
                                     "--data-root", t, "--out", out), "rows.jsonl"),
        # score / compare / judge-agreement
        Case("score missing run", ("score", "nosuchrun", "--runs", runs, "--judge", "keyword"), "nosuchrun"),
        Case("score unknown judge", ("score", run, "--runs", runs, "--judge", "keywrd"), "keyword"),
        Case("score judge config bad yaml", ("score", run, "--runs", runs, "--judge", "keyword", "--judge-config",
                                             t + "/bad.yaml"), "bad.yaml"),
        Case("compare missing run", ("compare", run, "nosuchrun", "--runs", runs), "nosuchrun"),
        Case("compare runs folder missing", ("compare", run, other, "--runs", t + "/nowhere"), "nowhere"),
        Case("agreement labels missing", ("judge-agreement", "--labels", t + "/nolabels.jsonl", "--judge", "keyword"),
             "nolabels.jsonl"),
        Case("agreement labels broken", ("judge-agreement", "--labels", t + "/bad.json", "--judge", "keyword"),
             "bad.json"),
        # build / tasks
        Case("build source missing", ("build", "advbench-omni", "--source", t + "/no.csv", "--out", out), "no.csv"),
        Case("build source wrong column", ("build", "advbench-omni", "--source", t + "/bad.csv", "--out", out),
             "bad.csv"),
        Case("build source empty", ("build", "advbench-omni", "--source", t + "/empty.csv", "--out", out),
             "empty.csv"),
        Case("tasks check unknown", ("tasks", "check", "advbench-omnii"), "advbench-omni"),
        Case("tasks download unknown", ("tasks", "download", "vlgaurd", "--data-root", t), "vlguard"),
        # organism
        Case("organism eval unknown", ("organism", "eval", "orgnism"), "organism"),
        Case("organism card missing dir", ("organism", "card", t + "/nocard"), "nocard"),
        Case("organism train out is a file", ("organism", "train", "--out", t + "/afile", "--steps", "1"), "afile"),
        Case("organism train steps 0", ("organism", "train", "--out", out, "--steps", "0"), "--steps"),
        # calibrate / train / check-defense
        Case("calibrate unknown defense", ("calibrate", *tiny, "--defense", "regapp"), "regap"),
        Case("calibrate unknown data", ("calibrate", *tiny, "--defense", "regap", "--data", "nosuchtask"),
             "nosuchtask"),
        Case("calibrate bad param", ("calibrate", *tiny, "--defense", "regap", "--defense-param", "tau=[1,"), "tau"),
        Case("train omnisteer unknown data", ("train", "omnisteer", *tiny, "--data", "nosuchtask"), "nosuchtask"),
        Case("train omnisteer unknown preset", ("train", "omnisteer", *tiny, "--data", "smoke", "--preset", "nope"),
             "nope"),
        Case("check-defense unknown", ("check-defense", "regapp", *tiny), "regap"),
        Case("check-defense config bad yaml", ("check-defense", "regap", *tiny, "--config", t + "/bad.yaml"),
             "bad.yaml"),
        # leaderboard / submit
        Case("leaderboard build runs missing", ("leaderboard", "build", "--runs", t + "/nowhere", "--out", out),
             "nowhere"),
        Case("leaderboard build out is a file", ("leaderboard", "build", "--runs", runs, "--out", t + "/afile"),
             "afile"),
        Case("leaderboard add bundle missing", ("leaderboard", "add", t + "/nobundle.zip", "--runs", runs),
             "nobundle.zip"),
        Case("leaderboard add bundle garbage", ("leaderboard", "add", t + "/garbage.zip", "--runs", runs),
             "garbage.zip"),
        Case("submit defense module missing", ("submit", "--defense", "nosuchmod:Cls", "--model", "tiny-omni",
                                               "--out", out + "/b.zip", "--runs", runs), "nosuchmod"),
        Case("submit unknown suite", ("submit", "--defense", "self-reminder", "--model", "tiny-omni", "--suite",
                                      "nosuite", "--out", out + "/b.zip", "--runs", runs), "nosuite"),
        Case("list unknown kind", ("list", "defences"), "defenses"),
        Case("unknown command", ("rnu",), "run"),
    ]


def _case_ids() -> list[str]:
    return [c.name for c in _cases({k: Path("/x") for k in ("tmp", "runs", "run", "other")})]


@pytest.mark.parametrize("index", range(len(_case_ids())), ids=_case_ids())
def test_malformed_input(index: int, world: dict[str, Path], capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    case = _cases(world)[index]
    monkeypatch.delenv("HARNESS_DEBUG", raising=False)
    if not case.loads_model:
        from harness.backends.hf_common import HFBackend

        def tripwire(self, *a, **k):
            raise ModelLoaded(case.name)

        monkeypatch.setattr(HFBackend, "load", tripwire)
    before = _files(world["tmp"])
    try:
        rc = main(list(case.argv))
    except SystemExit as exc:  # argparse
        rc = exc.code
    except ModelLoaded:
        pytest.fail(f"{case.name}: a model was loaded before the problem was reported")
    err = capsys.readouterr().err.strip()
    assert rc == 2, f"{case.name}: exit {rc}, stderr: {err!r}"
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"{case.name}: {len(lines)} lines: {err!r}"
    assert case.expect.lower() in lines[0].lower(), f"{case.name}: {lines[0]!r} does not name {case.expect!r}"
    after = _files(world["tmp"])
    changed = {k for k in before if before[k] != after.get(k)}
    assert not changed, f"{case.name}: stored files changed or vanished: {sorted(changed)}"



def test_a_second_run_on_a_locked_run_stops_at_once(world: dict[str, Path], capsys, monkeypatch) -> None:
    """Two runs on one folder: the second is refused first thing, before its own pre-flight and any model load."""
    import subprocess
    import sys

    from harness.backends.hf_common import HFBackend

    def tripwire(self, *a, **k):
        raise ModelLoaded("load")

    monkeypatch.setattr(HFBackend, "load", tripwire)
    out = world["tmp"] / "out"
    argv = ["run", "--model", "tiny-omni", "--cache-dir", str(world["tmp"] / "cache"), "--tasks", "smoke",
            "--limit", "1", "--out", str(out)]
    with pytest.raises(ModelLoaded):  # the first run gets as far as loading the model: its folder exists
        main(argv)
    capsys.readouterr()
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); "
         "l.acquire(); print('held', flush=True); time.sleep(120)", str(run_dir / ".lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = _files(out)
        calls = []
        import harness.run.runner as runner

        monkeypatch.setattr(runner, "load_samples", lambda *a, **k: calls.append(a) or [])
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "being written by another process" in err[0], err
        assert not calls, "the second run loaded its samples before finding the lock"
        assert _files(out) == before
    finally:
        holder.kill()
        holder.wait()


def test_an_overlap_error_suggests_only_what_the_defense_accepts() -> None:
    """refusal-steer has no allow_overlap parameter, so its overlap error must not suggest one; ReGap's does."""
    from defenses.toolkit.splits import CalibrationOverlapError, check_disjoint
    from harness.records import Sample, user_message

    s = [Sample(id="t/text/1", task="t", config="text", label="harmful", messages=(user_message("x"),),
                source_id="1")]
    with pytest.raises(CalibrationOverlapError) as plain:
        check_disjoint(s, s, what="refusal-steer calibration data 't'")
    assert "allow_overlap" not in str(plain.value)
    with pytest.raises(CalibrationOverlapError) as offered:
        check_disjoint(s, s, what="ReGap data 't'", override="allow_overlap=true")
    assert "allow_overlap=true" in str(offered.value)
