"""`CardTask`: the one Task class behind every card; `card_task_class(card)` makes a subclass per card.

Loading = find the dataset directory (tasks.sources), run the card's loader (`records` or a hook module with
`load(ctx, configs) -> list[Item]` and optionally `count(ctx, configs) -> int`), then turn items into Samples
(tasks.items). Nothing here touches a model, so every problem surfaces before one is loaded.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from types import ModuleType
from typing import Any, ClassVar

from harness.records import Sample
from tasks.base import Task, check_configs
from tasks.card import RECORDS_LOADER, Card, CardError
from tasks.items import LoadContext, to_samples
from tasks.sources import find_root, require_root


def loader_module(card: Card) -> ModuleType:
    name = "tasks.loaders.records" if card.loader == RECORDS_LOADER else card.loader
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise CardError(card.where, f"loader: cannot import {name!r} ({exc})") from None
    if not callable(getattr(module, "load", None)):
        raise CardError(card.where, f"loader: module {name!r} has no load(ctx, configs) function")
    return module


class CardTask(Task):
    card: ClassVar[Card]

    def __init__(self, context) -> None:
        super().__init__(context)
        self.notes: list[str] = []

    def configurations(self) -> list[str]:
        return list(self.card.configurations)

    def config_groups(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.card.groups.items()}

    def _context(self, required: bool = True) -> LoadContext | None:
        root = require_root(self.card, self.context.data_root) if required else \
            find_root(self.card, self.context.data_root)
        return LoadContext(self.card, root, self.context.cache_dir) if root is not None else None

    def load(self, configs: Sequence[str] = ()) -> list[Sample]:
        check_configs(self, configs)
        chosen = self.card.expand(list(configs))
        module = loader_module(self.card)
        lc = self._context()
        assert lc is not None
        items = module.load(lc, chosen)
        samples, notes = to_samples(self.card, items, lc)
        self.notes = [*lc.notes, *notes]
        return samples

    def size(self) -> int | None:
        """Number of samples when the data are present (None when they are not)."""
        lc = self._context(required=False)
        if lc is None:
            return None
        module = loader_module(self.card)
        if callable(getattr(module, "count", None)):
            return int(module.count(lc, list(self.card.configurations)))
        return len(self.load())

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.card.name, "version": self.card.version, "description": self.card.description,
            "configurations": self.configurations(), "groups": self.config_groups(),
            "modalities": self.card.modalities(), "source": self.card.source.describe(),
            "published_size": self.card.size, "card": str(self.card.path) if self.card.path else None,
        }


def _class_name(name: str) -> str:
    return "Card_" + re.sub(r"\W", "_", name)


def card_task_class(card: Card) -> type[CardTask]:
    return type(_class_name(card.name), (CardTask,), {
        "card": card, "name": card.name, "version": card.version, "description": card.description,
        "__module__": __name__,
    })


class BrokenCardTask(Task):
    """Stands in for a card that does not parse: listing shows the error, using it raises it."""

    error: ClassVar[Exception]

    def configurations(self) -> list[str]:
        raise self.error

    def load(self, configs: Sequence[str] = ()) -> list[Sample]:
        raise self.error


def broken_task_class(name: str, error: Exception) -> type[BrokenCardTask]:
    return type(_class_name(name), (BrokenCardTask,), {
        "error": error, "name": name, "version": "?", "description": f"BROKEN CARD: {error}",
        "__module__": __name__,
    })
