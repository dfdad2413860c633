"""The run store: one directory per run id, append-only JSONL, nothing finished is ever lost.

    runs/<run-id>/
        spec.json          the RunSpec (its content hash is the run id)
        samples.jsonl      the selected samples (prompts and media references), rewritten at each start
        generations.jsonl  one Generation per finished sample, appended and flushed as soon as it exists
        verdicts.jsonl     one Verdict per (sample, judge id), appended likewise
        summary.json       rates per task x configuration x label x judge (schema: harness/summary.py)
        run_info.json      provenance: backend, defense, versions, timings
        .lock              held while a process writes the run

A process killed with SIGKILL loses at most the batch it was generating: every earlier line was flushed to the
OS. A torn last line (killed mid-write) is dropped on the next open. The lock is an OS file lock, so it is
released when the holding process dies, and a second live process writing the same run is refused.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.records import Generation, RunSpec, Sample, Verdict


class RunLockedError(RuntimeError):
    """Another live process is writing this run."""


class SpecMismatchError(RuntimeError):
    """The run directory holds a different spec than the one being run (a hash collision or a hand edit)."""


class RunStore:
    def __init__(self, root: Path | str, run_id: str) -> None:
        self.root = Path(root)
        self.run_id = run_id
        self.dir = self.root / run_id
        self._lock: Any = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def open(self, spec: RunSpec | None = None) -> RunStore:
        """Create the directory, take the write lock, and record or check the spec."""
        from filelock import FileLock, Timeout

        self.dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.dir / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise RunLockedError(
                f"run {self.run_id} is being written by another process (lock {self.dir / '.lock'}); "
                "wait for it to finish or stop it first"
            ) from None
        self._lock = lock
        if spec is not None:
            self._record_spec(spec)
        for name in ("generations.jsonl", "verdicts.jsonl"):
            _drop_torn_tail(self.dir / name)
        return self

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
            old = RunSpec.from_dict(json.loads(path.read_text()))
            if old.run_id != spec.run_id:
                raise SpecMismatchError(f"{path} holds run {old.run_id}, not {spec.run_id}")
            if old.to_dict() == spec.to_dict():
                return
        write_json_atomic(path, spec.to_dict())

    # -- reading -------------------------------------------------------------------------------------------
    def spec(self) -> RunSpec:
        return RunSpec.from_dict(json.loads((self.dir / "spec.json").read_text()))

    def samples(self) -> list[Sample]:
        return [Sample.from_dict(d) for d in read_jsonl(self.dir / "samples.jsonl")]

    def generations(self) -> dict[str, Generation]:
        out: dict[str, Generation] = {}
        for d in read_jsonl(self.dir / "generations.jsonl"):
            out.setdefault(d["sample_id"], Generation.from_dict(d))  # first record wins
        return out

    def verdicts(self, judge_id: str | None = None) -> dict[str, dict[str, Verdict]]:
        """judge id -> sample id -> verdict (the first verdict per pair)."""
        out: dict[str, dict[str, Verdict]] = {}
        for d in read_jsonl(self.dir / "verdicts.jsonl"):
            if judge_id is None or d["judge"] == judge_id:
                out.setdefault(d["judge"], {}).setdefault(d["sample_id"], Verdict.from_dict(d))
        return out

    def read_json(self, name: str) -> Any:
        path = self.dir / name
        return json.loads(path.read_text()) if path.exists() else None

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


# -- JSONL and JSON helpers --------------------------------------------------------------------------------
def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Complete lines only: a torn last line (no newline, or not JSON) is skipped."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            line = raw.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                break


def append_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if not data:
        return
    # One write per call, then flush to the OS: a SIGKILL afterwards cannot lose these lines.
    with path.open("a", encoding="utf-8") as f:
        f.write(data)
        f.flush()


def _drop_torn_tail(path: Path) -> None:
    """Truncate a file to its last complete, parseable line (the tail of a write cut by a kill)."""
    if not path.exists():
        return
    good = 0
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            if raw.strip():
                try:
                    json.loads(raw)
                except json.JSONDecodeError:
                    break
            good += len(raw)
    if good != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good)


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
