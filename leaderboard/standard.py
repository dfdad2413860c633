"""The leaderboard standard (`leaderboard/standard.yaml`): pinned judges per task and the standard suites.

Everything here is read-only after loading: a `Standard` is a frozen value that the build, `harness submit` and
`harness leaderboard add` all consult, so the three agree on what "the pinned judge" and "the suite" mean.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.registry import Registries

STANDARD_SCHEMA = "leaderboard.standard/1"


class StandardError(ValueError):
    """The standard file is malformed, or names something that does not exist."""


@dataclass(frozen=True)
class JudgeConfig:
    key: str
    judge: str
    params: Mapping[str, Any]
    label: str

    def instantiate(self, registries: Registries, extra: Mapping[str, Any] | None = None) -> Any:
        """The judge object; `extra` adds endpoint settings (base URL, concurrency) that do not change its id."""
        return registries.judges.get(self.judge)(**{**dict(self.params), **dict(extra or {})})

    def judge_id(self, registries: Registries) -> str:
        judge = self.instantiate(registries)
        try:
            return judge.id
        finally:
            judge.close()


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    models: tuple[str, ...]
    tasks: tuple[str, ...]  # task selectors (`task` or `task:cfg1,cfg2`)
    limit: int | None = None
    max_new_tokens: int = 64
    seed: int = 0
    batch_size: int = 8
    utility: tuple[str, ...] = ()  # lm-eval tasks run with the model and defense (`harness run --utility`)
    # model -> defense -> parameters tuned on validation data only (benchmarks/defense_tuning.py): what a
    # submission of that defense on that model runs when it names no parameters of its own.
    tuned: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict, hash=False, compare=False)

    def tuned_params(self, model: str, defense: str) -> dict[str, Any]:
        return dict((self.tuned.get(model) or {}).get(defense) or {})

    def matches(self, model: str) -> bool:
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def task_names(self) -> tuple[str, ...]:
        return tuple(t.partition(":")[0] for t in self.tasks)


@dataclass(frozen=True)
class Standard:
    version: str
    judges: Mapping[str, JudgeConfig]
    pinned: Mapping[str, str]  # task -> judge key
    suites: Mapping[str, Suite]
    contract_model: str = "tiny-omni"
    source: str = "packaged"

    def pinned_config(self, task: str) -> JudgeConfig | None:
        key = self.pinned.get(task)
        return self.judges[key] if key else None

    def suite(self, name: str) -> Suite:
        if name not in self.suites:
            from harness.registry import UnknownNameError

            raise UnknownNameError("suite", name, sorted(self.suites))
        return self.suites[name]

    def suite_for_model(self, model: str) -> Suite:
        for suite in self.suites.values():
            if suite.matches(model):
                return suite
        raise StandardError(f"no standard suite matches model {model!r}; choose one with --suite "
                            f"({', '.join(self.suites)})")


@dataclass(frozen=True)
class PinnedJudges:
    """Judge ids of the pinned configurations, computed once with this checkout's judge code."""

    by_task: Mapping[str, str]  # task -> judge id
    labels: Mapping[str, str]  # judge id -> human label
    keys: Mapping[str, str]  # judge id -> configuration key in the standard

    def for_task(self, task: str) -> str | None:
        return self.by_task.get(task)


def pinned_judges(standard: Standard, registries: Registries) -> PinnedJudges:
    ids = {key: cfg.judge_id(registries) for key, cfg in standard.judges.items()}
    return PinnedJudges(
        by_task=MappingProxyType({task: ids[key] for task, key in standard.pinned.items()}),
        labels=MappingProxyType({ids[key]: cfg.label for key, cfg in standard.judges.items()}),
        keys=MappingProxyType({ids[key]: key for key in standard.judges}),
    )


def card_versions(registries: Registries) -> Callable[[str], str | None]:
    """task name -> its current card version in this checkout, None for a task not registered (or broken)."""
    def version(task: str) -> str | None:
        if task not in registries.tasks:
            return None
        try:
            return str(registries.tasks.get(task).version)
        except Exception:  # a broken plugin: compare its runs by majority instead of failing the whole build
            return None

    return version


def load_standard(path: str | Path | None = None) -> Standard:
    """The packaged standard, or the one at `path`."""
    import yaml

    if path is None:
        from importlib.resources import files

        text = files("leaderboard").joinpath("standard.yaml").read_text(encoding="utf-8")
        source = "packaged"
    else:
        text = Path(path).read_text(encoding="utf-8")
        source = str(path)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise StandardError(f"{source}: expected a mapping")
    return parse_standard(data, source)


def parse_standard(data: Mapping[str, Any], source: str = "<dict>") -> Standard:
    if data.get("schema") != STANDARD_SCHEMA:
        raise StandardError(f"{source}: schema is {data.get('schema')!r}, expected {STANDARD_SCHEMA!r}")
    judges: dict[str, JudgeConfig] = {}
    for key, cfg in (data.get("judges") or {}).items():
        if not isinstance(cfg, Mapping) or "judge" not in cfg:
            raise StandardError(f"{source}: judges.{key} needs a `judge` name")
        judges[key] = JudgeConfig(key, str(cfg["judge"]), MappingProxyType(dict(cfg.get("params") or {})),
                                  str(cfg.get("label") or cfg["judge"]))
    pinned = {str(task): str(key) for task, key in (data.get("pinned_judges") or {}).items()}
    for task, key in pinned.items():
        if key not in judges:
            raise StandardError(f"{source}: pinned_judges.{task} names judge configuration {key!r}, "
                                f"not one of {sorted(judges)}")
    suites: dict[str, Suite] = {}
    for name, cfg in (data.get("suites") or {}).items():
        try:
            suites[name] = Suite(
                name=name, description=str(cfg.get("description") or ""),
                models=tuple(str(m) for m in cfg.get("models") or ("*",)),
                tasks=tuple(str(t) for t in cfg["tasks"]),
                limit=None if cfg.get("limit") is None else int(cfg["limit"]),
                max_new_tokens=int(cfg.get("max_new_tokens", 64)), seed=int(cfg.get("seed", 0)),
                batch_size=int(cfg.get("batch_size", 8)),
                utility=tuple(str(t) for t in cfg.get("utility") or ()),
                tuned=MappingProxyType({str(m): MappingProxyType({str(d): MappingProxyType(dict(p or {}))
                                                                  for d, p in (by_defense or {}).items()})
                                        for m, by_defense in (cfg.get("tuned") or {}).items()}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StandardError(f"{source}: suites.{name}: {exc}") from exc
    return Standard(
        version=str(data.get("version") or "0"), judges=MappingProxyType(judges), pinned=MappingProxyType(pinned),
        suites=MappingProxyType(suites), contract_model=str((data.get("contract") or {}).get("model", "tiny-omni")),
        source=source,
    )
