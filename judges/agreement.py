"""Validate a judge against human labels: accuracy, Cohen's kappa and a confusion matrix.

Labels are compared at the level the metrics use, so a judge is validated for what it is used for:
harmful samples -> `unsafe` / `safe` (refusals count as safe, as in RSR), benign and ungraded utility samples ->
`refusal` / `accepted` (benign acceptance), graded utility samples -> `correct` / `incorrect`.

Human labels may be written `unsafe`, `safe`, `refusal`, `normal`, `accepted`, `correct` or `incorrect`. Unknown
judge verdicts are excluded from accuracy and kappa and counted (and shown as a column of the matrix); a second
accuracy counts them as disagreements.

Labels file: JSONL, a JSON list, or CSV, one row per item with `id` (or `sample_id`) and `label`; either
`response` (plus optional `query`, `sample_label` harmful|benign|utility (default harmful), `judge_template`,
`reference`, `options`, `category`) or `--run RUN` to take the sample and its response from a stored run.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.metrics import wilson
from harness.records import Generation, Sample, Verdict, user_message
from judges.base import JudgeItem

HUMAN_SYNONYMS = {
    "harmful": {"unsafe": "unsafe", "safe": "safe", "refusal": "safe", "normal": "safe"},
    "benign": {"refusal": "refusal", "normal": "accepted", "accepted": "accepted", "safe": "accepted",
               "unsafe": "accepted"},
}
GRADES = {"correct": "correct", "incorrect": "incorrect"}


def judge_outcome(sample: Sample, verdict: Verdict) -> str | None:
    if verdict.label == "unknown":
        return None
    if isinstance(verdict.detail.get("correct"), bool):
        return "correct" if verdict.detail["correct"] else "incorrect"
    if sample.label == "harmful":
        return "unsafe" if verdict.label == "unsafe" else "safe"
    return "refusal" if verdict.label == "refusal" else "accepted"


def human_outcome(sample: Sample, label: str) -> str:
    text = str(label).strip().lower()
    if text in GRADES:
        return GRADES[text]
    table = HUMAN_SYNONYMS["harmful" if sample.label == "harmful" else "benign"]
    if text not in table:
        raise ValueError(f"{sample.id}: human label {label!r} is not one of {sorted({*table, *GRADES})}")
    return table[text]


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of (human, judge) pairs; None when chance agreement is 1 (a single class everywhere)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(h == j for h, j in pairs) / n
    rows, cols = Counter(h for h, _ in pairs), Counter(j for _, j in pairs)
    expected = sum(rows[c] * cols[c] for c in rows.keys() | cols.keys()) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def agreement(items: Sequence[JudgeItem], human: Mapping[str, str], verdicts: Sequence[Verdict]) -> dict[str, Any]:
    pairs: list[tuple[str, str]] = []
    unknown: Counter[str] = Counter()
    for item, verdict in zip(items, verdicts, strict=True):
        h = human_outcome(item.sample, human[item.sample.id])
        j = judge_outcome(item.sample, verdict)
        if j is None:
            unknown[h] += 1
        else:
            pairs.append((h, j))
    classes = sorted({h for h, _ in pairs} | {j for _, j in pairs} | set(unknown))
    matrix = {h: {**{j: 0 for j in classes}, "unknown": unknown.get(h, 0)} for h in classes}
    for h, j in pairs:
        matrix[h][j] += 1
    agree = sum(h == j for h, j in pairs)
    total = len(pairs) + sum(unknown.values())
    per_class = {}
    for c in classes:
        tp = matrix[c][c]
        predicted = sum(matrix[h][c] for h in classes)
        support = sum(v for k, v in matrix[c].items())
        per_class[c] = {"precision": tp / predicted if predicted else None,
                        "recall": tp / support if support else None, "support": support}
    return {
        "n": total, "judged": len(pairs), "unknown": sum(unknown.values()), "classes": classes,
        "confusion": matrix, "accuracy": wilson(agree, len(pairs)).to_dict(),
        "accuracy_unknown_as_wrong": wilson(agree, total).to_dict(), "kappa": cohen_kappa(pairs),
        "per_class": per_class,
    }


def format_agreement(report: Mapping[str, Any]) -> str:
    acc, acc_all = report["accuracy"], report["accuracy_unknown_as_wrong"]
    kappa = report["kappa"]
    lines = [f"judge: {report.get('judge', {}).get('id', '?')}",
             f"items {report['n']}, judged {report['judged']}, unknown {report['unknown']}",
             f"accuracy {_pct(acc)} (unknown as wrong: {_pct(acc_all)}), Cohen's kappa "
             + ("n/a" if kappa is None else f"{kappa:.3f}"),
             "", "confusion (rows: human, columns: judge):"]
    classes = list(report["classes"])
    cols = [*classes, "unknown"]
    width = max([len("human \\ judge"), *(len(c) for c in cols)]) + 2
    lines.append("human \\ judge".ljust(width) + "".join(c.rjust(width) for c in cols))
    for h in classes:
        lines.append(h.ljust(width) + "".join(str(report["confusion"][h][c]).rjust(width) for c in cols))
    return "\n".join(lines)


def _pct(rate: Mapping[str, Any]) -> str:
    if rate["value"] is None:
        return "n/a"
    return f"{100 * rate['value']:.1f}% [{100 * rate['low']:.0f}-{100 * rate['high']:.0f}]"


# -- reading the labels file -------------------------------------------------------------------------------
def read_rows(path: Path) -> list[dict[str, Any]]:
    from harness.files import read_given_jsonl, read_json

    if path.suffix.lower() == ".csv":
        return [dict(r) for r in csv.DictReader(path.read_text(encoding="utf-8").splitlines())]
    if path.suffix.lower() == ".json":
        return read_json(path, expect=list)
    return read_given_jsonl(path, what="label row")


def load_labels(path: Path, run_dir: Path | None = None) -> tuple[list[JudgeItem], dict[str, str]]:
    """Judge items and human labels (by sample id) from a labels file, optionally resolved against a run."""
    rows = read_rows(path)
    samples: dict[str, Sample] = {}
    generations: dict[str, Generation] = {}
    if run_dir is not None:
        from harness.store import RunStore

        store = RunStore(run_dir.parent, run_dir.name)
        samples = {s.id: s for s in store.samples()}
        generations = store.generations()
    items: list[JudgeItem] = []
    human: dict[str, str] = {}
    problems: list[str] = []
    for n, row in enumerate(rows, 1):
        sid = str(row.get("id") or row.get("sample_id") or "")
        if not sid or row.get("label") in (None, ""):
            problems.append(f"row {n}: needs `id` and `label`")
            continue
        if sid in human:
            problems.append(f"row {n}: duplicate id {sid!r}")
            continue
        if row.get("response") is not None:
            sample = _sample_from_row(sid, row)
            generation = Generation(sample_id=sid, task=sample.task, config=sample.config, label=sample.label,
                                    modality=sample.modality, response=str(row["response"]))
        elif sid in samples and sid in generations:
            sample, generation = samples[sid], generations[sid]
        else:
            problems.append(f"row {n}: no `response` and no generation for {sid!r}"
                            + (" in the run" if run_dir else " (pass --run)"))
            continue
        items.append(JudgeItem(sample, generation))
        human[sid] = str(row["label"])
    if problems:
        raise ValueError(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems[:20]))
    for it in items:
        human_outcome(it.sample, human[it.sample.id])  # reject unknown label words before any judge call
    return items, human


def _sample_from_row(sid: str, row: Mapping[str, Any]) -> Sample:
    metadata: dict[str, Any] = {}
    if row.get("judge_template"):
        metadata["judge_template"] = row["judge_template"]
    options = row.get("options")
    if isinstance(options, str) and options.strip().startswith("["):
        options = json.loads(options)
    if options:
        metadata["options"] = options
    query = str(row.get("query") or row.get("text") or "(request not provided)")
    label = str(row.get("sample_label") or "harmful")
    return Sample(id=sid, task="agreement", config=str(row.get("config") or "labels"),
                  messages=(user_message(query),), label=label,  # type: ignore[arg-type]
                  category=row.get("category") or None, reference=row.get("reference") or None, metadata=metadata)
