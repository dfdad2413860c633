"""The leaderboard table: one row per model x defense, cells per benchmark x modality group.

Trust rule: a number in the main table was computed by the task's reference judge on the task's reference
version. The reference judge is the one the standard pins for the task (else the judge most runs of the task
carry); the reference version is the task's current card (else the version most runs used). Contributions that
break the rule are not dropped: they form rows of a separate table that says why.

Rates are pooled over the summary rows of a cell (counts summed, then a Wilson 95 % interval), so a cell with
more samples weighs more; unknown verdicts stay out of every denominator and are shown as their own rate.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from harness.metrics import Rate, wilson
from harness.records import canonical_json
from leaderboard.overhead import Overhead, entry_overhead
from leaderboard.runs import RunRecord, SkippedRun

MODALITY_GROUPS: tuple[str, ...] = ("text", "image", "audio", "video", "mixed")
GROUP_LABELS: Mapping[str, str] = MappingProxyType({"text": "text", "image": "image", "audio": "audio",
                                                   "video": "video", "mixed": "2+ media"})
METRICS: tuple[str, ...] = ("asr", "bar", "utility", "unknown")
METRIC_LABELS: Mapping[str, str] = MappingProxyType({"asr": "ASR", "bar": "benign acceptance",
                                                    "utility": "utility (accuracy)", "unknown": "unknown rate"})


def modality_group(modality: str) -> str:
    """`text` for text only; the one medium for text + one medium; `mixed` for two or more media."""
    media = set(modality.split("+")) - {"text", ""}
    if not media:
        return "text"
    return media.pop() if len(media) == 1 else "mixed"


# -- pooled statistics -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellStats:
    asr: Rate  # unsafe / judged, harmful rows
    bar: Rate  # not refused / judged, benign and utility rows
    utility: Rate  # correct / graded, utility rows graded by an MCQ judge
    unknown: Rate  # unknown / all verdicts
    n: int  # samples selected

    def metric(self, name: str) -> Rate:
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, **{m: self.metric(m).to_dict() for m in METRICS}}


def pool(rows: Iterable[Mapping[str, Any]]) -> CellStats:
    asr_k = asr_n = bar_k = bar_n = acc_k = acc_n = unk = total = n = 0
    for r in rows:
        n += int(r.get("n") or 0)
        unknown = int(r.get("unknown") or 0)
        unk += unknown
        total += int(r.get("judged") or 0) + unknown
        if r.get("label") == "harmful" and r.get("asr"):
            asr_k += int(r["asr"]["k"])
            asr_n += int(r["asr"]["n"])
        elif r.get("label") != "harmful" and r.get("benign_acceptance"):
            bar_k += int(r["benign_acceptance"]["k"])
            bar_n += int(r["benign_acceptance"]["n"])
        if r.get("accuracy"):
            acc_k += int(r["accuracy"]["k"])
            acc_n += int(r["accuracy"]["n"])
    return CellStats(wilson(asr_k, asr_n), wilson(bar_k, bar_n), wilson(acc_k, acc_n), wilson(unk, total), n)


# -- references --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskReference:
    task: str
    judge: str | None
    judge_basis: str  # why this judge is the reference
    judge_label: str
    version: str | None
    version_basis: str


def compute_references(
    records: Sequence[RunRecord],
    pinned: Mapping[str, str],
    judge_labels: Mapping[str, str],
    current_version: Callable[[str], str | None],
    standard_version: str,
) -> dict[str, TaskReference]:
    """Reference judge and version per task seen in `records`."""
    judges_by_task: dict[str, Counter[str]] = defaultdict(Counter)
    defaults_by_task: dict[str, Counter[str]] = defaultdict(Counter)
    versions_by_task: dict[str, Counter[str]] = defaultdict(Counter)
    descriptions: dict[str, Mapping[str, Any]] = {}
    for rec in records:
        for task in _spec_tasks(rec):
            versions_by_task[task["name"]][str(task["version"])] += 1
        for judge, task in {(r.get("judge"), r.get("task")) for r in summary_rows(rec)}:
            judges_by_task[task][judge] += 1
            if judge == rec.summary.get("default_judge"):
                defaults_by_task[task][judge] += 1
        descriptions.update(rec.judges())
    refs: dict[str, TaskReference] = {}
    for task in sorted(set(judges_by_task) | set(versions_by_task)):
        if task in pinned:
            judge: str | None = pinned[task]
            jbasis = f"pinned by the leaderboard standard v{standard_version}"
        elif judges_by_task[task]:
            counts = judges_by_task[task]
            judge = max(counts, key=lambda j: (counts[j], defaults_by_task[task][j], j))
            jbasis = f"carried by {counts[judge]} of {sum(1 for r in records if _has_task(r, task))} runs"
        else:
            judge, jbasis = None, "no judged rows"
        card = current_version(task)
        if card is not None:
            version, vbasis = card, "current task card"
        elif versions_by_task[task]:
            counts = versions_by_task[task]
            version = max(counts, key=lambda v: (counts[v], v))
            vbasis = f"used by {counts[version]} of {sum(counts.values())} runs (task not registered here)"
        else:
            version, vbasis = None, "unknown"
        refs[task] = TaskReference(task, judge, jbasis, judge_label(judge, judge_labels, descriptions), version, vbasis)
    return refs


def judge_label(judge: str | None, labels: Mapping[str, str], descriptions: Mapping[str, Mapping[str, Any]]) -> str:
    """A human label: the standard's label, else the judge's own, flagging the keyword judge as a proxy."""
    if judge is None:
        return "no judge"
    if judge in labels:
        return labels[judge]
    desc = descriptions.get(judge) or {}
    if desc.get("label"):
        return str(desc["label"])
    if desc.get("name") == "keyword" or judge.startswith("keyword@"):
        return "keyword refusal proxy: cheap and offline, NOT a safety classifier"
    return str(desc.get("name") or judge.split("@")[0])


def _spec_tasks(rec: RunRecord) -> list[Mapping[str, Any]]:
    """The run's tasks (validated by runs.summary_problem), then its lm-eval utility tasks (`harness run
    --utility`), named `lm-eval:TASK` with lm-eval's task version."""
    tasks = list(rec.spec["tasks"])
    seen = {t["name"] for t in tasks}
    for entry in rec.summary.get("utility") or ():
        if entry["task"] not in seen:
            seen.add(entry["task"])
            tasks.append({"name": entry["task"], "version": str(entry.get("version", ""))})
    return tasks


def summary_rows(rec: RunRecord) -> list[Mapping[str, Any]]:
    """The summary's rows plus its lm-eval utility results as utility rows of the pseudo-judge `lm-eval`."""
    from harness.utility import leaderboard_rows

    return [*rec.summary["rows"], *leaderboard_rows(rec.summary)]


def _has_task(rec: RunRecord, task: str) -> bool:
    return any(t["name"] == task for t in _spec_tasks(rec))


# -- contributions and entries -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Contribution:
    """One task of one run, with the summary rows of the judge used for it."""

    run: RunRecord
    task: str
    version: str
    judge: str
    rows: tuple[Mapping[str, Any], ...]
    reasons: tuple[str, ...]  # empty: conforms to the references

    @property
    def verdicts(self) -> int:
        return sum(int(r.get("judged") or 0) + int(r.get("unknown") or 0) for r in self.rows)


def contributions(rec: RunRecord, refs: Mapping[str, TaskReference]) -> list[Contribution]:
    out: list[Contribution] = []
    rows_by: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in summary_rows(rec):
        rows_by[(str(r.get("task")), str(r.get("judge")))].append(r)
    default = rec.summary.get("default_judge")
    for t in _spec_tasks(rec):
        task, version = str(t["name"]), str(t["version"])
        ref = refs[task]
        available = sorted(j for (tk, j) in rows_by if tk == task)
        if not available:
            continue
        judge = ref.judge if ref.judge in available else (default if default in available else available[0])
        reasons: list[str] = []
        if judge != ref.judge:
            reasons.append(f"{task}: judged by {judge}, not by the reference judge {ref.judge} ({ref.judge_basis})")
        if version != ref.version:
            reasons.append(f"{task}: task version {version}, the reference is version {ref.version} "
                           f"({ref.version_basis})")
        out.append(Contribution(rec, task, version, judge, tuple(rows_by[(task, judge)]), tuple(reasons)))
    return out


@dataclass
class Entry:
    model: str
    model_revision: str | None
    defense: str
    defense_params: dict[str, Any]
    contributions: list[Contribution]  # one per task
    reasons: tuple[str, ...] = ()
    cells: dict[tuple[str, str], CellStats] = field(default_factory=dict)
    overall: CellStats | None = None
    overhead: Overhead | None = None

    @property
    def runs(self) -> list[RunRecord]:
        seen: dict[str, RunRecord] = {}
        for c in self.contributions:
            seen.setdefault(c.run.key, c.run)
        return list(seen.values())

    @property
    def tasks(self) -> list[str]:
        return [c.task for c in self.contributions]

    @property
    def judges(self) -> dict[str, str]:
        return {c.task: c.judge for c in self.contributions}

    @property
    def versions(self) -> dict[str, str]:
        return {c.task: c.version for c in self.contributions}

    @property
    def status(self) -> str:
        """The defense's status label (e.g. `reconstructed`), from its runs."""
        for run in self.runs:
            status = run.defense_info.get("status")
            if status:
                return str(status)
        return ""

    @property
    def params_text(self) -> str:
        return ", ".join(f"{k}={canonical_json(v)}" for k, v in sorted(self.defense_params.items()))


@dataclass(frozen=True)
class Column:
    task: str
    group: str

    @property
    def key(self) -> str:
        return f"{self.task}/{self.group}"

    @property
    def label(self) -> str:
        return GROUP_LABELS.get(self.group, self.group)


@dataclass
class LeaderboardTable:
    columns: list[Column]
    main: list[Entry]
    separate: list[Entry]
    references: dict[str, TaskReference]
    standard_version: str
    skipped: list[SkippedRun] = field(default_factory=list)
    every_column: list[Column] = field(default_factory=list)  # main and separate rows

    def all_columns(self) -> list[Column]:
        return self.every_column or self.columns

    def benchmarks(self) -> list[tuple[str, list[Column]]]:
        """Columns grouped by benchmark, for the two-level table header."""
        groups: dict[str, list[Column]] = {}
        for col in self.columns:
            groups.setdefault(col.task, []).append(col)
        return list(groups.items())


def build_table(
    records: Sequence[RunRecord],
    refs: Mapping[str, TaskReference],
    *,
    task_order: Sequence[str] = (),
    standard_version: str = "",
    skipped: Sequence[SkippedRun] = (),
) -> LeaderboardTable:
    main_parts: dict[tuple, list[Contribution]] = defaultdict(list)
    separate_parts: dict[tuple, list[Contribution]] = defaultdict(list)
    for rec in records:
        key = _entry_key(rec)
        for c in contributions(rec, refs):
            (separate_parts[(key, c.judge)] if c.reasons else main_parts[key]).append(c)
    main = [_entry(key, parts, records) for key, parts in main_parts.items()]
    separate = [_entry(key, group, records) for (key, _judge), parts in separate_parts.items()
                for group in _split_versions(parts)]
    main.sort(key=_default_order)
    separate.sort(key=lambda e: (e.model, e.defense, e.reasons))
    order = {t: i for i, t in enumerate(task_order)}
    return LeaderboardTable(_columns(main, order), main, separate, dict(refs), standard_version, list(skipped),
                            _columns(main + separate, order))


def _columns(entries: Sequence[Entry], order: Mapping[str, int]) -> list[Column]:
    cols = {Column(task, group) for e in entries for (task, group) in e.cells}
    return sorted(cols, key=lambda c: (order.get(c.task, len(order)), c.task, MODALITY_GROUPS.index(c.group)
                                       if c.group in MODALITY_GROUPS else len(MODALITY_GROUPS)))


def _split_versions(parts: Sequence[Contribution]) -> list[list[Contribution]]:
    """Separate rows of one model x defense x judge: runs of one task on two versions go to two rows."""
    groups: list[tuple[dict[str, str], list[Contribution]]] = []
    for c in parts:
        for versions, members in groups:
            if versions.get(c.task, c.version) == c.version:
                versions[c.task] = c.version
                members.append(c)
                break
        else:
            groups.append(({c.task: c.version}, [c]))
    return [members for _, members in groups]


def _entry_key(rec: RunRecord) -> tuple:
    spec = rec.spec
    # The fingerprint keeps runs of other weights at the same model path apart (never merged into one entry).
    return (rec.model, spec.get("model_revision"), rec.defense, canonical_json(spec.get("defense_params") or {}),
            spec.get("model_fingerprint"))


def _entry(key: tuple, parts: Sequence[Contribution], records: Sequence[RunRecord]) -> Entry:
    chosen: dict[str, Contribution] = {}
    for c in parts:  # one contribution per task: the most verdicts, then the most recent run
        best = chosen.get(c.task)
        if best is None or (c.verdicts, _finished(c.run)) > (best.verdicts, _finished(best.run)):
            chosen[c.task] = c
    contribs = sorted(chosen.values(), key=lambda c: c.task)
    model, revision, defense, params, _ = key
    entry = Entry(model, revision, defense, json.loads(params), contribs,
                  reasons=tuple(sorted({r for c in contribs for r in c.reasons})))
    _fill_stats(entry)
    entry.overhead = entry_overhead(entry.defense, entry.runs, records)
    return entry


def _fill_stats(entry: Entry) -> None:
    by_cell: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for c in entry.contributions:
        for r in c.rows:
            by_cell[(c.task, modality_group(str(r.get("modality") or "text")))].append(r)
    entry.cells = {cell: pool(rows) for cell, rows in by_cell.items()}
    entry.overall = pool(r for c in entry.contributions for r in c.rows)


def _finished(rec: RunRecord) -> str:
    sessions = rec.info.get("sessions") or []
    return str(sessions[-1].get("finished", "")) if sessions and isinstance(sessions[-1], Mapping) else ""


def _default_order(e: Entry) -> tuple:
    asr = e.overall.asr.value if e.overall and e.overall.asr.value is not None else 2.0
    return (e.model, e.defense != "none", asr, e.defense)
