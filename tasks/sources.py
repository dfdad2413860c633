"""Where a card's data are on this machine, and reading tables through `datasets`.

Data are always read from a local directory in the upstream layout: the hub route downloads a snapshot of the
dataset repository into that directory first (`harness tasks download`), so a hub snapshot and a hand-made
copy load through the same code. The directory is found as
1. `source.local` if it is an absolute path;
2. `<data root>/<source.local>`;
3. the data root itself, when it holds the card's `source.marker` (so `--data-root DIR` may point straight
   at one dataset, e.g. the output of `harness build advbench-omni --out DIR`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tasks.card import Card, CardError, ConfigSpec, TaskDataError

EXTENSION_BUILDERS = MappingProxyType({".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json",
                                       ".parquet": "parquet"})


def find_root(card: Card, data_root: Path | None) -> Path | None:
    local = Path(card.source.local).expanduser()
    if local.is_absolute():
        return local if local.is_dir() else None
    if data_root is None:
        return None
    candidate = data_root / local
    if candidate.is_dir():
        return candidate
    if card.source.marker and (data_root / card.source.marker).exists():
        return data_root
    return None


def require_root(card: Card, data_root: Path | None) -> Path:
    root = find_root(card, data_root)
    if root is not None:
        return root
    src = card.source
    looked = (str(Path(src.local).expanduser()) if Path(src.local).expanduser().is_absolute()
              else f"{data_root / src.local}" if data_root else f"<data root>/{src.local} (no --data-root / "
              "HARNESS_DATA given)")
    how = []
    if src.hub and src.route == "hub":
        how.append(f"download it with `harness tasks download {card.name} --data-root DIR` (from {src.hub})")
    if card.name.startswith("advbench-omni"):
        how.append("or rebuild it offline with `harness build advbench-omni --source CSV --out DIR`")
    how.append(f"or place the files there in the upstream layout (docs/tasks.md, {card.name})")
    raise TaskDataError(f"task {card.name}: data not found at {looked}; " + "; ".join(how))


def data_files_for(card: Card, cfg: ConfigSpec | None) -> Mapping[str, tuple[str, ...]] | None:
    return (cfg.data_files if cfg and cfg.data_files else None) or card.source.data_files


def split_for(card: Card, cfg: ConfigSpec | None) -> tuple[str, str]:
    """(split, the card field that set it) — for messages."""
    if cfg and cfg.split:
        return cfg.split, f"configurations.{cfg.name}.split"
    if card.source.split:
        return card.source.split, "source.split"
    files = data_files_for(card, cfg)
    if files and len(files) == 1:
        return next(iter(files)), "source.data_files"
    return "train", "source.split (default)"


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """Silence `datasets` progress bars for the duration of a load, restoring the previous setting."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def load_table(card: Card, cfg: ConfigSpec | None, root: Path, cache_dir: Path) -> Any:
    """One split of the card's table as a `datasets.Dataset` (media columns left undecoded)."""
    import datasets

    split, split_field = split_for(card, cfg)
    files = data_files_for(card, cfg)
    name = (cfg.hf_name if cfg and cfg.hf_name else None) or card.source.name
    hf_cache = str(cache_dir / "hf-datasets")
    where = card.where
    with quiet_datasets():
        if files is not None:
            if split not in files:
                raise CardError(where, f"{split_field}: {split!r} is not a split of source.data_files "
                                       f"(splits: {', '.join(files)})")
            paths = [root / f for f in files[split]]
            missing = [str(p) for p in paths if not p.exists()]
            if missing:
                raise TaskDataError(f"{where}: data file(s) missing: {', '.join(missing)}")
            if card.source.records == "keyed":
                return datasets.Dataset.from_list(_keyed_rows(paths, where))
            builders = {EXTENSION_BUILDERS.get(p.suffix.lower()) for p in paths}
            if None in builders or len(builders) != 1:
                raise CardError(where, f"source.data_files: cannot tell the format of {[p.name for p in paths]} "
                                       f"(use one of {', '.join(sorted(EXTENSION_BUILDERS))})")
            builder = builders.pop()
            try:
                return datasets.load_dataset(builder, data_files={split: [str(p) for p in paths]}, split=split,
                                             cache_dir=hf_cache)
            except Exception as exc:  # datasets names neither file nor line: find them, or say what it said
                _pinpoint(paths, builder)
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise TaskDataError(f"{where}: cannot read {', '.join(str(p) for p in paths)}: {first}") from None
        try:
            return datasets.load_dataset(str(root), name=name, split=split, cache_dir=hf_cache)
        except ValueError as exc:
            text = str(exc)
            if "Unknown split" in text:
                try:
                    known = datasets.get_dataset_split_names(str(root), config_name=name)
                except Exception:  # noqa: BLE001
                    known = []
                raise CardError(where, f"{split_field}: unknown split {split!r} in {root}"
                                       f"{' (splits: ' + ', '.join(known) + ')' if known else ''}") from None
            if name and "BuilderConfig" in text:
                raise CardError(where, f"source.name: unknown dataset configuration {name!r} in {root}: "
                                       f"{text.splitlines()[0]}") from None
            raise


def _pinpoint(paths: list[Path], builder: str) -> None:
    """Raise CorruptFile at the first line or value of a JSON / JSONL data file that does not parse."""
    from harness.files import read_given_jsonl, read_json

    if builder != "json":
        return
    for path in paths:
        if path.suffix.lower() == ".jsonl":
            read_given_jsonl(path, what="row")
        else:
            read_json(path, expect=None)


def _keyed_rows(paths: list[Path], where: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in paths:
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise TaskDataError(f"{where}: {p} is not valid JSON ({exc})") from None
        if not isinstance(data, Mapping):
            raise TaskDataError(f"{where}: {p} should be a JSON object keyed by item id (source.records: keyed)")
        for key, value in data.items():
            if not isinstance(value, Mapping):
                raise TaskDataError(f"{where}: {p}: item {key!r} is not an object")
            rows.append({"_key": str(key), **value})
    return rows
