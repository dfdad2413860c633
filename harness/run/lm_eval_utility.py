"""Utility inside runs: `harness run --utility organism-utility` runs lm-eval tasks with the run's model and
defense, and keeps lm-eval's output in the run folder:

    <run>/lm_eval/<task>/results.json           lm-eval's results (written last: its presence marks the task done)
    <run>/lm_eval/<task>/samples_<subtask>.jsonl  lm-eval's per-sample logs

A task named on the command line may be a group; each of its subtasks becomes one entry of the summary's
`utility` section (`utility_section`): metric value, lm-eval's standard error, n and, for 0/1 metrics (acc,
exact_match), a Wilson 95 % interval, like every rate of the harness. The leaderboard reads the same entries
(`leaderboard_rows`) as utility rows of the pseudo-judge `lm-eval`. Reading never imports lm-eval.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.metrics import wilson

UTILITY_DIR = "lm_eval"
JUDGE = "lm-eval"  # the judge id of utility rows in the leaderboard: lm-eval's own metric did the grading
TASK_PREFIX = "lm-eval:"
BINARY_METRICS = ("acc", "exact_match", "acc_norm")  # 0/1 per item: a count and a Wilson interval make sense


def task_dir(run_dir: Path, task: str) -> Path:
    return Path(run_dir) / UTILITY_DIR / re.sub(r"[^A-Za-z0-9_.-]", "_", task)


def pending(run_dir: Path, tasks: Sequence[str]) -> list[str]:
    return [t for t in tasks if not (task_dir(run_dir, t) / "results.json").exists()]


def task_manager(tasks: Sequence[str]) -> Any:
    """lm-eval's TaskManager over the harness's task folder; lm-eval's own tasks are indexed (slow) only when
    a name is not found among ours. Unknown names: an error naming the closest ones."""
    from lm_eval.tasks import TaskManager

    from harness.registry import UnknownNameError
    from organism.utility import TASKS_DIR

    manager = TaskManager(include_path=str(TASKS_DIR), include_defaults=False)
    if any(t not in manager.all_tasks for t in tasks):
        manager = TaskManager(include_path=str(TASKS_DIR))
    for t in tasks:
        if t not in manager.all_tasks:
            raise UnknownNameError("lm-eval task", t, list(manager.all_tasks))
    return manager


def run_tasks(lm: Any, run_dir: Path, tasks: Sequence[str], manager: Any, *, limit: int | None, seed: int,
              echo: Callable[[str], None] = print) -> None:
    """Evaluate each task not done yet and write its files (results last, atomically)."""
    from lm_eval import simple_evaluate

    for task in pending(run_dir, tasks):
        echo(f"lm-eval: {task}")
        with quiet_lm_eval():
            out = simple_evaluate(model=lm, tasks=[task], task_manager=manager, limit=limit, log_samples=True,
                                  random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed,
                                  fewshot_random_seed=seed)
        if out is None:
            raise RuntimeError(f"lm-eval returned no results for {task}")
        folder = task_dir(run_dir, task)
        folder.mkdir(parents=True, exist_ok=True)
        for subtask, rows in (out.pop("samples", None) or {}).items():
            text = "".join(json.dumps(r, default=_plain, ensure_ascii=False) + "\n" for r in rows)
            _atomic_write(folder / f"samples_{subtask}.jsonl", text)
        out["harness_task"] = task
        _atomic_write(folder / "results.json", json.dumps(out, default=_plain, indent=1, ensure_ascii=False))


@contextmanager
def quiet_lm_eval() -> Iterator[None]:
    """lm-eval's INFO / WARNING lines (about its own HF model, custom datasets, ...) would bury the run's output;
    errors still show."""
    import logging

    chatter = logging.getLogger("lm_eval")
    level = chatter.level
    chatter.setLevel(logging.ERROR)
    try:
        yield
    finally:
        chatter.setLevel(level)


def _plain(obj: Any) -> Any:
    """JSON for what lm-eval leaves in its output (numpy numbers, PIL images in docs, functions in configs)."""
    for attr in ("item", "tolist"):
        if hasattr(obj, attr):
            try:
                return getattr(obj, attr)()
            except (TypeError, ValueError):
                pass
    return str(obj)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


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
