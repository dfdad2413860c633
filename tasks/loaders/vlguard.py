"""VLGuard test hook (ys-zong/VLGuard).

Layout: `test.json` (a list of records: `id`, `image` relative to the image folder, `safe` (image safety),
`harmful_category`, `harmful_subcategory`, `instr-resp`: a list of `{safe_instruction | unsafe_instruction |
instruction, response}`) and the images unpacked from `test.zip` into `test/`. Why a hook: one record yields
one or two samples, and the configuration follows from the image's safety and the instruction key:

| configuration | image  | instruction key      | label   |
|---------------|--------|----------------------|---------|
| `safe_unsafe` | safe   | `unsafe_instruction` | harmful |
| `unsafe`      | unsafe | `instruction`        | harmful |
| `safe_safe`   | safe   | `safe_instruction`   | benign  |

The train split is OmniSteer training data (docs/reference.md, Benchmarks §3.4): this hook reads only the file
named by card option `annotations` (default `test.json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from tasks.card import TaskDataError
from tasks.items import Item, LoadContext

KEYS = MappingProxyType({"safe_unsafe": ("unsafe_instruction", True, "harmful"),
        "unsafe": ("instruction", False, "harmful"),
        "safe_safe": ("safe_instruction", True, "benign")})


def load(lc: LoadContext, configs: Sequence[str]) -> list[Item]:
    path = lc.root / str(lc.card.options.get("annotations", "test.json"))
    image_dir = str(lc.card.options.get("image_dir", "test"))
    if not path.is_file():
        raise TaskDataError(f"{lc.card.where}: annotation file missing: {path}")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TaskDataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(records, list):
        raise TaskDataError(f"{path}: expected a JSON list of records")
    items: list[Item] = []
    problems: list[str] = []
    for i, rec in enumerate(records):
        where = f"{path}[{i}]"
        if not isinstance(rec, Mapping) or not rec.get("image") or "safe" not in rec:
            problems.append(f"{where}: needs `image` and `safe`")
            continue
        pairs = rec.get("instr-resp")
        if not isinstance(pairs, list) or not pairs:
            problems.append(f"{where}: no `instr-resp` list")
            continue
        image = lc.path(str(rec["image"]), image_dir)
        for j, pair in enumerate(pairs):
            if not isinstance(pair, Mapping):
                problems.append(f"{where}.instr-resp[{j}]: not an object")
                continue
            config = next((c for c, (key, safe_img, _) in KEYS.items()
                           if key in pair and bool(rec["safe"]) == safe_img), None)
            if config is None:
                problems.append(f"{where}.instr-resp[{j}]: keys {sorted(pair)} do not fit an image with "
                                f"safe={rec['safe']!r}")
                continue
            if config not in configs:
                continue
            key, _, label = KEYS[config]
            metadata = {"vlguard_id": rec.get("id"), "dataset_response": pair.get("response"),
                        "harmful_subcategory": rec.get("harmful_subcategory"), "image_safe": bool(rec["safe"])}
            items.append(Item(
                config=config, label=label, text=str(pair[key]), image=image,
                category=str(rec["harmful_category"]) if rec.get("harmful_category") else None,
                source_id=f"vlguard/{rec.get('id', i)}", metadata={k: v for k, v in metadata.items() if v is not None},
                identity={"id": rec.get("id"), "key": key, "image": str(rec["image"])},
                where=f"{where}.instr-resp[{j}]",
            ))
    if problems:
        raise TaskDataError(f"{lc.card.where}: records that cannot be read", tuple(problems))
    return items
