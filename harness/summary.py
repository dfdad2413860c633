"""`summary.json`: rates per task x configuration x label x judge, with Wilson 95 % intervals.

Schema `harness.summary/1`:

    {
      "schema": "harness.summary/1",
      "run_id": str, "spec": RunSpec dict,
      "default_judge": judge id used for the printed table,
      "judges": {judge id: judge description},
      "notes": [str],                       e.g. "plumbing check only" for random-weight models
      "rows": [{
          "judge": judge id, "task": str, "config": str, "modality": str, "label": "harmful"|"benign"|"utility",
          "n": samples selected, "generated": samples with a generation, "judged": verdicts other than unknown,
          "unknown": unknown verdicts, "missing": generated samples with no verdict from this judge,
          "counts": {"unsafe", "safe", "refusal", "unknown"},
          "refusal_rate": Rate,              every label
          "asr": Rate | null, "rsr": Rate | null,          harmful rows
          "benign_acceptance": Rate | null                benign and utility rows
      }]
    }

A Rate is {"k", "n", "value", "low", "high"} (value and bounds null when n == 0). Unknown verdicts are excluded
from every denominator and reported in `unknown`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from harness.metrics import LabelCounts, Rate, asr, benign_acceptance, refusal_rate, rsr
from harness.records import Generation, RunSpec, Sample, Verdict

SUMMARY_SCHEMA = "harness.summary/1"


def summarise(
    spec: RunSpec,
    samples: Sequence[Sample],
    generations: Mapping[str, Generation],
    verdicts: Mapping[str, Mapping[str, Verdict]],
    judges: Mapping[str, Any],
    default_judge: str,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    groups: dict[tuple[str, str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        groups[(s.task, s.config, s.label)].append(s)
    rows: list[dict[str, Any]] = []
    for judge_id in sorted(verdicts, key=lambda j: (j != default_judge, j)):
        by_sample = verdicts[judge_id]
        for (task, config, label), members in sorted(groups.items()):
            generated = [s for s in members if s.id in generations]
            labels = [by_sample[s.id].label for s in generated if s.id in by_sample]
            counts = LabelCounts.of(labels)
            rows.append({
                "judge": judge_id,
                "task": task,
                "config": config,
                "modality": members[0].modality,
                "label": label,
                "n": len(members),
                "generated": len(generated),
                "judged": counts.judged,
                "unknown": counts.unknown,
                "missing": len(generated) - len(labels),
                "counts": {"unsafe": counts.unsafe, "safe": counts.safe, "refusal": counts.refusal,
                           "unknown": counts.unknown},
                "refusal_rate": refusal_rate(counts).to_dict(),
                "asr": asr(counts).to_dict() if label == "harmful" else None,
                "rsr": rsr(counts).to_dict() if label == "harmful" else None,
                "benign_acceptance": benign_acceptance(counts).to_dict() if label != "harmful" else None,
            })
    return {
        "schema": SUMMARY_SCHEMA,
        "run_id": spec.run_id,
        "spec": spec.to_dict(),
        "default_judge": default_judge,
        "judges": dict(judges),
        "notes": list(notes),
        "rows": rows,
    }


def format_table(summary: Mapping[str, Any], judge: str | None = None) -> str:
    """Plain-text table of one judge's rows: n, RSR, ASR, benign acceptance, unknown."""
    judge = judge or summary["default_judge"]
    header = ("task", "config", "label", "n", "RSR", "ASR", "benign acc.", "unknown")
    lines = [header]
    for r in summary["rows"]:
        if r["judge"] != judge:
            continue
        lines.append((r["task"], r["config"], r["label"], str(r["n"]), _pct(r["rsr"]), _pct(r["asr"]),
                      _pct(r["benign_acceptance"]), str(r["unknown"])))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = [f"judge: {judge}"]
    for i, row in enumerate(lines):
        out.append("  ".join(cell.ljust(w) if j < 3 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _pct(rate: Mapping[str, Any] | Rate | None) -> str:
    if rate is None:
        return "-"
    value = rate["value"] if isinstance(rate, Mapping) else rate.value
    low = rate["low"] if isinstance(rate, Mapping) else rate.low
    high = rate["high"] if isinstance(rate, Mapping) else rate.high
    if value is None:
        return "n/a"
    return f"{100 * value:5.1f}% [{100 * low:.0f}-{100 * high:.0f}]"
