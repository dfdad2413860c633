"""MM-SafetyBench hook (isXinLiu/MM-SafetyBench).

Layout: `processed_questions/<scenario>.json` (a JSON object keyed by question id; fields `Question`,
`Changed Question`, `Key Phrase`, `Phrase Type`, `Rephrased Question`, `Rephrased Question(SD)`) and images
`<image dir>/<scenario>/<SD|SD_TYPO|TYPO>/<question id>.jpg`, where the image dir is `imgs` or the released
archive's `MM-SafetyBench(imgs)` (card option `image_dirs`). Why a hook: per-scenario keyed files, and the
text field depends on the image flavour (SD images go with `Rephrased Question(SD)`, TYPO and SD_TYPO with
`Rephrased Question`).

Configurations `sd`, `typo`, `sd_typo`; configuration option `flavour` names the image folder and
`question_field` the text field. Card option `scenarios` restricts the scenario files (default: all found).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tasks.card import TaskDataError
from tasks.items import Item, LoadContext

METADATA_FIELDS = MappingProxyType({"Question": "question", "Changed Question": "changed_question",
                                    "Key Phrase": "key_phrase",
                   "Phrase Type": "phrase_type"})


def _question_files(lc: LoadContext) -> list[Path]:
    qdir = lc.root / str(lc.card.options.get("questions_dir", "processed_questions"))
    if not qdir.is_dir():
        raise TaskDataError(f"{lc.card.where}: question folder missing: {qdir}")
    wanted = lc.card.options.get("scenarios")
    files = sorted(qdir.glob("*.json"))
    if wanted:
        names = {p.stem for p in files}
        absent = [s for s in wanted if s not in names]
        if absent:
            raise TaskDataError(f"{lc.card.where}: options.scenarios names scenario file(s) not in {qdir}: {absent}")
        files = [p for p in files if p.stem in set(wanted)]
    if not files:
        raise TaskDataError(f"{lc.card.where}: no scenario files (*.json) in {qdir}")
    return files


def _image_dir(lc: LoadContext) -> Path:
    candidates = [lc.root / d for d in lc.card.options.get("image_dirs", ["imgs", "MM-SafetyBench(imgs)"])]
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]  # missing images are reported per file by media validation


def _questions(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TaskDataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise TaskDataError(f"{path}: expected a JSON object keyed by question id")
    return data


def load(lc: LoadContext, configs: Sequence[str]) -> list[Item]:
    files = _question_files(lc)
    image_dir = _image_dir(lc)
    items: list[Item] = []
    problems: list[str] = []
    for path in files:
        scenario = path.stem
        questions = _questions(path)
        for name in configs:
            opts = lc.card.configurations[name].options
            flavour = str(opts.get("flavour", name.upper()))
            field = str(opts.get("question_field", "Rephrased Question"))
            for qid, q in questions.items():
                where = f"{path} [{qid!r}]"
                if not isinstance(q, Mapping) or not q.get(field):
                    problems.append(f"{where}: no {field!r}")
                    continue
                metadata = {v: q[k] for k, v in METADATA_FIELDS.items() if q.get(k) is not None}
                metadata.update({"scenario": scenario, "flavour": flavour, "question_id": str(qid)})
                items.append(Item(
                    config=name, label="harmful", text=str(q[field]),
                    image=image_dir / scenario / flavour / f"{qid}.jpg",
                    category=scenario, source_id=f"mm-safetybench/{scenario}/{qid}", metadata=metadata,
                    identity={"scenario": scenario, "qid": str(qid)}, where=where,
                ))
    if problems:
        raise TaskDataError(f"{lc.card.where}: questions that cannot be read", tuple(problems))
    return items
