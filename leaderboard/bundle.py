"""Submission bundles: a zip of run directories plus `manifest.json`, written by `harness submit` and checked by
`harness leaderboard add` before anything is ingested.

    manifest.json                   schema, versions, standard + suite, model, defense (+ source hash), runs,
                                    judge per task, task versions, record schemas, contract outcome, and the
                                    sha256 of every other file in the zip
    contract.json                   the defense contract report
    runs/<run-id>/spec.json ...     the run store files (see harness/store.py)

The manifest hashes catch a file changed after submission; they are not a signature (anyone can rewrite the
manifest), so verification also re-derives what it can from the data itself: the run id from spec.json, every
summary row from the JSONL records, the judge of every verdict, and the task versions against this checkout's
task cards.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.records import RUN_SPEC_SCHEMA, RunSpec, Sample
from harness.store import check_run_files
from harness.summary import SUMMARY_SCHEMA
from leaderboard.bundle_checks import BundleRejected, check_runs, check_samples, load_run, member_json

if TYPE_CHECKING:
    from harness.registry import Registries
    from leaderboard.standard import PinnedJudges, Standard

BUNDLE_SCHEMA = "harness.submission/1"
MANIFEST = "manifest.json"
CONTRACT = "contract.json"
REQUIRED_RUN_FILES: tuple[str, ...] = ("spec.json", "samples.jsonl", "generations.jsonl", "verdicts.jsonl",
                                       "summary.json", "run_info.json")
OPTIONAL_RUN_FILES: tuple[str, ...] = ("judge_usage.json",)
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 8 * 2**30
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed member times: the same runs give the same zip bytes
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,160}$")

def record_schemas() -> dict[str, str]:
    return {"runspec": RUN_SPEC_SCHEMA, "summary": SUMMARY_SCHEMA}


# -- writing -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BundleRun:
    path: Path
    role: str  # "defense" or "baseline"


def write_bundle(out: Path, runs: Sequence[BundleRun], manifest: Mapping[str, Any],
                 contract: Mapping[str, Any] | None) -> Path:
    """Zip the runs with a manifest (fields of `manifest` plus `runs`, `files` and `schemas`)."""
    members: dict[str, bytes] = {}
    run_entries = []
    for run in runs:
        run_id = run.path.name
        for name in REQUIRED_RUN_FILES + OPTIONAL_RUN_FILES:
            path = run.path / name
            if path.exists():
                members[f"runs/{run_id}/{name}"] = path.read_bytes()
            elif name in REQUIRED_RUN_FILES:
                raise FileNotFoundError(f"run {run.path} has no {name}; finish the run first")
        check_run_files(run.path)  # a damaged run is refused here, naming the file, not by the leaderboard later
        spec = json.loads(members[f"runs/{run_id}/spec.json"])
        summary = json.loads(members[f"runs/{run_id}/summary.json"])
        run_entries.append({"run_id": run_id, "role": run.role, "defense": spec["defense"],
                            "tasks": [{"name": t["name"], "version": str(t["version"])} for t in spec["tasks"]],
                            "judge": summary.get("default_judge")})
    if contract is not None:
        members[CONTRACT] = (json.dumps(contract, indent=2, sort_keys=True, default=str) + "\n").encode()
    full = {**manifest, "schema": BUNDLE_SCHEMA, "schemas": record_schemas(), "runs": run_entries,
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(members.items())}}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        manifest_bytes = (json.dumps(full, indent=2, sort_keys=True) + "\n").encode()
        for name, data in [(MANIFEST, manifest_bytes), *sorted(members.items())]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data)
    tmp.replace(out)
    return out


# -- verification ------------------------------------------------------------------------------------------
@dataclass
class VerifiedBundle:
    manifest: dict[str, Any]
    manifest_bytes: bytes  # as in the zip: ingested byte for byte
    submission_id: str
    files: dict[str, bytes]  # every member but the manifest, verified
    run_ids: list[str]
    warnings: list[str] = field(default_factory=list)


def check_member_name(name: str) -> None:
    """Refuse names that could land outside the extraction folder or mean different things on other systems."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise BundleRejected(f"unsafe path in the bundle: {name!r} (absolute, drive-qualified or with backslashes)")
    if any(p in ("..", ".", "") for p in name.rstrip("/").split("/")):
        raise BundleRejected(f"unsafe path in the bundle: {name!r} (path traversal)")


def read_members(path: Path) -> dict[str, bytes]:
    """All file members, after checking names, types, count and size (nothing is written anywhere)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleRejected(f"{path} is not a readable zip file: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise BundleRejected(f"the bundle has {len(infos)} members, more than {MAX_MEMBERS}")
        total = sum(i.file_size for i in infos)
        if total > MAX_TOTAL_BYTES:
            raise BundleRejected(f"the bundle unpacks to {total} bytes, more than {MAX_TOTAL_BYTES}")
        out: dict[str, bytes] = {}
        for info in infos:
            check_member_name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise BundleRejected(f"the bundle holds a symbolic link: {info.filename!r}")
            if info.is_dir():
                continue
            if info.filename in out:
                raise BundleRejected(f"the bundle holds {info.filename!r} twice")
            with zf.open(info) as f:
                data = f.read(info.file_size + 1)
            if len(data) != info.file_size:  # a lying size header (zip bomb or damage)
                raise BundleRejected(f"{info.filename}: size in the zip directory does not match its content")
            out[info.filename] = data
    return out


def verify_bundle(path: Path, *, standard: Standard, pinned: PinnedJudges,
                  current_version: Callable[[str], str | None], allow_nonstandard: bool = False,
                  expected_samples: Callable[[RunSpec], Sequence[Sample]] | None = None) -> VerifiedBundle:
    """Check a bundle completely; raise BundleRejected with the first reason found."""
    members = read_members(Path(path))
    if MANIFEST not in members:
        raise BundleRejected(f"the bundle has no {MANIFEST}")
    try:
        manifest = json.loads(members[MANIFEST])
    except ValueError as exc:
        raise BundleRejected(f"{MANIFEST} is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
        got = manifest.get("schema") if isinstance(manifest, dict) else type(manifest).__name__
        raise BundleRejected(f"{MANIFEST} schema is {got!r}; this leaderboard reads {BUNDLE_SCHEMA!r}")
    _check_manifest_shape(manifest)
    files = {k: v for k, v in members.items() if k != MANIFEST}
    _check_hashes(manifest, files)
    _check_schemas(manifest)
    run_ids = _check_layout(files)
    runs = {rid: load_run(rid, files) for rid in run_ids}
    warnings: list[str] = []
    check_runs(manifest, runs, standard=standard, pinned=pinned, current_version=current_version,
               allow_nonstandard=allow_nonstandard, warnings=warnings)
    _check_contract(manifest, files)
    if expected_samples is not None:
        for run in runs.values():
            check_samples(run, expected_samples(run.spec))
    return VerifiedBundle(manifest, members[MANIFEST], submission_id(manifest, members[MANIFEST]), files,
                          sorted(run_ids), warnings)


def submission_id(manifest: Mapping[str, Any], manifest_bytes: bytes) -> str:
    from harness.records import slug

    defense = manifest["defense"]["name"]
    return f"{slug(str(manifest.get('model', 'model')))}__{slug(str(defense))}__" \
           f"{hashlib.sha256(manifest_bytes).hexdigest()[:12]}"


_MANIFEST_FIELDS: tuple[tuple[str, type], ...] = (
    ("model", str), ("defense", dict), ("judges", dict), ("task_versions", dict), ("runs", list), ("standard", dict),
    ("contract", dict), ("files", dict), ("schemas", dict))


def _check_manifest_shape(manifest: Mapping[str, Any]) -> None:
    """Types of the fields verification reads, so a malformed manifest is refused rather than crashing."""
    for key, kind in _MANIFEST_FIELDS:
        if not isinstance(manifest.get(key), kind):
            raise BundleRejected(f"{MANIFEST}: `{key}` is missing or not a {kind.__name__}")
    defense = manifest["defense"]
    if not isinstance(defense.get("name"), str) or not isinstance(defense.get("params", {}), dict):
        raise BundleRejected(f"{MANIFEST}: `defense` needs a name and a params object")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in manifest["files"].items()):
        raise BundleRejected(f"{MANIFEST}: `files` must map file names to sha256 strings")


def _check_hashes(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> None:
    listed = manifest["files"]
    for name in sorted(listed):
        check_member_name(name)
        if name not in files:
            raise BundleRejected(f"file {name} is listed in the manifest but missing from the bundle")
    for name in sorted(files):
        if name not in listed:
            raise BundleRejected(f"file {name} is in the bundle but not in the manifest")
        actual = hashlib.sha256(files[name]).hexdigest()
        if actual != listed[name]:
            raise BundleRejected(f"file {name} was changed after the bundle was made: sha256 {actual[:16]}..., "
                                 f"the manifest says {str(listed[name])[:16]}...")


def _check_schemas(manifest: Mapping[str, Any]) -> None:
    mine = record_schemas()
    theirs = manifest.get("schemas") or {}
    for key, schema in mine.items():
        if theirs.get(key) != schema:
            raise BundleRejected(f"record schema mismatch: the bundle's {key} schema is {theirs.get(key)!r}, this "
                                 f"leaderboard reads {schema!r}")


def _check_layout(files: Mapping[str, bytes]) -> list[str]:
    run_files: dict[str, set[str]] = {}
    allowed = set(REQUIRED_RUN_FILES + OPTIONAL_RUN_FILES)
    for name in files:
        parts = name.split("/")
        if name == CONTRACT:
            continue
        if len(parts) != 3 or parts[0] != "runs" or parts[2] not in allowed or not _RUN_ID.match(parts[1]):
            raise BundleRejected(f"unexpected file in the bundle: {name!r}")
        run_files.setdefault(parts[1], set()).add(parts[2])
    if not run_files:
        raise BundleRejected("the bundle holds no runs")
    for run_id, names in sorted(run_files.items()):
        missing = [n for n in REQUIRED_RUN_FILES if n not in names]
        if missing:
            raise BundleRejected(f"run {run_id} lacks {', '.join(missing)}")
    return sorted(run_files)


def _check_contract(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> None:
    contract = manifest.get("contract") or {}
    if contract.get("skipped"):
        raise BundleRejected("the defense contract checks were skipped (--skip-contract-checks); run "
                             "`harness submit` without it")
    if CONTRACT not in files:
        raise BundleRejected(f"the bundle has no {CONTRACT} (defense contract report)")
    report = member_json(CONTRACT, files[CONTRACT])
    if report.get("passed") is not True or contract.get("passed") is not True:
        failed = [c.get("name", "?") for c in report.get("checks") or () if isinstance(c, dict) and not c.get("passed")]
        raise BundleRejected("the defense failed its contract checks" + (f": {', '.join(failed)}" if failed else ""))


# -- ingestion ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ingested:
    submission_id: str
    path: Path
    run_ids: list[str]
    warnings: list[str]
    already: bool = False


def ingest(verified: VerifiedBundle, runs_dir: Path) -> Ingested:
    """Write the verified files under RUNS/submissions/<submission id>/ (atomically: all or nothing)."""
    import shutil
    import tempfile

    from leaderboard.runs import SUBMISSIONS_DIR

    root = Path(runs_dir) / SUBMISSIONS_DIR
    dest = root / verified.submission_id
    if dest.exists():
        return Ingested(verified.submission_id, dest, verified.run_ids, verified.warnings, already=True)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".incoming-"))
    try:
        for name, data in verified.files.items():
            target = tmp / (name.removeprefix("runs/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (tmp / MANIFEST).write_bytes(verified.manifest_bytes)
        tmp.replace(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return Ingested(verified.submission_id, dest, verified.run_ids, verified.warnings)


def _selected_samples(select: Callable[[RunSpec], list[Sample]], spec: RunSpec) -> list[Sample]:
    try:
        return select(spec)
    except (OSError, ValueError, KeyError) as exc:
        raise BundleRejected(f"cannot re-select the samples of {spec.run_id} from the task data here: {exc}") from None


def add_bundle(path: Path, runs_dir: Path, *, standard: Standard, registries: Registries,
               allow_nonstandard: bool = False,
               select_samples: Callable[[RunSpec], list[Sample]] | None = None) -> Ingested:
    """Verify a bundle against the standard and this checkout's task cards, then ingest it. With `select_samples`
    (a run spec -> the samples this machine's task data give it; the application passes its sample loader) the
    samples are also re-selected and compared."""
    from leaderboard.standard import card_versions, pinned_judges

    pinned = pinned_judges(standard, registries)
    expected = None
    if select_samples is not None:
        from functools import partial

        expected = partial(_selected_samples, select_samples)
    verified = verify_bundle(path, standard=standard, pinned=pinned, current_version=card_versions(registries),
                             allow_nonstandard=allow_nonstandard, expected_samples=expected)
    return ingest(verified, runs_dir)
