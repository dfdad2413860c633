"""lm-eval utility results in a run folder and in `summary.json`: where they live, how they are read into summary
entries (with Wilson intervals for 0/1 metrics) and how the leaderboard shows them. Pure reading, no lm-eval import:
the runner writes these files (harness.run.lm_eval_utility), the summary and the leaderboard read them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.metrics import wilson

UTILITY_DIR = "lm_eval"
JUDGE = "lm-eval"  # the judge id of utility rows in the leaderboard: lm-eval's own metric did the grading
TASK_PREFIX = "lm-eval:"
BINARY_METRICS = ("acc", "exact_match", "acc_norm")  # 0/1 per item: a count and a Wilson interval make sense


def task_dir(run_dir: Path, task: str) -> Path:
    return Path(run_dir) / UTILITY_DIR / re.sub(r"[^A-Za-z0-9_.-]", "_", task)


# -- reading (no lm-eval import) ------------------------------------------------------------------------------
def utility_section(run_dir: Path, tasks: Sequence[str]) -> list[dict[str, Any]]:
    """One entry per subtask x metric of the finished tasks, in the order the run names them."""
    out: list[dict[str, Any]] = []
    for task in tasks:
        path = task_dir(run_dir, task) / "results.json"
        if path.exists():
            out.extend(_entries(task, json.loads(path.read_text(encoding="utf-8"))))
    return out


def _entries(task: str, res: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for subtask, metrics in (res.get("results") or {}).items():
        if subtask not in (res.get("configs") or {}):  # a group: its subtasks have their own entries
            continue
        n = int(((res.get("n-samples") or {}).get(subtask) or {}).get("effective") or 0)
        config = (res.get("configs") or {}).get(subtask) or {}
        for key, value in metrics.items():
            metric, _, flt = key.partition(",")
            if not flt or metric.endswith("_stderr") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            stderr = metrics.get(f"{metric}_stderr,{flt}")
            entry: dict[str, Any] = {
                "task": TASK_PREFIX + subtask, "requested": task, "metric": metric, "filter": flt,
                "value": float(value), "stderr": float(stderr) if isinstance(stderr, (int, float)) else None,
                "n": n, "version": str((res.get("versions") or {}).get(subtask, "")), "modality": _modality(config),
                "rate": None,
            }
            if metric in BINARY_METRICS and 0.0 <= value <= 1.0 and n:
                entry["rate"] = wilson(round(float(value) * n), n).to_dict()
            out.append(entry)
    return out


def _modality(config: Mapping[str, Any]) -> str:
    media = [kind for kind, key in (("image", "doc_to_image"), ("audio", "doc_to_audio")) if config.get(key)]
    return "+".join(sorted({*media, "text"}))


def primary(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Per subtask, the entry the leaderboard shows: the first 0/1 metric (acc, then exact_match, acc_norm)."""
    best: dict[str, Mapping[str, Any]] = {}
    for e in entries:
        if e.get("rate") is None or e.get("metric") not in BINARY_METRICS:
            continue
        have = best.get(e["task"])
        if have is None or BINARY_METRICS.index(e["metric"]) < BINARY_METRICS.index(have["metric"]):
            best[e["task"]] = e
    return list(best.values())


def leaderboard_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The summary's utility entries as summary-style rows (label `utility`, `accuracy` = the Wilson rate) of
    the pseudo-judge `lm-eval`, so tables pool them like graded utility rows."""
    return [{"judge": JUDGE, "task": e["task"], "config": e["metric"], "modality": e.get("modality") or "text",
             "label": "utility", "n": int(e.get("n") or 0), "judged": 0, "unknown": 0, "accuracy": e["rate"],
             "asr": None, "benign_acceptance": None}
            for e in primary(summary.get("utility") or ())]


def format_utility(entries: Sequence[Mapping[str, Any]]) -> str:
    lines = ["utility (lm-eval):"]
    for e in entries:
        rate = e.get("rate")
        interval = f" [{100 * rate['low']:.0f}-{100 * rate['high']:.0f}]" if rate else ""
        err = f" +- {e['stderr']:.3f}" if e.get("stderr") is not None else ""
        lines.append(f"  {e['task']:40s} {e['metric']:12s} {e['value']:.3f}{err}{interval}  n={e['n']}")
    return "\n".join(lines)
