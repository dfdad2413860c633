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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.records import RUN_SPEC_SCHEMA, Generation, RunSpec, Sample, Verdict, content_hash
from harness.store import check_run_files
from harness.summary import SUMMARY_SCHEMA

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


class BundleRejected(ValueError):
    """The bundle fails verification; the message is the precise reason."""


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
    runs = {rid: _load_run(rid, files) for rid in run_ids}
    _check_manifest_runs(manifest, runs)
    warnings: list[str] = []
    _check_judges_and_versions(manifest, runs, pinned, current_version)
    _check_suite(manifest, runs, standard, allow_nonstandard, warnings)
    _check_defense(manifest, runs)
    _check_contract(manifest, files)
    if expected_samples is not None:
        for run in runs.values():
            _check_samples(run, expected_samples(run.spec))
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


@dataclass
class _Run:
    run_id: str
    spec: RunSpec
    summary: dict[str, Any]
    info: dict[str, Any]
    samples: list[Sample]
    generations: dict[str, Generation]
    verdicts: dict[str, dict[str, Verdict]]


def _jsonl(name: str, data: bytes) -> Iterable[dict[str, Any]]:
    """Strict JSONL: every line complete and a JSON object (a submitted file has no excuse for a torn tail)."""
    if data and not data.endswith(b"\n"):
        raise BundleRejected(f"{name}: the last line is incomplete")
    for i, raw in enumerate(data.split(b"\n")[:-1], 1):
        if not raw.strip():
            continue
        yield _json(f"{name} line {i}", raw)


def _json(name: str, data: bytes) -> dict[str, Any]:
    """One JSON object; `name` says where it came from in the refusal message."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise BundleRejected(f"{name} is not JSON") from None
    if not isinstance(obj, dict):
        raise BundleRejected(f"{name} is not a JSON object")
    return obj


def _load_run(run_id: str, files: Mapping[str, bytes]) -> _Run:
    base = f"runs/{run_id}"
    spec_d = _json(f"{base}/spec.json", files[f"{base}/spec.json"])
    if spec_d.get("schema") != RUN_SPEC_SCHEMA:
        raise BundleRejected(f"{base}/spec.json schema is {spec_d.get('schema')!r}, expected {RUN_SPEC_SCHEMA!r}")
    summary = _json(f"{base}/summary.json", files[f"{base}/summary.json"])
    if summary.get("schema") != SUMMARY_SCHEMA:
        raise BundleRejected(f"{base}/summary.json schema is {summary.get('schema')!r}, expected {SUMMARY_SCHEMA!r}")
    try:
        spec = RunSpec.from_dict(spec_d)
        samples = [Sample.from_dict(d) for d in _jsonl(f"{base}/samples.jsonl", files[f"{base}/samples.jsonl"])]
        generations: dict[str, Generation] = {}
        for d in _jsonl(f"{base}/generations.jsonl", files[f"{base}/generations.jsonl"]):
            generations.setdefault(d["sample_id"], Generation.from_dict(d))
        verdicts: dict[str, dict[str, Verdict]] = {}
        for d in _jsonl(f"{base}/verdicts.jsonl", files[f"{base}/verdicts.jsonl"]):
            verdicts.setdefault(d["judge"], {}).setdefault(d["sample_id"], Verdict.from_dict(d))
    except BundleRejected:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleRejected(f"run {run_id}: a record does not match its schema "
                             f"({type(exc).__name__}: {exc})") from None
    if spec.run_id != run_id:
        raise BundleRejected(f"run {run_id}: spec.json describes run {spec.run_id} (the spec was edited)")
    if summary.get("run_id") != run_id:
        raise BundleRejected(f"run {run_id}: summary.json belongs to run {summary.get('run_id')}")
    _check_summary(run_id, spec, summary, samples, generations, verdicts)
    info = _json(f"{base}/run_info.json", files[f"{base}/run_info.json"])
    return _Run(run_id, spec, summary, info, samples, generations, verdicts)


def _check_summary(run_id: str, spec: RunSpec, summary: Mapping[str, Any], samples: Sequence[Sample],
                   generations: Mapping[str, Generation], verdicts: Mapping[str, Mapping[str, Verdict]]) -> None:
    """The summary's rows must be what its records give: an edited rate or a dropped verdict shows here."""
    from harness.summary import summarise

    default = summary.get("default_judge")
    if default not in verdicts:
        raise BundleRejected(f"run {run_id}: no verdicts from its default judge {default}")
    again = summarise(spec, samples, generations, verdicts, summary.get("judges") or {}, str(default))
    theirs = summary.get("rows")
    mine = json.loads(json.dumps(again["rows"]))
    if not isinstance(theirs, list) or len(theirs) != len(mine):
        raise BundleRejected(f"run {run_id}: summary.json has {len(theirs) if isinstance(theirs, list) else 'no'} "
                             f"rows, its records give {len(mine)}")
    for m, t in zip(mine, theirs):
        # Compare the fields the summary carries: summaries of older harness versions lack later fields.
        if not isinstance(t, dict) or any(t[k] != m[k] for k in t if k in m) or not {"judge", "task", "n"} <= set(t):
            raise BundleRejected(f"run {run_id}: summary.json does not match its samples, generations and verdicts "
                                 f"(first difference: {m['judge']} {m['task']}/{m['config']}/{m['label']})")


def _check_manifest_runs(manifest: Mapping[str, Any], runs: Mapping[str, _Run]) -> None:
    listed = {r.get("run_id"): r for r in manifest.get("runs") or () if isinstance(r, dict)}
    if set(listed) != set(runs):
        raise BundleRejected(f"the manifest lists runs {sorted(map(str, listed))}, the bundle holds {sorted(runs)}")
    model = manifest.get("model")
    for run_id, run in runs.items():
        if run.spec.model != model:
            raise BundleRejected(f"run {run_id} is of model {run.spec.model}, the manifest says {model}")
        role = listed[run_id].get("role")
        if role not in ("defense", "baseline"):
            raise BundleRejected(f"run {run_id}: role {role!r} is neither defense nor baseline")
        if role == "baseline" and run.spec.defense != "none":
            raise BundleRejected(f"baseline run {run_id} runs defense {run.spec.defense}, not `none`")


def _check_judges_and_versions(manifest: Mapping[str, Any], runs: Mapping[str, _Run], pinned: PinnedJudges,
                               current_version: Callable[[str], str | None]) -> None:
    claimed_judges = manifest.get("judges") or {}
    claimed_versions = manifest.get("task_versions") or {}
    for run_id, run in sorted(runs.items()):
        default = run.summary.get("default_judge")
        for task in run.spec.tasks:
            want = pinned.for_task(task.name)
            if want is None:
                raise BundleRejected(f"run {run_id}: task {task.name} has no pinned judge in the leaderboard "
                                     "standard, so it cannot be submitted")
            if default != want:
                raise BundleRejected(f"run {run_id}: task {task.name} was judged by {default}; the pinned judge is "
                                     f"{want} ({pinned.labels.get(want, '')})")
            if claimed_judges.get(task.name) != want:
                raise BundleRejected(f"the manifest names judge {claimed_judges.get(task.name)} for task "
                                     f"{task.name}; the pinned judge is {want}")
            current = current_version(task.name)
            if current is None:
                raise BundleRejected(f"run {run_id}: task {task.name} is not known to this leaderboard")
            if task.version != current:
                raise BundleRejected(f"run {run_id}: task {task.name} is version {task.version}; the current task "
                                     f"card is version {current}")
            if str(claimed_versions.get(task.name)) != current:
                raise BundleRejected(f"the manifest says task {task.name} is version {claimed_versions.get(task.name)};"
                                     f" the current task card is version {current}")
        ids = [s.id for s in run.samples if s.id in run.generations]
        unjudged = [i for i in ids if i not in run.verdicts.get(str(default), {})]
        if unjudged:
            raise BundleRejected(f"run {run_id}: {len(unjudged)} generation(s) have no verdict from the pinned "
                                 f"judge {default} (e.g. {unjudged[0]})")


def _check_suite(manifest: Mapping[str, Any], runs: Mapping[str, _Run], standard: Standard,
                 allow_nonstandard: bool, warnings: list[str]) -> None:
    std = manifest.get("standard") or {}
    if str(std.get("version")) != standard.version:
        warnings.append(f"the bundle was made for standard v{std.get('version')}, this leaderboard uses "
                        f"v{standard.version} (judges and task versions were checked against v{standard.version})")
    name = std.get("suite")
    if name not in standard.suites:
        raise BundleRejected(f"the bundle names suite {name!r}, not one of {sorted(standard.suites)}")
    suite = standard.suites[name]
    problems: list[str] = []
    for role in ("defense", "baseline"):
        role_runs = [r for r in runs.values() if _role(manifest, r.run_id) == role]
        selectors = sorted(str(_selector(t)) for r in role_runs for t in r.spec.tasks)
        if role_runs and selectors != sorted(suite.tasks):
            problems.append(f"{role} runs cover {selectors}, the suite has {sorted(suite.tasks)}")
        if role == "defense" and not role_runs:
            problems.append("no defense run")
    for run in runs.values():
        for key, want, got in (("limit", suite.limit, run.spec.limit),
                               ("max_new_tokens", suite.max_new_tokens, run.spec.generation.max_new_tokens),
                               ("seed", suite.seed, run.spec.seed),
                               ("utility tasks", suite.utility, run.spec.utility)):
            if want != got:
                problems.append(f"run {run.run_id} used {key} {got}, the suite uses {want}")
    if problems:
        message = f"not the standard suite {name}: " + "; ".join(problems)
        if not allow_nonstandard:
            raise BundleRejected(message + " (a leaderboard may accept it with --allow-nonstandard)")
        warnings.append(message)


def _role(manifest: Mapping[str, Any], run_id: str) -> str:
    for r in manifest.get("runs") or ():
        if isinstance(r, dict) and r.get("run_id") == run_id:
            return str(r.get("role"))
    return ""


def _selector(task: Any) -> str:
    return f"{task.name}:{','.join(task.configs)}" if task.configs else task.name


def _check_defense(manifest: Mapping[str, Any], runs: Mapping[str, _Run]) -> None:
    claimed = manifest["defense"]
    for run in runs.values():
        if _role(manifest, run.run_id) != "defense":
            continue
        if run.spec.defense != claimed.get("name"):
            raise BundleRejected(f"run {run.run_id} runs defense {run.spec.defense}, the manifest says "
                                 f"{claimed.get('name')}")
        info = run.info.get("defense")
        recorded = info.get("source_hash") if isinstance(info, dict) else None
        if recorded != claimed.get("source_hash"):
            raise BundleRejected(f"run {run.run_id}: the defense source hash is {recorded}, the manifest says "
                                 f"{claimed.get('source_hash')}")
        if content_hash(run.spec.defense_params) != content_hash(claimed.get("params") or {}):
            raise BundleRejected(f"run {run.run_id}: defense parameters differ from the manifest's")


def _check_samples(run: _Run, expected: Sequence[Sample]) -> None:
    """The run's samples must be the ones its spec selects from this machine's task data (same ids, labels and
    text; media paths differ between machines and are not compared)."""
    mine = {s.id: s for s in run.samples}
    want = {s.id: s for s in expected}
    if set(mine) != set(want):
        missing, extra = sorted(set(want) - set(mine)), sorted(set(mine) - set(want))
        raise BundleRejected(f"run {run.run_id}: its samples are not the selection its spec makes from the task "
                             f"data here ({len(missing)} missing, e.g. {missing[:1]}; {len(extra)} unexpected, "
                             f"e.g. {extra[:1]})")
    for sid, s in want.items():
        if (mine[sid].label, mine[sid].text, mine[sid].modality) != (s.label, s.text, s.modality):
            raise BundleRejected(f"run {run.run_id}: sample {sid} differs from the task data here")


def _check_contract(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> None:
    contract = manifest.get("contract") or {}
    if contract.get("skipped"):
        raise BundleRejected("the defense contract checks were skipped (--skip-contract-checks); run "
                             "`harness submit` without it")
    if CONTRACT not in files:
        raise BundleRejected(f"the bundle has no {CONTRACT} (defense contract report)")
    report = _json(CONTRACT, files[CONTRACT])
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
            target = tmp / (name[len("runs/"):] if name.startswith("runs/") else name)
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
