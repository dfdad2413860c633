"""The run store: one directory per run id, append-only JSONL, nothing finished is ever lost.

    runs/<run-id>/
        spec.json          the RunSpec (its content hash is the run id)
        samples.jsonl      the selected samples (prompts and media references), rewritten at each start
        generations.jsonl  one Generation per finished sample, appended and flushed as soon as it exists
        verdicts.jsonl     one Verdict per (sample, judge id), appended likewise
        summary.json       rates per task x configuration x label x judge (schema: harness/summary.py)
        run_info.json      provenance: backend, defense, versions, timings
        judge_usage.json   calls, tokens and cost of each judge's scorings
        .lock              held while a process writes the run

A process killed with SIGKILL loses at most the batch it was generating: every earlier line was flushed to the
OS. A torn last line (killed mid-write) is moved into a side file `<name>.torn-<UTC time>` on the next open and
reported; a damaged line anywhere else, or a damaged JSON file, stops with `CorruptFile` naming the file and line
and changes nothing (harness/files.py). The lock is an OS file lock, so it is released when the holding process
dies, and a second live process writing the same run is refused.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.files import (CorruptFile, Notify, check_jsonl, iter_jsonl, notify_stderr, read_json,
                           read_json_if_exists, repair_torn_tail)
from harness.records import Generation, RunSpec, Sample, Verdict

APPENDED = ("generations.jsonl", "verdicts.jsonl")
CHECKED_JSON = ("run_info.json", "summary.json", "judge_usage.json")  # checked at open, before any work


class RunLockedError(RuntimeError):
    """Another live process is writing this run."""


class SpecMismatchError(RuntimeError):
    """The run directory holds a different spec than the one being run (a hash collision or a hand edit)."""


class RunStore:
    def __init__(self, root: Path | str, run_id: str, *, notify: Notify = notify_stderr) -> None:
        self.root = Path(root)
        self.run_id = run_id
        self.dir = self.root / run_id
        self.notify = notify
        self._lock: Any = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def _acquire(self) -> Any:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.dir / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise RunLockedError(
                f"run {self.run_id} is being written by another process (lock {self.dir / '.lock'}); "
                "wait for it to finish or stop it first"
            ) from None
        return lock

    def _check_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"runs folder {self.root} is a file, not a folder")

    def check_unlocked(self) -> None:
        """Fail at once when another process holds this run (so a second command stops before its own pre-flight);
        creates nothing. `open` takes the lock for real."""
        self._check_root()
        if (self.dir / ".lock").exists():
            self._acquire().release()

    def open(self, spec: RunSpec | None = None) -> RunStore:
        """Create the directory, take the write lock, and record or check the spec."""
        self._check_root()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = self._acquire()
        try:
            if spec is not None:
                self._record_spec(spec)
            self._check_files()
        except BaseException:
            self.close()
            raise
        return self

    def _check_files(self) -> None:
        """Fail now, before any model loads, on a damaged file; set aside a torn last line (we hold the lock)."""
        for name in APPENDED:
            report = repair_torn_tail(self.dir / name)
            if report:
                self.notify(report)
        for name in CHECKED_JSON:
            read_json_if_exists(self.dir / name, hint=_HINTS[name])

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunStore:
        return self if self._lock is not None else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record_spec(self, spec: RunSpec) -> None:
        path = self.dir / "spec.json"
        if path.exists():
            old = _spec_from(path)
            if old.run_id != spec.run_id:
                raise SpecMismatchError(f"{path} holds run {old.run_id}, not {spec.run_id}")
            if old.to_dict() == spec.to_dict():
                return
        write_json_atomic(path, spec.to_dict())

    # -- reading -------------------------------------------------------------------------------------------
    def spec(self) -> RunSpec:
        return _spec_from(self.dir / "spec.json")

    def samples(self) -> list[Sample]:
        return _samples(self.dir)

    def generations(self) -> dict[str, Generation]:
        out: dict[str, Generation] = {}
        for g in iter_jsonl(self.dir / "generations.jsonl", Generation.from_dict, what="generation"):
            out.setdefault(g.sample_id, g)  # first record wins
        return out

    def verdicts(self, judge_id: str | None = None) -> dict[str, dict[str, Verdict]]:
        """judge id -> sample id -> verdict (the first verdict per pair)."""
        out: dict[str, dict[str, Verdict]] = {}
        for v in iter_jsonl(self.dir / "verdicts.jsonl", Verdict.from_dict, what="verdict"):
            if judge_id is None or v.judge == judge_id:
                out.setdefault(v.judge, {}).setdefault(v.sample_id, v)
        return out

    def read_json(self, name: str) -> Any:
        """A JSON object file of the run, None when absent; CorruptFile when damaged."""
        return read_json_if_exists(self.dir / name, hint=_HINTS.get(name, ""))

    # -- writing -------------------------------------------------------------------------------------------
    def _require_lock(self) -> None:
        if self._lock is None:
            raise RuntimeError("open the run store before writing to it")

    def write_samples(self, samples: Iterable[Sample]) -> None:
        self._require_lock()
        write_jsonl_atomic(self.dir / "samples.jsonl", (s.to_dict() for s in samples))

    def append_generations(self, generations: Iterable[Generation]) -> None:
        self._require_lock()
        append_jsonl(self.dir / "generations.jsonl", (g.to_dict() for g in generations))

    def append_verdicts(self, verdicts: Iterable[Verdict]) -> None:
        self._require_lock()
        append_jsonl(self.dir / "verdicts.jsonl", (v.to_dict() for v in verdicts))

    def write_json(self, name: str, obj: Any) -> None:
        self._require_lock()
        write_json_atomic(self.dir / name, obj)


def list_runs(root: Path | str) -> list[Path]:
    """Run directories (those holding a spec.json) under `root`, sorted by name."""
    root = Path(root)
    return sorted(p.parent for p in root.glob("*/spec.json")) if root.is_dir() else []


def check_run_files(run_dir: Path | str, *, strict: bool = True, fast: bool = False, samples: bool = True) -> None:
    """Read every stored file of a run through the careful reader; CorruptFile on the first damaged one.

    `strict` also refuses a torn last line of the appended files (right for a run about to be shipped); `fast`
    checks only the shape of the JSONL lines unless it is off (see harness.files.check_jsonl), for callers that
    pass the JSONL on unparsed, over many large runs (the leaderboard build); `samples=False` leaves
    samples.jsonl to the caller (runs of one suite share it: check each distinct content once).
    """
    run_dir = Path(run_dir)
    _spec_from(run_dir / "spec.json")
    if not samples:
        pass
    elif fast:
        check_samples_fast(run_dir)
    else:
        _samples(run_dir)
    for name, decode, what in (("generations.jsonl", Generation.from_dict, "generation"),
                               ("verdicts.jsonl", Verdict.from_dict, "verdict")):
        if fast:
            check_jsonl(run_dir / name, strict=strict)
        else:
            for _ in iter_jsonl(run_dir / name, decode, what=what, strict=strict):
                pass
    for name in CHECKED_JSON:
        read_json_if_exists(run_dir / name, hint=_HINTS[name])


# -- JSONL and JSON helpers --------------------------------------------------------------------------------
def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSONL file (a torn last line skipped; CorruptFile on a damaged line before it)."""
    return iter_jsonl(path)


def append_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if not data:
        return
    # One write per call, then flush to the OS: a SIGKILL afterwards cannot lose these lines.
    with path.open("a", encoding="utf-8") as f:
        f.write(data)
        f.flush()


_HINTS = {
    "spec.json": "the run id is the hash of this file: restore it from a backup or start the run afresh in a new "
                 "--out folder",
    "summary.json": "it is derived from the run's records: move it away and run `harness score RUN --judge J` to "
                    "rebuild it",
    "run_info.json": "it holds the run's provenance: restore it from a backup, or move it away (a resumed run "
                     "writes a new one)",
    "judge_usage.json": "it counts the judge calls of earlier scorings: restore it from a backup, or move it away "
                        "(the count starts again)",
}


_SAMPLES_HINT = "it is rewritten by `harness run` with the run's options"


def _samples(run_dir: Path) -> list[Sample]:
    # Written atomically, so even a torn last line is damage, not a crash.
    path, hint = run_dir / "samples.jsonl", _SAMPLES_HINT
    samples = list(iter_jsonl(path, Sample.from_dict, what="sample", strict=True, torn_hint=hint))
    _check_some_samples(run_dir, bool(samples))
    return samples


def check_samples_fast(run_dir: Path | str) -> None:
    """samples.jsonl by line shape (see check_run_files)."""
    path = Path(run_dir) / "samples.jsonl"
    check_jsonl(path, strict=True, torn_hint=_SAMPLES_HINT)
    _check_some_samples(Path(run_dir), path.exists() and bool(path.read_bytes().strip()))


def _check_some_samples(run_dir: Path, any_samples: bool) -> None:
    gens = run_dir / "generations.jsonl"
    if not any_samples and gens.exists() and gens.stat().st_size:
        raise CorruptFile(run_dir / "samples.jsonl", "no samples, but generations.jsonl holds records",
                          hint=_SAMPLES_HINT)


def _spec_from(path: Path) -> RunSpec:
    data = read_json(path, hint=_HINTS["spec.json"])
    try:
        return RunSpec.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFile(path, f"not a run spec ({exc})", hint=_HINTS["spec.json"]) from None


def write_json_atomic(path: Path, obj: Any) -> None:
    _write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    _write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
