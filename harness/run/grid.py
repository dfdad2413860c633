"""Grid files of `harness sweep`: models x defenses (x defense parameters) x tasks, each cell one ordinary run.

    models: [organism, tiny-omni]
    defenses:
      - none
      - self-reminder
      - name: refusal-steer
        params: {select: arditi}
        grid: {alpha: [2.0, 4.0]}        # one cell per value (per combination, for several keys)
    # either the leaderboard standard's suite (its tasks, settings and pinned judges) ...
    suite: organism
    # ... or tasks and settings of your own (each entry of `tasks` is one run's task list):
    tasks: ["smoke:text", "organism-safety"]
    judge: keyword
    judge_params: {}
    limit: 10
    max_new_tokens: 32
    seed: 0
    batch_size: 8

With `suite`, the cells are exactly the runs `harness submit` makes for the suite (one run per pinned judge
group), so the leaderboard compares them with submitted bundles. Shipped grids live in `harness/run/grids/` and
can be named without a path (`harness sweep standard-omni`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GRIDS_DIR = Path(__file__).resolve().parent / "grids"
KEYS = {"schema", "description", "models", "defenses", "suite", "tasks", "judge", "judge_params", "limit",
        "max_new_tokens", "seed", "batch_size"}
GRID_SCHEMA = "harness.grid/1"


class GridError(ValueError):
    """The grid file is malformed (the message names the file and the key)."""


@dataclass(frozen=True)
class Cell:
    """One run of the grid (everything build_spec needs, as plain values)."""

    model: str
    defense: str
    defense_params: Mapping[str, Any]
    tasks: tuple[str, ...]  # task selectors of this run
    judge: str
    judge_params: Mapping[str, Any]
    limit: int | None
    seed: int
    max_new_tokens: int
    batch_size: int

    @property
    def defense_label(self) -> str:
        if not self.defense_params:
            return self.defense
        return f"{self.defense}(" + ",".join(f"{k}={v}" for k, v in sorted(self.defense_params.items())) + ")"

    @property
    def tasks_label(self) -> str:
        return ";".join(self.tasks)


@dataclass(frozen=True)
class Grid:
    source: Path
    cells: tuple[Cell, ...]
    description: str = ""
    suite: str | None = None
    models: tuple[str, ...] = field(default=())


def shipped_grids() -> list[str]:
    return sorted(p.stem for p in GRIDS_DIR.glob("*.yaml"))


def grid_path(name_or_path: str) -> Path:
    """A path to a grid file, or the name of a shipped grid."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = GRIDS_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    import difflib

    hint = difflib.get_close_matches(name_or_path, shipped_grids(), n=1)
    extra = f"; did you mean the shipped grid {hint[0]!r}?" if hint else f" (shipped grids: {', '.join(shipped_grids())})"
    raise GridError(f"grid file {name_or_path} not found{extra}")


def load_grid(name_or_path: str, standard: Any = None) -> Grid:
    """Read and expand a grid; `standard` (a leaderboard Standard) is needed for grids that name a `suite`."""
    import yaml

    path = grid_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise GridError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise GridError(f"{path}: a grid is a YAML mapping (models, defenses, suite or tasks)")
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        import difflib

        hint = difflib.get_close_matches(unknown[0], sorted(KEYS), n=1)
        raise GridError(f"{path}: unknown key {unknown[0]!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
    if raw.get("schema", GRID_SCHEMA) != GRID_SCHEMA:
        raise GridError(f"{path}: schema {raw['schema']!r} is not {GRID_SCHEMA}")
    models = _names(path, raw, "models")
    defenses = _defense_variants(path, raw.get("defenses", ["none"]))
    if ("suite" in raw) == ("tasks" in raw):
        raise GridError(f"{path}: give either `suite` (a suite of the leaderboard standard) or `tasks`")
    runs = _suite_runs(path, raw, standard) if "suite" in raw else _task_runs(path, raw)
    cells = tuple(Cell(model, name, params, **run) for model in models for name, params in defenses for run in runs)
    return Grid(path, cells, str(raw.get("description") or ""), raw.get("suite"), tuple(models))


def _names(path: Path, raw: Mapping[str, Any], key: str) -> list[str]:
    value = raw.get(key)
    if isinstance(value, str):
        value = [value]
    if not value or not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise GridError(f"{path}: `{key}` must be a non-empty list of names")
    if len(set(value)) != len(value):
        raise GridError(f"{path}: `{key}` lists a name twice")
    return list(value)


def _defense_variants(path: Path, entries: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(entries, list) or not entries:
        raise GridError(f"{path}: `defenses` must be a non-empty list")
    out: list[tuple[str, dict[str, Any]]] = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise GridError(f"{path}: a `defenses` entry is a name or a mapping with `name` (and `params`, `grid`)")
        extra = sorted(set(entry) - {"name", "params", "grid"})
        if extra:
            raise GridError(f"{path}: defense {entry['name']}: unknown key {extra[0]!r} (name, params, grid)")
        params, grid = dict(entry.get("params") or {}), dict(entry.get("grid") or {})
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise GridError(f"{path}: defense {entry['name']}: grid.{key} must be a non-empty list")
        keys = sorted(grid)
        for combo in itertools.product(*(grid[k] for k in keys)):
            out.append((entry["name"], {**params, **dict(zip(keys, combo))}))
    seen = [(n, sorted(p.items(), key=str)) for n, p in out]
    if len({repr(s) for s in seen}) != len(seen):
        raise GridError(f"{path}: `defenses` yields the same defense and parameters twice")
    return out


def _task_runs(path: Path, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    tasks = raw["tasks"]
    tasks = [tasks] if isinstance(tasks, str) else tasks
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and t.strip() for t in tasks):
        raise GridError(f"{path}: `tasks` must be a non-empty list of task lists (e.g. 'smoke:text')")
    settings = _settings(path, raw, {"limit": None, "max_new_tokens": 64, "seed": 0, "batch_size": 8})
    judge_params = raw.get("judge_params") or {}
    if not isinstance(judge_params, dict):
        raise GridError(f"{path}: `judge_params` must be a mapping")
    return [{"tasks": tuple(t.split(";")) if ";" in t else (t,), "judge": str(raw.get("judge") or "keyword"),
             "judge_params": dict(judge_params), **settings} for t in tasks]


def _suite_runs(path: Path, raw: Mapping[str, Any], standard: Any) -> list[dict[str, Any]]:
    from harness.run.submit import judge_groups

    if standard is None:
        raise GridError(f"{path}: `suite` needs the leaderboard standard")
    for key in ("judge", "judge_params"):
        if key in raw:
            raise GridError(f"{path}: `{key}` cannot be set with `suite` (the standard pins the judges)")
    try:
        suite = standard.suite(str(raw["suite"]))
    except (KeyError, ValueError) as exc:
        raise GridError(f"{path}: {exc}") from None
    defaults = {"limit": suite.limit, "max_new_tokens": suite.max_new_tokens, "seed": suite.seed,
                "batch_size": suite.batch_size}
    settings = _settings(path, raw, defaults)
    runs = []
    for key, tasks in judge_groups(suite, standard).items():
        cfg = standard.judges[key]
        runs.append({"tasks": tuple(tasks), "judge": cfg.judge, "judge_params": dict(cfg.params), **settings})
    return runs


def _settings(path: Path, raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(defaults)
    for key in defaults:
        if key in raw:
            value = raw[key]
            if not (value is None and key == "limit") and (not isinstance(value, int) or isinstance(value, bool)
                                                           or value < (0 if key == "seed" else 1)):
                raise GridError(f"{path}: `{key}` must be a {'non-negative' if key == 'seed' else 'positive'} "
                                "integer" + (" or null" if key == "limit" else ""))
            out[key] = value
    return out


def cells_by_model(cells: Sequence[Cell]) -> dict[str, list[Cell]]:
    """The work order: every cell of a model together, so a worker loads each model once."""
    out: dict[str, list[Cell]] = {}
    for cell in cells:
        out.setdefault(cell.model, []).append(cell)
    return out
