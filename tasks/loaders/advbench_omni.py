"""AdvBench-Omni hook: reads `metadata/*.jsonl|json` of the layout in tasks/advbench_omni/layout.py.

Why a hook: the configuration of a record comes from its `config` field, the file name, or the reference's
`modality` vocabularies; labels come from `label` / `type` (`safe` = benign); released media paths may be the
authors' absolute paths (re-rooted under the dataset directory); analysis files nest items in
`cross_modal_test`. Card option `labels` restricts the labels loaded (the `advbench-omni-benign` card).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.advbench_omni.layout import (
    ANALYSIS_MODALITY,
    EVAL_MODALITY,
    METADATA_DIR,
    SIGNATURE_CONFIG,
    normalise_config,
)
from tasks.card import TaskDataError
from tasks.items import Item, LoadContext

PER_CONFIG_FILE = re.compile(r"^(advbench|benign|safe)_([a-z0-9]+)\.jsonl?$")
ANALYSIS_FILE = re.compile(r"^alignment_data_.*\.json$")
METADATA_KEYS = ("payload", "render", "source_text", "rewrite", "extension", "split_result")


def load(lc: LoadContext, configs: Sequence[str]) -> list[Item]:
    labels = tuple(lc.card.options.get("labels") or ("harmful", "benign"))
    meta_dir = lc.root / METADATA_DIR
    files = sorted(p for p in meta_dir.glob("*.json*") if PER_CONFIG_FILE.match(p.name) or ANALYSIS_FILE.match(p.name))
    if not files:
        raise TaskDataError(f"{lc.card.where}: no AdvBench-Omni metadata in {meta_dir} (expected "
                            "advbench_<config>.jsonl / benign_<config>.jsonl; see docs/tasks.md)")
    wanted = set(configs)
    items: list[Item] = []
    problems: list[str] = []
    for path in files:
        m = PER_CONFIG_FILE.match(path.name)
        hint_label = ("harmful" if m.group(1) == "advbench" else "benign") if m else None
        hint_config = normalise_config(m.group(2)) if m else None
        analysis = m is None
        for i, rec in _records(path):
            where = f"{path}:{i + 1}" if path.suffix == ".jsonl" else f"{path}[{i}]"
            try:
                item = _item(lc, rec, where, hint_label, hint_config, analysis)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
                continue
            if item.config in wanted and item.label in labels:
                items.append(item)
    if problems:
        raise TaskDataError(f"{lc.card.where}: records that cannot be read", tuple(problems))
    return items


def _records(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        for i, line in enumerate(text.splitlines()):
            if line.strip():
                yield i, _object(_json(line, f"{path}:{i + 1}"), f"{path}:{i + 1}")
        return
    data = _json(text, str(path))
    if isinstance(data, Mapping):
        data = data.get("cross_modal_test")
    if not isinstance(data, list):
        raise TaskDataError(f"{path}: expected a JSON list of records or an object with `cross_modal_test`")
    for i, rec in enumerate(data):
        yield i, _object(rec, f"{path}[{i}]")


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TaskDataError(f"{where}: not valid JSON ({exc})") from None


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TaskDataError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _label(rec: Mapping[str, Any], hint: str | None) -> str:
    value = rec.get("label", rec.get("type"))
    if value is not None:
        v = str(value).strip().lower()
        if v in ("harmful", "unsafe"):
            return "harmful"
        if v in ("benign", "safe"):
            return "benign"
        raise ValueError(f"unknown label {value!r} (expected harmful / benign / safe)")
    if hint:
        return hint
    return "benign" if str(rec.get("id", "")).lower().startswith(("safe", "benign")) else "harmful"


def _media(rec: Mapping[str, Any], kind: str) -> str | None:
    value = rec.get(kind, rec.get(f"{kind}_path"))
    return str(value) if value else None


def _config(rec: Mapping[str, Any], hint: str | None, signature: str) -> str:
    if rec.get("config"):
        cfg = normalise_config(str(rec["config"]))
        if cfg is None:
            raise ValueError(f"unknown config {rec['config']!r}")
        return cfg
    if hint:
        return hint
    modality = str(rec.get("modality") or "").strip().lower()
    if modality in ANALYSIS_MODALITY:
        return ANALYSIS_MODALITY[modality]
    if modality in EVAL_MODALITY:
        return EVAL_MODALITY[modality]
    if signature in SIGNATURE_CONFIG:
        return SIGNATURE_CONFIG[signature]
    raise ValueError(f"cannot tell the configuration (no config, modality {modality!r}, carries {signature!r})")


def _source_id(rec: Mapping[str, Any], label: str) -> str | None:
    if rec.get("source_id") not in (None, ""):
        return str(rec["source_id"])
    rid = str(rec.get("id", ""))
    digits = re.findall(r"\d+", rid.rsplit("/", 1)[-1])
    if not digits:
        return None
    return f"{'advbench' if label == 'harmful' else 'omni-benign'}/{int(digits[-1])}"


def _item(lc: LoadContext, rec: Mapping[str, Any], where: str, hint_label: str | None, hint_config: str | None,
          analysis: bool) -> Item:
    label = _label(rec, hint_label)
    media = {k: _media(rec, k) for k in ("image", "audio", "video")}
    text = rec.get("text", rec.get("text_instruction"))
    text = str(text) if text not in (None, "") else None
    if analysis:  # analysis files store text_instruction even where the modality has no typed text
        modality = str(rec.get("modality") or "")
        if modality and "text" not in modality.split("+"):
            text = None
    signature = "+".join(sorted([k for k, v in media.items() if v] + (["text"] if text else [])))
    config = _config(rec, hint_config, signature)
    metadata: dict[str, Any] = {"origin": str(rec.get("origin") or "released")}
    if rec.get("id") is not None:
        metadata["record_id"] = str(rec["id"])
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
