"""The task contract and the selection helpers every task shares.

A task turns a data source into `Sample`s. Task selectors on the command line look like `smoke`,
`smoke:image` (one configuration) or `advbench-omni:t2i,t2a`. `--limit N` keeps at most N samples per
configuration x label, chosen by a seeded hash order, so a larger limit is a superset of a smaller one and the
selection is the same on every machine.
"""

from __future__ import annotations

import abc
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness.records import Sample


@dataclass
class TaskContext:
    """Where a task may read data and write generated media."""

    cache_dir: Path
    data_root: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Task(abc.ABC):
    name: ClassVar[str] = ""
    version: ClassVar[str] = "0"
    description: ClassVar[str] = ""

    def __init__(self, context: TaskContext) -> None:
        self.context = context

    @abc.abstractmethod
    def configurations(self) -> list[str]:
        """The modality configurations this task offers (e.g. `text`, `image`, `t2i`)."""

    @abc.abstractmethod
    def load(self, configs: Sequence[str] = ()) -> list[Sample]:
        """All samples of the chosen configurations (all when empty), media resolved to local files."""

    def config_groups(self) -> dict[str, list[str]]:
        """Named groups of configurations, selectable like a configuration (e.g. `advbench-omni:cross-modal`)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """One row of `harness list tasks`."""
        return {"name": self.name, "version": self.version, "configurations": self.configurations(),
                "description": self.description}


@dataclass(frozen=True)
class TaskSelector:
    name: str
    configs: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TaskSelector:
        name, _, rest = text.strip().partition(":")
        if not name:
            raise ValueError(f"empty task name in {text!r}")
        configs = tuple(c.strip() for c in rest.split(",") if c.strip()) if rest else ()
        return cls(name=name, configs=configs)

    def __str__(self) -> str:
        return f"{self.name}:{','.join(self.configs)}" if self.configs else self.name


def parse_task_list(text: str) -> list[TaskSelector]:
    """`a,b:x,y;c` style lists: tasks are split on commas unless the comma follows a `:` selector part.

    Accepts `smoke,organism-safety` and `advbench-omni:t2i,t2a` (configs of one task) and mixes written with
    `;` as separator: `advbench-omni:t2i,t2a;smoke`.
    """
    chunks = [c for c in text.split(";") if c.strip()]
    out: list[TaskSelector] = []
    for chunk in chunks:
        if ":" in chunk:
            out.append(TaskSelector.parse(chunk))
        else:
            out.extend(TaskSelector.parse(c) for c in chunk.split(",") if c.strip())
    return out


def check_configs(task: Task, configs: Iterable[str]) -> None:
    from harness.registry import UnknownNameError

    known = task.configurations() + list(task.config_groups())
    for c in configs:
        if c not in known:
            raise UnknownNameError(f"configuration of task {task.name!r}", c, known)


def select(samples: Sequence[Sample], limit: int | None, seed: int = 0) -> list[Sample]:
    """At most `limit` samples per (task, config, label) group, in a seeded, machine-independent order."""
    if limit is None:
        return list(samples)
    if limit < 0:
        raise ValueError("--limit must be >= 0")
    groups: dict[tuple[str, str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        groups[(s.task, s.config, s.label)].append(s)
    keep: set[str] = set()
    for members in groups.values():
        ranked = sorted(members, key=lambda s: hashlib.sha256(f"{seed}:{s.id}".encode()).hexdigest())
        keep.update(s.id for s in ranked[:limit])
    return [s for s in samples if s.id in keep]


def stable_id(*parts: object, length: int = 12) -> str:
    """A sample id from source content, the same across runs and machines."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return h[:length]
