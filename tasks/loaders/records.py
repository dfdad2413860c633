"""The generic `records` loader: one row of a table -> one item, through the card's field mapping.

Tables are read with `datasets` (a hub snapshot directory, or parquet / CSV / JSON / JSONL data files; a
JSON object keyed by item id with `source.records: keyed`). Each configuration may pick its own split or
data files, filter rows (`filter: {column: value(s)}`), override fields and set its label. Before any row is
read, every column the card names (fields, templates, label, filter, metadata) is checked against the table,
so a misspelt field fails with the card field and the available columns named.

Media cells may be paths (relative to `<dataset dir>/<source.media_root>`), or embedded `Image` / `Audio`
values (written once to the cache by content hash).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.card import MEDIA_FIELDS, Card, CardError, ConfigSpec, FieldSpec, LabelSpec, TaskDataError
from tasks.items import Item, LoadContext
from tasks.sources import data_files_for, load_table, split_for
from tasks.templating import TemplateError, Templates


def load(lc: LoadContext, configs: Sequence[str]) -> list[Item]:
    return _run(lc, configs, build_items=True)[0]


def count(lc: LoadContext, configs: Sequence[str]) -> int:
    return _run(lc, configs, build_items=False)[1]


def _run(lc: LoadContext, configs: Sequence[str], build_items: bool) -> tuple[list[Item], int]:
    card = lc.card
    templates = Templates()
    tables: dict[Any, Any] = {}
    items: list[Item] = []
    problems: list[str] = []
    n = 0
    for name in configs:
        cfg = card.configurations[name]
        fields = {**card.fields, **cfg.fields}
        label = cfg.label or card.label
        key = (split_for(card, cfg)[0], cfg.hf_name or card.source.name, _freeze(data_files_for(card, cfg)))
        if key not in tables:
            tables[key] = load_table(card, cfg, lc.root, lc.cache_dir)
        table = tables[key]
        described = _describe_table(card, cfg, lc.root)
        _check_columns(card, cfg, fields, label, table.column_names, templates, described)
        if build_items:
            table = _undecoded(table, fields)
        media_base = lc.root / card.source.media_root if card.source.media_root else lc.root
        for i, row in enumerate(table):
            if not _matches(cfg.filter, row):
                continue
            n += 1
            if not build_items:
                continue
            where = f"{described} row {i}"
            try:
                items.append(_item(lc, card, cfg, fields, label, row, templates, media_base, where))
            except _RowProblem as exc:
                problems.append(f"{where}: {exc}")
    if problems:
        raise TaskDataError(f"{card.where}: rows that cannot become samples", tuple(problems))
    return items, n


class _RowProblem(Exception):
    pass


def _freeze(files: Mapping[str, tuple[str, ...]] | None) -> Any:
    return tuple(sorted(files.items())) if files else None


def _describe_table(card: Card, cfg: ConfigSpec, root: Path) -> str:
    files = data_files_for(card, cfg)
    split = split_for(card, cfg)[0]
    if files:
        return ", ".join(str(root / f) for f in files.get(split, ()))
    return f"{root} (split {split})"


def _field_path(card: Card, cfg: ConfigSpec, key: str) -> str:
    return f"configurations.{cfg.name}.fields.{key}" if key in cfg.fields else f"fields.{key}"


def _check_columns(card: Card, cfg: ConfigSpec, fields: Mapping[str, FieldSpec], label: LabelSpec | None,
                   columns: Sequence[str], templates: Templates, described: str) -> None:
    cols = set(columns)
    listing = ", ".join(columns)

    def missing(what: str, column: str) -> CardError:
        return CardError(card.where, f"{what} refers to column {column!r}, which {described} does not have "
                                     f"(columns: {listing})")

    for key, spec in fields.items():
        what = _field_path(card, cfg, key)
        if spec.column is not None and spec.column not in cols:
            raise missing(what, spec.column)
        if spec.template is not None:
            try:
                names = templates.names(spec.template)
            except TemplateError as exc:
                raise CardError(card.where, f"{what}.template: {exc}") from None
            for name in sorted(names - cols):
                raise missing(f"{what}.template", name)
    for meta_key, column in card.metadata_fields.items():
        if not column.endswith("?") and column not in cols:
            raise missing(f"fields.metadata.{meta_key}", column)
    if label is not None and label.column is not None and label.column not in cols:
        raise missing(f"configurations.{cfg.name}.label.column" if cfg.label else "label.column", label.column)
    for column in cfg.filter:
        if column not in cols:
            raise missing(f"configurations.{cfg.name}.filter", column)


def _undecoded(table: Any, fields: Mapping[str, FieldSpec]) -> Any:
    """Embedded media columns as raw {bytes, path} (no decoding libraries needed, bytes kept as shipped)."""
    for key in MEDIA_FIELDS:
        spec = fields.get(key)
        if spec is None or spec.column is None:
            continue
        feature = table.features.get(spec.column)
        if type(feature).__name__ in ("Image", "Audio", "Video") and getattr(feature, "decode", False):
            table = table.cast_column(spec.column, type(feature)(decode=False))
    return table


def _matches(flt: Mapping[str, tuple[Any, ...]], row: Mapping[str, Any]) -> bool:
    for column, allowed in flt.items():
        value = row.get(column)
        if not any(value == a or str(value) == str(a) for a in allowed):
            return False
    return True


def _value(spec: FieldSpec, row: Mapping[str, Any], templates: Templates, what: str) -> Any:
    if spec.column is not None:
        return row.get(spec.column)
    if spec.template is not None:
        try:
            return templates.render(spec.template, row)
        except TemplateError as exc:
            raise _RowProblem(f"{what}: template failed: {exc}") from None
    return spec.const


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    text = str(value)
    return text if text.strip() else None


def _medium(lc: LoadContext, kind: str, value: Any, media_base: Path, what: str) -> Path:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _RowProblem(f"{what} is empty")
    if isinstance(value, str):
        return lc.path(value.strip(), media_base)
    if isinstance(value, Mapping):
        data, hint = value.get("bytes"), value.get("path")
        if data:
            return lc.materialize(bytes(data), kind, hint)
        if hint:
            return lc.path(str(hint), media_base)
        raise _RowProblem(f"{what} has neither bytes nor a path")
    if hasattr(value, "save"):  # a decoded PIL image
        import io

        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return lc.materialize(buf.getvalue(), kind, "image.png")
    raise _RowProblem(f"{what}: cannot use a {type(value).__name__} as a {kind}")


def _label(label: LabelSpec | None, row: Mapping[str, Any], what: str) -> str:
    if label is None:
        raise _RowProblem(f"{what}: no label")
    if label.const is not None:
        return label.const
    value = row.get(label.column or "")
    mapped = label.mapping.get(str(value))
    if mapped:
        return mapped
    if label.default:
        return label.default
    if str(value) in ("harmful", "benign", "utility"):
        return str(value)
    raise _RowProblem(f"{what}: value {value!r} of column {label.column!r} is not in label.map and there is "
                      "no label.default")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items() if not isinstance(v, (bytes, bytearray))}
    return str(value)


def _item(lc: LoadContext, card: Card, cfg: ConfigSpec, fields: Mapping[str, FieldSpec], label: LabelSpec | None,
          row: Mapping[str, Any], templates: Templates, media_base: Path, where: str) -> Item:
    values = {k: _value(spec, row, templates, _field_path(card, cfg, k)) for k, spec in fields.items()}
    media = {k: _medium(lc, k, values[k], media_base, _field_path(card, cfg, k)) for k in MEDIA_FIELDS
             if k in fields}
    raw_id = _text(values.get("id"))
    source_id = _text(values.get("source_id")) or raw_id
    metadata = {key: _jsonable(row.get(col.rstrip("?"))) for key, col in card.metadata_fields.items()
                if not (col.endswith("?") and row.get(col.rstrip("?")) is None)}
    if raw_id is not None:
        metadata["record_id"] = raw_id
    return Item(
        config=cfg.name, label=_label(label, row, "label"), text=_text(values.get("text")),
        category=_text(values.get("category")), reference=_text(values.get("reference")),
        source_id=source_id, metadata=metadata, identity=raw_id, where=where, **media,
    )
