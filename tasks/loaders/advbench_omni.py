"""AdvBench-Omni hook: our layout (tasks/advbench_omni/layout.py) and the two layouts the authors ship.

Sources, in order of precedence; each (label, configuration) is taken from the first source that has it and
later files for it are ignored (listed with the reason, never counted twice):

1. `metadata/{advbench,benign}_<config>.jsonl`: our builder's records (`config`, `label`, ...), or the
   authors' evaluation JSONL records (`id`, `type`, `modality`, `text`, `image` / `audio` / `video`);
2. `data/{advbench,benign}_<config>.jsonl`: where the authors' runner reads its evaluation JSONL;
3. the authors' analysis files (tasks/advbench_omni/authors.py), in `metadata/`, else in `data/`.

Why a hook: the configuration comes from the file (its name, or the file table), never from a guess; the
text the model gets follows the configuration (tasks.advbench_omni.layout.model_text), so typed instructions
(t, t2*, the `*_new` files' media-only modality names, benign "Describe this ... in detail.") are kept and the
prompt a medium already shows is not added as text; a modality outside the authors' vocabularies is refused by
name. Card option `labels` restricts the labels loaded (the `advbench-omni-benign` card).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tasks.advbench_omni import authors
from tasks.advbench_omni.layout import (
    CONFIG_MODALITIES,
    METADATA_DIR,
    TYPED_TEXT,
    media_parts,
    model_text,
    normalise_config,
    parse_modality,
)
from tasks.card import TaskDataError
from tasks.items import Item, LoadContext

DATA_DIR = "data"
METADATA_KEYS = ("payload", "render", "source_text", "rewrite", "extension", "split_result")
LABEL_OF_PREFIX = {"advbench": "harmful", "benign": "benign", "safe": "benign"}


@dataclass(frozen=True)
class _Source:
    path: Path
    kind: str  # "jsonl" | "analysis" | "benign_text"
    provides: tuple[tuple[str, str], ...]  # (label, config) pairs this file holds
    config: str | None = None  # for per-configuration files
    label: str | None = None


def load(lc: LoadContext, configs: Sequence[str]) -> list[Item]:
    labels = tuple(lc.card.options.get("labels") or ("harmful", "benign"))
    sources, ignored = _plan(lc.root)
    if not sources:
        raise TaskDataError(f"{lc.card.where}: no AdvBench-Omni metadata in {lc.root} (expected "
                            "metadata/advbench_<config>.jsonl or the authors' metadata/ folder; see docs/tasks.md)")
    for path, reason in ignored:
        lc.notes.append(f"ignored {path.relative_to(lc.root).as_posix()}: {reason}")
    wanted = {(lab, cfg) for lab in labels for cfg in configs}
    items: list[Item] = []
    problems: list[str] = []
    for src in sources:
        take = wanted.intersection(src.provides)
        if not take:
            continue
        for where, rec, label, config in _records_of(src):
            if src.config is not None and label != src.label:  # a per-configuration file holds one label
                problems.append(f"{where}: label {label} in a file of {src.label} items")
                continue
            if (label, config) not in take:
                continue
            try:
                items.append(_item(lc, rec, where, label, config))
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
    if problems:
        raise TaskDataError(f"{lc.card.where}: records that cannot be read", tuple(problems))
    return items


# -- which files ------------------------------------------------------------------------------------------
def _plan(root: Path) -> tuple[list[_Source], list[tuple[Path, str]]]:
    """The files to read, in precedence order, and the files ignored with the reason."""
    candidates: list[_Source] = []
    ignored: list[tuple[Path, str]] = []
    for folder in (METADATA_DIR, DATA_DIR):
        for path in sorted((root / folder).glob("*.jsonl")):
            m = authors.EVAL_FILE.match(path.name)
            config = normalise_config(m.group(2)) if m else None
            if m is None or config is None:
                if folder == METADATA_DIR:
                    ignored.append((path, authors.ignore_reason(path.name)))
                continue  # data/ holds the authors' evaluation files of other benchmarks too: not ours to list
            label = LABEL_OF_PREFIX[m.group(1)]
            candidates.append(_Source(path, "jsonl", ((label, config),), config, label))
    for folder in (METADATA_DIR, DATA_DIR):
        for path in sorted((root / folder).glob("*.json")):
            if path.name in authors.HARMFUL_FILES:
                cfg = authors.HARMFUL_FILES[path.name]
                candidates.append(_Source(path, "analysis", (("harmful", cfg),), cfg, "harmful"))
            elif path.name == authors.BENIGN_FILE:
                candidates.append(_Source(path, "analysis", tuple(("benign", c) for c in authors.BENIGN_FILE_CONFIGS),
                                          None, "benign"))
            elif path.name == authors.BENIGN_TEXT_FILE:
                candidates.append(_Source(path, "benign_text", (("benign", "t"),), "t", "benign"))
            elif folder == METADATA_DIR or path.name.startswith("alignment_data_"):
                ignored.append((path, authors.ignore_reason(path.name)))
    chosen: list[_Source] = []
    taken: dict[tuple[str, str], Path] = {}
    for src in candidates:
        overlap = [p for p in src.provides if p in taken]
        rest = tuple(p for p in src.provides if p not in taken)
        if overlap:
            by = ", ".join(sorted({taken[p].relative_to(root).as_posix() for p in overlap}))
            if not rest:
                ignored.append((src.path, f"superseded by {by} (same items)"))
                continue
            what = ", ".join(f"{lab} {cfg}" for lab, cfg in overlap)
            ignored.append((src.path, f"its {what} items only: superseded by {by}"))
        taken.update({p: src.path for p in rest})
        chosen.append(replace(src, provides=rest))
    return chosen, ignored


# -- reading ----------------------------------------------------------------------------------------------
def _records_of(src: _Source) -> Iterator[tuple[str, Mapping[str, Any], str, str]]:
    """(where, record, label, config) of every record of one source."""
    if src.kind == "jsonl":
        for i, line in enumerate(src.path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            where = f"{src.path}:{i + 1}"
            rec = _object(_json(line, where), where)
            label = _label(rec, src.label, where)
            config = _record_config(rec, src.config, where)
            yield where, rec, label, config
        return
    data = _json(src.path.read_text(encoding="utf-8"), str(src.path))
    if src.kind == "benign_text":
        if not isinstance(data, list):
            raise TaskDataError(f"{src.path}: expected a JSON list of {{\"prompt\": ...}} objects")
        for i, rec in enumerate(data):
            where = f"{src.path}[{i}]"
            rec = _object(rec, where)
            # no id in this file: the index is the benign prompt's number (safe_image_<i> ... in the others)
            yield where, {"text": rec.get("prompt"), "source_id": f"omni-benign/{i}"}, "benign", "t"
        return
    if isinstance(data, Mapping):
        data = data.get("cross_modal_test")
    if not isinstance(data, list):
        raise TaskDataError(f"{src.path}: expected a JSON list of records or an object with `cross_modal_test`")
    for i, rec in enumerate(data):
        where = f"{src.path}[{i}]"
        rec = _object(rec, where)
        label = _label(rec, src.label, where)
        if src.config is not None:
            config = src.config
            _check_modality(rec, config, where)
        else:  # the benign file: configuration from the record's modality
            config = _modality_config(rec, where)
        yield where, rec, label, config


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TaskDataError(f"{where}: not valid JSON ({exc})") from None


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TaskDataError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _label(rec: Mapping[str, Any], default: str | None, where: str) -> str:
    value = rec.get("label", rec.get("type"))
    if value is None:
        if default is None:
            raise TaskDataError(f"{where}: no label / type")
        return default
    v = str(value).strip().lower()
    if v in ("harmful", "unsafe"):
        return "harmful"
    if v in ("benign", "safe"):
        return "benign"
    raise TaskDataError(f"{where}: unknown label {value!r} (expected harmful / benign / safe)")


def _modality(rec: Mapping[str, Any], where: str) -> frozenset[str] | None:
    if not rec.get("modality"):
        return None
    try:
        return parse_modality(str(rec["modality"]))
    except ValueError as exc:  # one line: the problem, the file and the record
        raise TaskDataError(f"{where}: {exc}") from None


def _check_modality(rec: Mapping[str, Any], config: str, where: str) -> None:
    parts = _modality(rec, where)
    if parts is not None and media_parts(parts) != media_parts(parse_modality(CONFIG_MODALITIES[config][0])):
        raise TaskDataError(f"{where}: modality {rec['modality']!r} does not fit configuration {config} "
                            f"({CONFIG_MODALITIES[config][0]})")


def _modality_config(rec: Mapping[str, Any], where: str) -> str:
    parts = _modality(rec, where)
    by_parts = {parse_modality(CONFIG_MODALITIES[c][0]): c for c in authors.BENIGN_FILE_CONFIGS}
    if parts not in by_parts:
        raise TaskDataError(f"{where}: modality {rec.get('modality')!r} is not one of the benign configurations "
                            f"({', '.join(authors.BENIGN_FILE_CONFIGS)})")
    return by_parts[parts]


def _record_config(rec: Mapping[str, Any], file_config: str | None, where: str) -> str:
    if rec.get("config"):
        cfg = normalise_config(str(rec["config"]))
        if cfg is None:
            raise TaskDataError(f"{where}: unknown config {rec['config']!r} (known: {', '.join(CONFIG_MODALITIES)})")
        return cfg
    assert file_config is not None
    _check_modality(rec, file_config, where)
    return file_config


def _media(rec: Mapping[str, Any], kind: str) -> str | None:
    value = rec.get(kind, rec.get(f"{kind}_path"))
    return str(value) if value else None


def _source_id(rec: Mapping[str, Any], label: str) -> str | None:
    if rec.get("source_id") not in (None, ""):
        return str(rec["source_id"])
    index = authors.index_of(rec.get("id"))
    if index is None:
        return None
    return f"{'advbench' if label == 'harmful' else 'omni-benign'}/{index}"


def _item(lc: LoadContext, rec: Mapping[str, Any], where: str, label: str, config: str) -> Item:
    media = {k: _media(rec, k) for k in ("image", "audio", "video")}
    raw = rec.get("text", rec.get("text_instruction"))
    raw = str(raw) if raw not in (None, "") else None
    text = model_text(config, label, raw)
    if TYPED_TEXT.get(config) and not text:
        raise ValueError(f"configuration {config} needs a text instruction, the record has none")
    metadata: dict[str, Any] = {"origin": str(rec.get("origin") or "released")}
    if rec.get("id") is not None:
        metadata["record_id"] = str(rec["id"])
    if raw and raw != text:  # the prompt a medium shows, or an a2* instruction delivered as speech
        metadata["source_text" if config in ("i", "a", "v") else "text_instruction"] = raw
    for key in METADATA_KEYS:
        if rec.get(key) is not None:
            metadata[key] = rec[key]
    if rec.get("modality"):
        metadata["reference_modality"] = rec["modality"]
    return Item(
        config=config, label=label, text=text,
        category=str(rec["category"]) if rec.get("category") else None,
        source_id=_source_id(rec, label), metadata=metadata, identity=rec.get("id"), where=where,
        **{k: lc.path(v) for k, v in media.items() if v},
    )

