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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.utility import task_dir


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
