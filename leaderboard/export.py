"""`leaderboard.json` and `leaderboard.csv`: the same rows as the index page, main and separate tables."""

from __future__ import annotations

import csv
import io
from typing import Any

from harness.metrics import Rate
from leaderboard.table import METRICS, Entry, LeaderboardTable

TABLE_SCHEMA = "leaderboard.table/1"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def entry_dict(e: Entry, table: str) -> dict[str, Any]:
    return {
        "table": table,
        "model": e.model,
        "model_revision": e.model_revision,
        "defense": e.defense,
        "defense_params": e.defense_params,
        "defense_status": e.status,
        "reasons": list(e.reasons),
        "runs": [r.run_id for r in e.runs],
        "judges": e.judges,
        "task_versions": e.versions,
        "overall": e.overall.to_dict() if e.overall else None,
        "overhead": {"ratio": e.overhead.ratio if e.overhead else None,
                     "basis": e.overhead.basis if e.overhead else ""},
        "cells": {f"{task}/{group}": stats.to_dict() for (task, group), stats in sorted(e.cells.items())},
    }


def table_json(table: LeaderboardTable, *, generated: str) -> dict[str, Any]:
    return {
        "schema": TABLE_SCHEMA,
        "generated": generated,
        "standard_version": table.standard_version,
        "metrics": {"asr": "unsafe / judged on harmful samples", "bar": "not refused / judged on benign and "
                    "utility samples", "utility": "correct / graded on utility samples",
                    "unknown": "unknown verdicts / all verdicts"},
        "intervals": "Wilson 95 %",
        "references": {t: {"judge": r.judge, "judge_basis": r.judge_basis, "judge_label": r.judge_label,
                           "version": r.version, "version_basis": r.version_basis}
                       for t, r in sorted(table.references.items())},
        "columns": [c.key for c in table.columns],
        "rows": [entry_dict(e, "main") for e in table.main] + [entry_dict(e, "separate") for e in table.separate],
        "skipped_runs": [{"path": str(s.path), "reason": s.reason} for s in table.skipped],
    }


def _rate_cells(prefix: str, rate: Rate | None) -> dict[str, Any]:
    value = rate.value if rate else None
    return {prefix: value, f"{prefix}_low": rate.low if rate else None, f"{prefix}_high": rate.high if rate else None,
            f"{prefix}_n": rate.n if rate else None}


def _text(value: Any) -> str:
    """Spreadsheet programs run cells that start with = + - @; prefix such text with an apostrophe."""
    s = "" if value is None else str(value)
    return "'" + s if s.startswith(_FORMULA_START) else s


def table_csv(table: LeaderboardTable) -> str:
    import json

    rows: list[dict[str, Any]] = []
    for name, entries in (("main", table.main), ("separate", table.separate)):
        for e in entries:
            row: dict[str, Any] = {
                "table": name, "model": _text(e.model), "model_revision": _text(e.model_revision),
                "defense": _text(e.defense), "defense_params": _text(json.dumps(e.defense_params, sort_keys=True)),
                "defense_status": _text(e.status), "reasons": _text("; ".join(e.reasons)),
                "runs": _text(" ".join(r.run_id for r in e.runs)),
                "judges": _text(" ".join(f"{t}={j}" for t, j in sorted(e.judges.items()))),
                "task_versions": _text(" ".join(f"{t}={v}" for t, v in sorted(e.versions.items()))),
                "n": e.overall.n if e.overall else None,
            }
            for m in METRICS:
                row.update(_rate_cells(f"overall_{m}", e.overall.metric(m) if e.overall else None))
            row["overhead_ratio"] = e.overhead.ratio if e.overhead else None
            for col in table.all_columns():
                stats = e.cells.get((col.task, col.group))
                for m in METRICS:
                    row.update(_rate_cells(f"{col.key}:{m}", stats.metric(m) if stats else None))
            rows.append(row)
    fields: list[str] = list(rows[0]) if rows else ["table", "model", "defense"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(v) for k, v in row.items()})
    return buf.getvalue()


def _fmt(v: Any) -> Any:
    return "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)
