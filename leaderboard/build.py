"""Static leaderboard site from the run store (stub: one row per run; the full site is issue 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.store import list_runs


def collect_rows(runs_dir: Path) -> list[dict[str, Any]]:
    import json

    rows: list[dict[str, Any]] = []
    for run_dir in list_runs(runs_dir):
        summary_path = run_dir / "summary.json"
        if not summary_path.exists():
            continue
        summary = json.loads(summary_path.read_text())
        spec = summary["spec"]
        judge = summary["default_judge"]
        mine = [r for r in summary["rows"] if r["judge"] == judge]
        rows.append({
            "run_id": summary["run_id"],
            "model": spec["model"],
            "defense": spec["defense"],
            "tasks": ", ".join(t["name"] for t in spec["tasks"]),
            "judge": judge,
            "asr": _pooled(mine, "harmful", "unsafe"),
            "refusal": _pooled(mine, "harmful", "refusal"),
            "benign_acceptance": _pooled_acceptance(mine),
            "unknown": sum(r["unknown"] for r in mine),
            "n": sum(r["n"] for r in mine),
            "notes": summary.get("notes", []),
        })
    return rows


def _pooled(rows: list[dict[str, Any]], label: str, key: str) -> float | None:
    judged = sum(r["judged"] for r in rows if r["label"] == label)
    return sum(r["counts"][key] for r in rows if r["label"] == label) / judged if judged else None


def _pooled_acceptance(rows: list[dict[str, Any]]) -> float | None:
    benign = [r for r in rows if r["label"] != "harmful"]
    judged = sum(r["judged"] for r in benign)
    return sum(r["judged"] - r["counts"]["refusal"] for r in benign) / judged if judged else None


def build_site(runs_dir: Path, out_dir: Path) -> Path:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("leaderboard", "templates"), autoescape=select_autoescape(["html", "j2"]))
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text(env.get_template("index.html.j2").render(rows=collect_rows(runs_dir)), encoding="utf-8")
    return index
