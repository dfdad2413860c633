"""Model pages: the analyses `harness analyze` wrote into the runs folder, one page per analysed model.

    RUNS/analyses/<analysis-id>/analysis.json (+ figures/*.svg)   read here
    SITE/model/<model>.html                                       one page per model, every analysis of it
    SITE/model/<model>/<analysis-id>/*.svg                        the figures, copied

Figures are shown with <img>, so an SVG can never run script in the page; the table links each row of an
analysed model to its page.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANALYSES_DIR = "analyses"
SCHEMA_PREFIX = "omni-safety-analysis/"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# Shown first, in this order; every other figure follows under "all figures".
KEY_FIGURES = ("crs", "probe", "projection", "refusal-norm", "refusal-cosine", "drift-norm", "drift-cosine",
               "drift-vs-crs", "planted", "golden-spectrum")


@dataclass(frozen=True)
class AnalysisRecord:
    path: Path
    analysis_id: str
    model: str
    doc: dict[str, Any]

    @property
    def figures(self) -> list[str]:
        return [f for f in self.doc.get("figures") or () if isinstance(f, str) and f.endswith(".svg")
                and (self.path / f).is_file() and ".." not in f]


def load_analyses(runs_dir: Path) -> tuple[list[AnalysisRecord], list[tuple[Path, str]]]:
    """Complete analyses (newest first per model) and the folders skipped with the reason."""
    found: list[AnalysisRecord] = []
    skipped: list[tuple[Path, str]] = []
    for folder in sorted((Path(runs_dir) / ANALYSES_DIR).glob("*/")):
        path = folder / "analysis.json"
        if not path.exists():
            skipped.append((folder, "no analysis.json (unfinished)"))
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            skipped.append((folder, f"analysis.json unreadable: {exc}"))
            continue
        if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(SCHEMA_PREFIX):
            skipped.append((folder, "not an analysis (schema)"))
            continue
        found.append(AnalysisRecord(folder, str(doc.get("analysis_id") or folder.name), str(doc.get("model", "?")),
                                    doc))
    found.sort(key=lambda a: (a.model, str(a.doc.get("created", ""))), reverse=True)
    return found, skipped


def page_key(model: str) -> str:
    return _UNSAFE.sub("-", model).strip(".-")[:80] or "model"


def _ordered(figures: list[str]) -> tuple[list[str], list[str]]:
    def kind(name: str) -> str:
        stem = Path(name).stem
        return stem.split("-", 1)[1] if "-" in stem else stem

    key = [f for k in KEY_FIGURES for f in figures if kind(f) == k]
    return key, [f for f in figures if f not in key]


def write_model_pages(env: Any, out_dir: Path, analyses: list[AnalysisRecord], common: dict[str, Any]) -> dict[str, str]:
    """Write SITE/model/*.html; returns model -> page path relative to the site root."""
    pages: dict[str, list[AnalysisRecord]] = {}
    for a in analyses:
        pages.setdefault(a.model, []).append(a)
    template = env.get_template("model.html.j2")
    links: dict[str, str] = {}
    for model, items in pages.items():
        key = page_key(model)
        entries = []
        for a in items:
            target = out_dir / "model" / key / page_key(a.analysis_id)
            target.mkdir(parents=True, exist_ok=True)
            for fig in a.figures:
                (target / Path(fig).name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(a.path / fig, target / Path(fig).name)
            rel = f"{key}/{page_key(a.analysis_id)}/"
            key_figs, rest = _ordered([Path(f).name for f in a.figures])
            entries.append({"id": a.analysis_id, "doc": a.doc, "key_figures": [rel + f for f in key_figs],
                            "other_figures": [rel + f for f in rest], "summary": summary_rows(a.doc)})
        html = template.render(root="../", model=model, analyses=entries, **common)
        (out_dir / "model" / f"{key}.html").write_text(html, encoding="utf-8")
        links[model] = f"model/{key}.html"
    return links


def summary_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per configuration: the layer where CRS d' is lowest relative to the reference, and its values."""
    tables = doc.get("tables") or {}
    rows = [r for r in tables.get("crs") or () if isinstance(r, dict)]
    reference = (doc.get("settings") or {}).get("reference")
    out = []
    for position in dict.fromkeys(r.get("position") for r in rows):
        ref = {r["layer"]: r.get("dprime") for r in rows if r.get("position") == position
               and r.get("config") == reference}
        for config in dict.fromkeys(r.get("config") for r in rows if r.get("position") == position):
            mine = [r for r in rows if r.get("position") == position and r.get("config") == config
                    and isinstance(r.get("dprime"), (int, float)) and isinstance(ref.get(r["layer"]), (int, float))]
            if not mine:
                continue
            worst = min(mine, key=lambda r: r["dprime"] - ref[r["layer"]])
            out.append({"position": position, "config": config, "layer": worst["layer"],
                        "dprime": worst["dprime"], "reference_dprime": ref[worst["layer"]],
                        "probe_accuracy": worst.get("probe_accuracy")})
    return out
