"""Source prompts for the AdvBench-Omni builder: any list of text behaviours.

`read_behaviours(source)` accepts a local CSV / TSV / JSON / JSONL / TXT / parquet file, a local dataset
directory, or a hub id (read with `datasets`, which needs the network unless the dataset is cached). The text
column is taken from `text_column` or the first present of TEXT_COLUMNS (AdvBench's `harmful_behaviors.csv`
has `goal`, the reference's `advbench.json` has `prompt`). Rows with a `label` / `type` of `benign` / `safe`
become benign prompts. Ids: an `id` / `index` / `BehaviorID` column, else the row index.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEXT_COLUMNS = ("prompt", "goal", "behavior", "Behavior", "behaviour", "text", "instruction", "question", "query")
ID_COLUMNS = ("id", "index", "BehaviorID", "behavior_id")
LABEL_COLUMNS = ("label", "type")


class BehaviourSourceError(ValueError):
    pass


@dataclass(frozen=True)
class Behaviour:
    source_id: str  # e.g. advbench/17
    text: str
    label: str  # harmful | benign
    category: str | None = None


def _rows_from_file(path: Path) -> list[Any]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
    if suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, Mapping):
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise BehaviourSourceError(f"{path}: expected a JSON list (or an object holding one list)")
            data = lists[0]
        if not isinstance(data, list):
            raise BehaviourSourceError(f"{path}: expected a JSON list of prompts or objects")
        return data
    if suffix == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    raise BehaviourSourceError(f"{path}: unsupported file type {suffix!r} (csv, tsv, json, jsonl, txt, parquet)")


def _rows_from_datasets(source: str, split: str | None, cache_dir: Path | None) -> list[Any]:
    import datasets

    try:
        return list(datasets.load_dataset(source, split=split or "train",
                                          cache_dir=str(cache_dir) if cache_dir else None))
    except Exception as exc:  # noqa: BLE001 - network, missing split, unknown id: one clear message
        raise BehaviourSourceError(f"cannot read behaviours from {source!r} with datasets "
                                   f"(split {split or 'train'}): {type(exc).__name__}: {exc}") from None


def read_behaviours(source: str, *, text_column: str | None = None, split: str | None = None,
                    prefix: str = "advbench", default_label: str = "harmful",
                    cache_dir: Path | None = None) -> list[Behaviour]:
    path = Path(source).expanduser()
    rows = _rows_from_file(path) if path.is_file() else _rows_from_datasets(source, split, cache_dir)
    if not rows:
        raise BehaviourSourceError(f"{source}: no rows")
    out: list[Behaviour] = []
    column = text_column
    for i, row in enumerate(rows):
        if isinstance(row, str):
            out.append(Behaviour(f"{prefix}/{i}", row.strip(), default_label))
            continue
        if not isinstance(row, Mapping):
            raise BehaviourSourceError(f"{source}: row {i} is a {type(row).__name__}, not an object")
        if column is None:
            column = next((c for c in TEXT_COLUMNS if c in row), None)
            if column is None:
                raise BehaviourSourceError(f"{source}: no text column among {', '.join(TEXT_COLUMNS)} "
                                           f"(columns: {', '.join(map(str, row))}); pass --text-column")
        if column not in row:
            raise BehaviourSourceError(f"{source}: row {i} has no column {column!r} (columns: {', '.join(row)})")
        text = str(row[column] or "").strip()
        if not text:
            raise BehaviourSourceError(f"{source}: row {i}: empty {column!r}")
        rid = next((str(row[c]) for c in ID_COLUMNS if row.get(c) not in (None, "")), str(i))
        label = default_label
        for c in LABEL_COLUMNS:
            if row.get(c) not in (None, ""):
                value = str(row[c]).strip().lower()
                label = "benign" if value in ("benign", "safe") else "harmful" if value in ("harmful", "unsafe") \
                    else label
        category = next((str(row[c]) for c in ("category", "Category", "SemanticCategory") if row.get(c)), None)
        out.append(Behaviour(f"{prefix}/{rid}", text, label, category))
    ids = [b.source_id for b in out]
    if len(set(ids)) != len(ids):
        dupes = sorted({x for x in ids if ids.count(x) > 1})[:5]
        raise BehaviourSourceError(f"{source}: duplicate ids {dupes}")
    return out


def builtin_benign(n: int | None = None) -> list[Behaviour]:
    from tasks.advbench_omni.benign_prompts import benign_prompts

    prompts = benign_prompts()
    chosen: Sequence[str] = prompts if n is None else prompts[:n]
    return [Behaviour(f"harness-benign/{i}", text, "benign") for i, text in enumerate(chosen)]
