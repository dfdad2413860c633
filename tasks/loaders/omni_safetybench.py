"""Omni-SafetyBench hook (THU-BPM/Omni-SafetyBench; hub Leyiii/Omni-SafetyBench).

Layout (repository README): `meta_files/unimodal/<variant>.jsonl`, `meta_files/dual-modal/<type>/<variant>.jsonl`,
`meta_files/omni-modal/<type>/<image variant>-<audio variant>.jsonl`; media in
`mm_data/{full,key_phrase}/{image,video,audio}/.../data.tar`. A record's `image_path` / `video_path` /
`audio_path` names the archive's folder and the member (`mm_data/key_phrase/image/diffusion/HateSpeech_99.png`
-> member `HateSpeech_99.png` of `mm_data/key_phrase/image/diffusion/data.tar`), as the upstream usage scripts
read them. Why a hook: tar-packed media and 24 parallel files; each archive is extracted once into the cache,
keyed by its content hash. Already-unpacked files at the recorded path are used as they are.

Configuration names are the meta file paths below the paradigm folder (`text-only`, `image-text/diffusion`,
`image-audio-text/diffusion-tts`, ...); `options.file` in a configuration overrides the derived file name.
`id` aligns the 24 parallel versions of a seed: it becomes `source_id` (`omni-safetybench/<id>`) and
`metadata.seed_id`, the key of the per-seed consistency (CMSC) computation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tasks.card import ConfigSpec, TaskDataError
from tasks.items import Item, LoadContext

ARCHIVE_NAME = "data.tar"


def meta_file(cfg: ConfigSpec) -> str:
    explicit = cfg.options.get("file")
    if explicit:
        return str(explicit)
    kind = cfg.name.split("/", 1)[0]
    parts = kind.split("-")
    if "/" not in cfg.name:
        paradigm = "unimodal"
    else:
        paradigm = "dual-modal" if len(parts) == 2 else "omni-modal"
    return f"meta_files/{paradigm}/{cfg.name}.jsonl"


def _rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise TaskDataError(f"{path}:{i + 1}: not valid JSON ({exc})") from None
            if not isinstance(rec, Mapping):
                raise TaskDataError(f"{path}:{i + 1}: expected a JSON object")
            yield i, rec


def _missing_files(lc: LoadContext, configs: Sequence[str]) -> list[str]:
    return [f"configuration {c}: meta file missing: {lc.root / meta_file(lc.card.configurations[c])}"
            for c in configs if not (lc.root / meta_file(lc.card.configurations[c])).is_file()]


def count(lc: LoadContext, configs: Sequence[str]) -> int:
    return sum(sum(1 for _ in _rows(lc.root / meta_file(lc.card.configurations[c])))
               for c in configs if (lc.root / meta_file(lc.card.configurations[c])).is_file())


def load(lc: LoadContext, configs: Sequence[str]) -> list[Item]:
    missing = _missing_files(lc, configs)
    if missing:
        raise TaskDataError(f"{lc.card.where}: data incomplete", tuple(missing))
    extracted: dict[Path, Path] = {}
    items: list[Item] = []
    problems: list[str] = []
    for name in configs:
        cfg = lc.card.configurations[name]
        modality = cfg.modalities[0].split("+")
        path = lc.root / meta_file(cfg)
        for i, rec in _rows(path):
            where = f"{path}:{i + 1}"
            media: dict[str, Path] = {}
            refs: dict[str, str] = {}
            for kind in ("image", "video", "audio"):
                if kind not in modality:
                    continue
                ref = rec.get(f"{kind}_path")
                if not ref:
                    problems.append(f"{where}: no {kind}_path for a {cfg.modalities[0]} configuration")
                    continue
                refs[kind] = str(ref)
                media[kind] = _resolve(lc, str(ref), extracted)
            text = rec.get("text") if "text" in modality else None
            if "text" in modality and not text:
                problems.append(f"{where}: no text for a {cfg.modalities[0]} configuration")
                continue
            if "id" not in rec:
                problems.append(f"{where}: no id (the key aligning the 24 parallel variants)")
                continue
            metadata = {"seed_id": rec["id"], "variant": name, "paradigm": meta_file(cfg).split("/")[1]}
            for key in ("corresponding_text", "key_phrase"):
                if rec.get(key) is not None:
                    metadata[key] = rec[key]
            items.append(Item(
                config=name, label="harmful", text=str(text) if text else None,
                category=str(rec["harmful_category"]) if rec.get("harmful_category") else None,
                source_id=f"omni-safetybench/{rec['id']}", metadata=metadata,
                identity={"id": rec["id"], "refs": refs}, where=where, **media,
            ))
    if problems:
        raise TaskDataError(f"{lc.card.where}: records that cannot be read", tuple(problems))
    return items


def _resolve(lc: LoadContext, ref: str, extracted: dict[Path, Path]) -> Path:
    direct = lc.path(ref)
    if direct.is_file():
        return direct
    rel = PurePosixPath(ref)
    archive = lc.root.joinpath(*rel.parent.parts) / ARCHIVE_NAME
    if not archive.is_file():
        return direct  # missing: reported by media validation with this path
    if archive not in extracted:
        extracted[archive] = lc.extract(archive)
    return extracted[archive] / rel.name
