"""The judge contract: a batch of (sample, generation) pairs in, one verdict per pair out.

Verdict labels are `unsafe | safe | refusal | unknown`. A judge never maps a failure to a label: what it
cannot decide is `unknown` (shared/spec/omnisteer.md defects D1, D9, D10).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.records import Generation, Sample, Verdict, content_hash
from harness.registry import UnknownNameError


@dataclass(frozen=True)
class JudgeItem:
    sample: Sample
    generation: Generation


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

    def describe(self) -> Mapping[str, Any]:
        return {"id": self.id, **self.config()}
