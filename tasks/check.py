"""`harness tasks check`: everything that can be wrong with a task's data, found without loading a model.

For one task selector: the card parses (schema), the data directory is there, every row maps through the card
(fields, labels, modality of each configuration), ids are unique, judge templates are known, and every
referenced medium exists and decodes (harness.media_io.validate_media, the runner's own pre-flight check: image
decoded, audio frames read, a video yields the frames the loader needs). The result lists the first problems
with their paths and the total count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.records import Sample
from tasks.base import TaskContext, TaskSelector, check_configs, select
from tasks.card import JUDGE_TEMPLATES


@dataclass
class CheckResult:
    selector: str
    n_samples: int = 0
    n_media: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # the card or the data could not be read at all
    schema_only: bool = False  # the card parsed; its data are not on this machine

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems

    def format(self, shown: int = 20) -> str:
        if self.error:
            return f"{self.selector}: FAILED\n  {self.error}"
        if self.schema_only:
            return f"{self.selector}: card OK; data not present here (schema checked only)"
        head = f"{self.selector}: {self.n_samples} samples, {self.n_media} media files checked, " \
               f"{len(self.problems)} problem(s)"
        lines = [head + (" OK" if self.ok else "")]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  - {p}" for p in self.problems[:shown]]
        if len(self.problems) > shown:
            lines.append(f"  ... and {len(self.problems) - shown} more")
        return "\n".join(lines)


def sample_problems(samples: Sequence[Sample], validate: Callable[[str, str], str | None]) -> tuple[list[str], int]:
    problems: list[str] = []
    seen: set[str] = set()
    checked: dict[tuple[str, str], str | None] = {}
    for s in samples:
        if s.id in seen:
            problems.append(f"{s.id}: duplicate sample id")
        seen.add(s.id)
        template = s.metadata.get("judge_template")
        if template is not None and template not in JUDGE_TEMPLATES:
            problems.append(f"{s.id}: unknown judge template {template!r}")
        for part in s.media:
            key = (part.type, part.path or "")
            if key not in checked:
                checked[key] = validate(part.type, part.path or "")
            if checked[key]:
                problems.append(f"{s.id}: {checked[key]}")
    return problems, len(checked)


def check_task(registries, selector: str, context: TaskContext, *, limit: int | None = None,
               seed: int = 0) -> CheckResult:
    from harness.registry import UnknownNameError
    from tasks.card import CardError, TaskDataError

    result = CheckResult(selector)
    try:
        sel = TaskSelector.parse(selector)
        task = registries.tasks.get(sel.name)(context)
        check_configs(task, sel.configs)
        samples = task.load(sel.configs)
    except (CardError, TaskDataError, UnknownNameError, ValueError, OSError) as exc:
        result.error = str(exc)
        return result
    result.notes = list(getattr(task, "notes", []) or [])
    samples = select(samples, limit, seed)
    result.n_samples = len(samples)
    from harness.media_io import validate_media

    result.problems, result.n_media = sample_problems(samples, validate_media)
    return result


def check_all_cards(registries, context: TaskContext, *, limit: int | None = None, seed: int = 0) -> list[CheckResult]:
    """Every card: the schema always; the data too where they are present on this machine."""
    from tasks.card_task import BrokenCardTask, CardTask
    from tasks.sources import find_root

    results: list[CheckResult] = []
    for name in registries.tasks.names():
        cls = registries.tasks.get(name)
        if issubclass(cls, BrokenCardTask):
            results.append(CheckResult(name, error=str(cls.error)))
        elif issubclass(cls, CardTask):
            if find_root(cls.card, context.data_root) is None:
                results.append(CheckResult(name, schema_only=True))
            else:
                results.append(check_task(registries, name, context, limit=limit, seed=seed))
    return results
