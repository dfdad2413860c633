"""Helpers of the organism's lm-eval utility tasks (loaded by lm-eval through `!function utils.NAME`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "organism_utility.json"


def load(**kwargs: Any) -> Any:
    """The items as a `datasets.DatasetDict` with one `test` split, read from the shipped JSON (no hub)."""
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(json.loads(DATA.read_text()))})


def doc_to_image(doc: dict[str, Any]) -> list[Any]:
    """The request as the organism's typography strip (what organism-safety's `image` configuration shows)."""
    from organism.render import strip_image

    return [strip_image(doc["words"])]
