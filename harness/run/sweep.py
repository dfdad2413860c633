"""`harness sweep GRID`: run every cell of a grid (harness/run/grid.py), skip the finished ones, then build the
leaderboard.

Each cell is an ordinary run (same spec, run id and folder as `harness run` with the same settings), so a sweep
resumes like a run and its folders mix with hand-made runs. The unit of work is model x defense x shard: cells are
taken model by model and a worker loads each model once, then loops over the defenses and tasks of that model.
Workers are this process, the ranks of a torchrun / accelerate launch (each generates its shard of every cell),
or the actors of a Ray cluster.

Every cell's spec is built (all names and parameters checked) before the first model loads, so a typo in the
last cell fails at once, not after hours.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.records import GenerationConfig, RunSpec
from harness.run.distributed import ProcessGroup, Ranks, execute_distributed, rank_device, ranks_from_env
from harness.run.executors import ExecutorOptions
from harness.run.grid import Cell, Grid, cells_by_model
from harness.run.registries import Registries
from harness.run.runner import RunOptions, build_spec, execute
from harness.run.wiring import make_backend
from harness.store import read_jsonl
from tasks.base import TaskContext, TaskSelector

DONE, TODO, RUNNING, FAILED = "done", "todo", "running", "FAILED"


@dataclass
class SweepOptions:
    runs_dir: Path
    cache_dir: Path
    data_root: Path | None = None
    device: str = "cpu"
    dtype: str = "float32"
    limit: int | None = None  # overrides the grid's limit (a quick trial of a big grid)
    judge_endpoint: dict[str, Any] = field(default_factory=dict)  # base_url, concurrency: the LLM judge only
    show_progress: bool = True
    echo: Callable[[str], None] = print


@dataclass
class CellState:
    cell: Cell
    spec: RunSpec
    status: str = TODO
    error: str = ""

    @property
    def run_id(self) -> str:
        return self.spec.run_id


@dataclass
class SweepResult:
    states: list[CellState]
    ran: int  # cells run by this call
    skipped: int  # cells finished before this call
    site: Path | None = None
    leaderboard_rows: int | None = None

    @property
    def failed(self) -> list[CellState]:
        return [s for s in self.states if s.status == FAILED]


# -- planning ----------------------------------------------------------------------------------------------
def plan(grid: Grid, registries: Registries, options: SweepOptions) -> list[CellState]:
    """Every cell's spec (names and parameters checked, no model loaded) and whether it is finished."""
    context = TaskContext(cache_dir=options.cache_dir, data_root=options.data_root)
    states = []
    for cell in grid.cells:
        judge_params = {**cell.judge_params, **(options.judge_endpoint if cell.judge == "llm" else {})}
        spec = build_spec(
            registries, context, model=cell.model, tasks=[TaskSelector.parse(t) for t in cell.tasks],
            defense=cell.defense, defense_params=dict(cell.defense_params), judge=cell.judge,
            judge_params=judge_params, limit=options.limit if options.limit is not None else cell.limit,
            seed=cell.seed, generation=GenerationConfig(max_new_tokens=cell.max_new_tokens), dtype=options.dtype,
        )
        states.append(CellState(cell, spec, DONE if is_finished(options.runs_dir / spec.run_id) else TODO))
    return states


def is_finished(run_dir: Path) -> bool:
    """A run is finished when its summary exists and every selected sample has a generation (the summary is
    written after judging, so this also means judged)."""
    if not (run_dir / "summary.json").is_file() or not (run_dir / "samples.jsonl").is_file():
        return False
    samples = {d["id"] for d in read_jsonl(run_dir / "samples.jsonl")}
    generated = {d["sample_id"] for d in read_jsonl(run_dir / "generations.jsonl")}
    return samples <= generated


# -- progress view -----------------------------------------------------------------------------------------
def progress_table(states: Sequence[CellState]) -> str:
    """model x defense rows, one column per task list, each cell's status (and run id prefix when done)."""
    columns = list(dict.fromkeys(s.cell.tasks_label for s in states))
    rows: dict[tuple[str, str], dict[str, CellState]] = {}
    for s in states:
        rows.setdefault((s.cell.model, s.cell.defense_label), {})[s.cell.tasks_label] = s
    head = ["model", "defense", *columns]
    body = [[m, d, *(_mark(r.get(c)) for c in columns)] for (m, d), r in rows.items()]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *body]]
    n_done = sum(s.status == DONE for s in states)
    lines.append(f"{n_done}/{len(states)} cells done" + (f", {sum(s.status == FAILED for s in states)} failed"
                                                          if any(s.status == FAILED for s in states) else ""))
    return "\n".join(lines)


def _mark(state: CellState | None) -> str:
    if state is None:
        return "-"
    return f"{state.status} {state.run_id.rsplit('__', 1)[-1][:8]}" if state.status == DONE else state.status


# -- running -----------------------------------------------------------------------------------------------
def run_sweep(grid: Grid, registries: Registries, options: SweepOptions, executor: ExecutorOptions | None = None,
              *, site: Path | None = None, standard: Any = None, batch_size: int | None = None) -> SweepResult:
    executor = executor or ExecutorOptions()
    ranks = ranks_from_env()
    main = ranks is None or ranks.is_main
    echo = options.echo if main else (lambda _line: None)
    states = plan(grid, registries, options)
    group = ProcessGroup(ranks) if ranks is not None else None
    try:
        if group is not None:
            # every rank must skip the same cells: decide from the disk before any rank writes, then go together
            finished = group.gather([s.status == DONE for s in states])[0]
            for state, done in zip(states, finished):
                state.status = DONE if done else TODO
        skipped = sum(s.status == DONE for s in states)
        echo(f"sweep {grid.source}: {len(states)} cells, {skipped} finished, {len(states) - skipped} to run")
        echo(progress_table(states))
        ran = 0
        for model, cells in cells_by_model([s.cell for s in states]).items():
            todo = [s for s in states if s.cell.model == model and s.cell in cells and s.status == TODO]
            if not todo:
                continue
            ran += _run_model(model, todo, states, registries, options, executor, ranks, group, echo, batch_size)
    finally:
        if group is not None:
            group.close()
    result = SweepResult(states, ran, skipped)
    if main and site is not None and not result.failed:
        result.site, result.leaderboard_rows = _build_leaderboard(options.runs_dir, site, registries, standard, echo)
    return result


def _run_model(model: str, todo: list[CellState], states: list[CellState], registries: Registries,
               options: SweepOptions, executor: ExecutorOptions, ranks: Ranks | None, group: ProcessGroup | None,
               echo: Callable[[str], None], batch_size: int | None) -> int:
    """All unfinished cells of one model, with the model loaded once per worker."""
    first = todo[0].spec
    pool = backend = None
    if executor.name == "ray":
        from harness.run.ray_executor import ActorPool

        pool = ActorPool(first, _run_options(options, todo[0].cell, batch_size), registries, executor)
    else:
        device = rank_device(options.device, ranks)
        if group is not None and not ranks.is_main:
            group.barrier()  # rank 0 builds a missing model (a zoo alias) into the shared cache first
        backend = make_backend(registries, model, options.cache_dir, backend=first.backend,
                               revision=first.model_revision, dtype=first.dtype, device=device,
                               system_prompt=first.system_prompt)
        backend.load()
        if group is not None and ranks.is_main:
            group.barrier()
    ran = 0
    try:
        for state in todo:
            state.status = RUNNING
            echo(f"-- cell {states.index(state) + 1}/{len(states)}: {model} x {state.cell.defense_label} x "
                 f"{state.cell.tasks_label} (run {state.run_id})")
            run_options = _run_options(options, state.cell, batch_size)
            t0 = time.perf_counter()
            try:
                if pool is not None:
                    pool.run(state.spec, run_options)
                elif ranks is not None:
                    execute_distributed(state.spec, run_options, registries, ranks, group=group, backend=backend)
                else:
                    execute(state.spec, run_options, registries, backend=backend)
            except Exception as exc:  # one broken cell must not stop a day-long sweep (ranks stop: see below)
                if ranks is not None:
                    raise  # the other ranks wait at a barrier of this cell: stop them all
                state.status, state.error = FAILED, f"{type(exc).__name__}: {exc}"
                echo(f"cell failed: {state.error}")
                if options.show_progress:
                    traceback.print_exc(file=sys.stderr)
            else:
                state.status = DONE
                ran += 1
            echo(f"   {state.status} in {time.perf_counter() - t0:.1f} s")
            echo(progress_table(states))
    finally:
        if pool is not None:
            pool.close()
    return ran


def _run_options(options: SweepOptions, cell: Cell, batch_size: int | None) -> RunOptions:
    return RunOptions(runs_dir=options.runs_dir, cache_dir=options.cache_dir, data_root=options.data_root,
                      batch_size=batch_size or cell.batch_size, device=options.device,
                      show_progress=options.show_progress, echo=options.echo)


def _build_leaderboard(runs_dir: Path, site: Path, registries: Registries, standard: Any,
                       echo: Callable[[str], None]) -> tuple[Path, int]:
    from leaderboard.build import build_site

    result = build_site(runs_dir, site, standard=standard, registries=registries)
    rows = result.main_rows + result.separate_rows
    echo(f"leaderboard: {result.index} ({result.runs} run(s), {result.main_rows} main row(s), "
         f"{result.separate_rows} separate)")
    return result.index, rows


def states_json(states: Sequence[CellState]) -> str:
    return json.dumps([{"model": s.cell.model, "defense": s.cell.defense, "defense_params": dict(s.cell.defense_params),
                        "tasks": list(s.cell.tasks), "run_id": s.run_id, "status": s.status, "error": s.error}
                       for s in states], indent=2)


__all__ = ["CellState", "SweepOptions", "SweepResult", "is_finished", "plan", "progress_table", "run_sweep",
           "states_json"]
