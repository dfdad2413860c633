"""The judge contract: a batch of (sample, generation) pairs in, one verdict per pair out.

Verdict labels are `unsafe | safe | refusal | unknown`. A judge never maps a failure to a label: what it
cannot decide is `unknown` (docs/reference.md, defects D1, D9, D10).

Optional hooks with no-op defaults, so the runner never special-cases a judge:
- `use_cache_dir(path)`: the run's cache directory (the LLM judge keeps its answer cache there);
- `usage()`: calls, tokens and cost of this judge object so far (written to the run's `judge_usage.json`);
- `preferred_batch_size`: how many items the judge wants per `score` call (concurrent judges want many).
A judge that must stop early raises `JudgeBudgetExceeded` (budget used up) or `JudgeConfigError` (the endpoint
rejects the configuration); verdicts of earlier batches stay valid.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness.records import Generation, Sample, Verdict, content_hash
from harness.registry import UnknownNameError


@dataclass(frozen=True)
class JudgeItem:
    sample: Sample
    generation: Generation


class JudgeBudgetExceeded(RuntimeError):
    """The judge's call or token budget is used up; nothing more is judged in this session."""


class JudgeConfigError(RuntimeError):
    """The judge endpoint rejects the configuration (authentication, unknown model, wrong URL)."""


@dataclass
class NoParams:
    """Parameters of a judge that takes none."""


class Judge(abc.ABC):
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams

    def __init__(self, **params: Any) -> None:
        known = {f.name for f in dataclasses.fields(self.Params)}
        for key in params:
            if key not in known:
                raise UnknownNameError(f"parameter of judge {self.name!r}", key, sorted(known))
        self.params = self.Params(**params)

    def config(self) -> dict[str, Any]:
        """Everything that changes this judge's verdicts; hashed into `id`."""
        return {"name": self.name, "params": dataclasses.asdict(self.params)}

    @property
    def id(self) -> str:
        """Stable judge id, e.g. `keyword@3f2a9c1b`: same id, same verdicts."""
        return f"{self.name}@{content_hash(self.config(), 8)}"

    @abc.abstractmethod
    def score(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        """One verdict per item, in order."""

    def close(self) -> None:
        """Release clients or models."""

    def use_cache_dir(self, path: Path) -> None:
        """Called by the runner before scoring with the run's cache directory; default: ignored."""

    def usage(self) -> dict[str, Any]:
        """Accounting of this judge object so far (calls, tokens, cost); empty when there is nothing to count."""
        return {}

    @property
    def preferred_batch_size(self) -> int:
        """Items per `score` call this judge works best with; 0 = no preference."""
        return 0

    def describe(self) -> Mapping[str, Any]:
        return {"id": self.id, **self.config()}
