"""What a submission bundle's runs must be: each run's records read strictly and its summary re-derived from them
(`load_run`), the runs against the manifest, the pinned judges, the task cards and the standard suite
(`check_runs`), and the samples against this machine's task data (`check_samples`). `leaderboard.bundle` reads the
zip and calls these in order; the first reason found is the refusal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.records import RUN_SPEC_SCHEMA, Generation, RunSpec, Sample, Verdict, content_hash
from harness.summary import SUMMARY_SCHEMA

if TYPE_CHECKING:
    from leaderboard.standard import PinnedJudges, Standard


class BundleRejected(ValueError):
    """The bundle fails verification; the message is the precise reason."""


@dataclass
class RunRecords:
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
        yield member_json(f"{name} line {i}", raw)


def member_json(name: str, data: bytes) -> dict[str, Any]:
    """One JSON object; `name` says where it came from in the refusal message."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise BundleRejected(f"{name} is not JSON") from None
    if not isinstance(obj, dict):
        raise BundleRejected(f"{name} is not a JSON object")
    return obj


def load_run(run_id: str, files: Mapping[str, bytes]) -> RunRecords:
    base = f"runs/{run_id}"
    spec_d = member_json(f"{base}/spec.json", files[f"{base}/spec.json"])
    if spec_d.get("schema") != RUN_SPEC_SCHEMA:
        raise BundleRejected(f"{base}/spec.json schema is {spec_d.get('schema')!r}, expected {RUN_SPEC_SCHEMA!r}")
    summary = member_json(f"{base}/summary.json", files[f"{base}/summary.json"])
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
    info = member_json(f"{base}/run_info.json", files[f"{base}/run_info.json"])
    return RunRecords(run_id, spec, summary, info, samples, generations, verdicts)


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


def check_runs(manifest: Mapping[str, Any], runs: Mapping[str, RunRecords], *, standard: Standard,
               pinned: PinnedJudges, current_version: Callable[[str], str | None], allow_nonstandard: bool,
               warnings: list[str]) -> None:
    """The runs against the manifest (model, roles), the pinned judges and current task cards, the standard suite
    (a departure is a warning with `allow_nonstandard`) and the claimed defense."""
    _check_manifest_runs(manifest, runs)
    _check_judges_and_versions(manifest, runs, pinned, current_version)
    _check_suite(manifest, runs, standard, allow_nonstandard, warnings)
    _check_defense(manifest, runs)


def _check_manifest_runs(manifest: Mapping[str, Any], runs: Mapping[str, RunRecords]) -> None:
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


def _check_judges_and_versions(manifest: Mapping[str, Any], runs: Mapping[str, RunRecords], pinned: PinnedJudges,
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


def _check_suite(manifest: Mapping[str, Any], runs: Mapping[str, RunRecords], standard: Standard,
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


def _check_defense(manifest: Mapping[str, Any], runs: Mapping[str, RunRecords]) -> None:
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


def check_samples(run: RunRecords, expected: Sequence[Sample]) -> None:
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
