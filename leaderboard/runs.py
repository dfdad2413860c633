"""The runs a site is built from: local run directories and ingested submissions, read cheaply.

    RUNS/<run-id>/                          runs made on this machine (`harness run`)
    RUNS/submissions/<submission>/<run-id>/ runs ingested from a bundle (`harness leaderboard add`)

Only the small files are read here (spec, summary, run_info); the large JSONL files are passed to the run pages
as they are (see leaderboard/runpage.py), which is what keeps a build of hundreds of thousands of samples fast.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.files import read_json, read_json_if_exists
from harness.store import check_run_files, check_samples_fast

SUBMISSIONS_DIR = "submissions"
SAMPLES_FILE = "samples.jsonl"


@dataclass(frozen=True)
class RunRecord:
    key: str  # unique page name within the site (the run id, made unique when a run id occurs twice)
    path: Path
    run_id: str
    origin: str  # "local" or the submission id it came with
    spec: dict[str, Any]
    summary: dict[str, Any]
    info: dict[str, Any]  # run_info.json, {} when absent
    samples_sha256: str | None  # content hash of samples.jsonl: same hash, same samples

    @property
    def model(self) -> str:
        return str(self.spec.get("model", "?"))

    @property
    def defense(self) -> str:
        return str(self.spec.get("defense", "?"))

    @property
    def defense_info(self) -> dict[str, Any]:
        info = self.info.get("defense")
        return info if isinstance(info, dict) else {}

    def judges(self) -> dict[str, Any]:
        judges = self.summary.get("judges")
        return dict(judges) if isinstance(judges, dict) else {}


@dataclass(frozen=True)
class SkippedRun:
    path: Path
    reason: str


def discover(runs_dir: Path) -> list[tuple[Path, str]]:
    """(run directory, origin) for every directory holding a spec.json, local runs first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = [(p.parent, "local") for p in sorted(runs_dir.glob("*/spec.json"))
             if p.parent.name != SUBMISSIONS_DIR]
    found += [(p.parent, p.parent.parent.name) for p in sorted(runs_dir.glob(f"{SUBMISSIONS_DIR}/*/*/spec.json"))]
    return found


def load_runs(runs_dir: Path) -> tuple[list[RunRecord], list[SkippedRun]]:
    """Every run found, or SkippedRun with the reason for a run not (yet) usable for the table.

    A damaged file (a JSON file that does not parse, a JSONL line before the last that does not) raises
    CorruptFile naming it: a site that silently dropped that run, or showed part of its samples, would mislead.
    """
    records: list[RunRecord] = []
    skipped: list[SkippedRun] = []
    used: set[str] = set()
    checked_samples: set[str | None] = set()
    for path, origin in discover(runs_dir):
        # A torn last line (a run in progress) is fine: the page stops there. `fast`: the JSONL goes on unparsed.
        check_run_files(path, strict=False, fast=True, samples=False)
        samples_sha256 = file_sha256(path / SAMPLES_FILE)
        if samples_sha256 not in checked_samples:  # runs of one suite share their samples: check them once
            check_samples_fast(path)
            checked_samples.add(samples_sha256)
        try:
            summary = read_json(path / "summary.json", expect=None)
        except FileNotFoundError:
            skipped.append(SkippedRun(path, "no summary.json (the run was never judged)"))
            continue
        problem = summary_problem(summary)
        if problem:
            skipped.append(SkippedRun(path, f"summary.json: {problem}"))
            continue
        info = read_json_if_exists(path / "run_info.json") or {}
        run_id = str(summary.get("run_id") or path.name)
        records.append(RunRecord(
            key=_unique_key(run_id, origin, used), path=path, run_id=run_id, origin=origin, spec=summary["spec"],
            summary=summary, info=info, samples_sha256=samples_sha256,
        ))
    return records, skipped


_RATES = ("asr", "rsr", "benign_acceptance", "accuracy", "unknown_rate", "refusal_rate")


def summary_problem(summary: Any) -> str | None:
    """What makes a summary unusable for the table (the fields the table reads), or None."""
    if not isinstance(summary, dict) or not isinstance(summary.get("rows"), list):
        return "no rows"
    spec = summary.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("tasks"), list):
        return "no spec with tasks"
    if any(not isinstance(t, dict) or "name" not in t or "version" not in t for t in spec["tasks"]):
        return "a task without name or version"
    for row in summary["rows"]:
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("judge", "task", "label")):
            return "a row without judge, task or label"
        if not all(isinstance(row.get(k, 0), int) for k in ("n", "judged", "unknown")):
            return "a row with non-integer counts"
        for key in _RATES:
            rate = row.get(key)
            if rate is not None and not (isinstance(rate, dict) and isinstance(rate.get("k"), int)
                                         and isinstance(rate.get("n"), int)):
                return f"a row with a malformed {key}"
    for entry in summary.get("utility") or ():  # `harness run --utility`: lm-eval results
        if not isinstance(entry, dict) or not isinstance(entry.get("task"), str) or not isinstance(entry.get("n"), int):
            return "a utility entry without task or n"
        rate = entry.get("rate")
        if rate is not None and not (isinstance(rate, dict) and isinstance(rate.get("k"), int)
                                     and isinstance(rate.get("n"), int)):
            return "a utility entry with a malformed rate"
    return None


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _unique_key(run_id: str, origin: str, used: set[str]) -> str:
    """A file-name-safe page key; a run id seen twice (a baseline shipped by two submissions) gets a suffix."""
    base = _UNSAFE.sub("-", run_id).strip(".-")[:80] or "run"
    key = base
    if key in used:
        key = f"{base}--{hashlib.sha256(origin.encode()).hexdigest()[:8]}"
        n = 2
        while key in used:
            key = f"{base}--{n}"
            n += 1
    used.add(key)
    return key
