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

Fields added later (backward-compatible: readers must accept their absence):
- `rows[].unknown_rate`: Rate, unknown verdicts / all verdicts of the row (how often the judge could not decide).
- `rows[].accuracy`: Rate | null. Utility rows: k = verdicts with `detail.correct == true`, n = verdicts that
  carry a boolean `detail.correct` (an MCQ-grading judge); null for other rows or when no verdict grades.
- `rows[].mean_score`: {"mean", "n"} | null. Mean of numeric `detail.score` (StrongREJECT rubric in [0, 1],
  video rubric 1-5) over the verdicts that carry one; null when none does.
- `label_counts`: {task: {label: samples}}; a task whose benign and harmful counts differ by more than 10 %
  also gets a line in `notes` (harness/balance.py).
- `combined`: [{"judge", "task", "config" (null = the whole task), "harmful_judged", "benign_judged",
  "combined": Rate}]: the reference's combined score, (harmful judged safe/refused + benign not refused) /
  (harmful + benign judged), wherever a task x configuration has both labels (harness/balance.py).
- `metric_settings`: {"osb_lambda", "osb_alpha", "defaulted": [setting names], "notes": [str]}: settings of the
  Omni-SafetyBench metrics; each setting left at its default is listed in `defaulted` and labelled in `notes`
  ([reconstructed] / [unverified]).
- `omni_safetybench`: [{"judge": judge id, "lambda", "alpha", "unknown", "subcategories": [{"subcategory":
  "task/config", "judged", "understood", "understand_rate": Rate, "c_asr": Rate, "c_rr": Rate,
  "safety_score": float | null}], "excluded": [subcategory], "mean_safety_score", "cmsc", "pooled": {...},
  "bootstrap": {"mean_safety_score_ci", "cmsc_ci", "replicates", "seed"} | null, "by_category": [{"category",
  ...the same block...}]}], present only when some judge produced Omni-SafetyBench verdicts
  (see harness/omni_safetybench.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from harness.balance import balance_notes, combined_scores
from harness.metrics import LabelCounts, Rate, asr, benign_acceptance, refusal_rate, rsr, wilson
from harness.omni_safetybench import (
    ALPHA_NOTE,
    DEFAULT_ALPHA,
    DEFAULT_LAMBDA,
    LAMBDA_NOTE,
    omni_safetybench_metrics,
)
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
    metric_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    settings = resolve_metric_settings(metric_settings)
    groups: dict[tuple[str, str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        groups[(s.task, s.config, s.label)].append(s)
    rows: list[dict[str, Any]] = []
    for judge_id in sorted(verdicts, key=lambda j: (j != default_judge, j)):
        by_sample = verdicts[judge_id]
        for (task, config, label), members in sorted(groups.items()):
            generated = [s for s in members if s.id in generations]
            judged_verdicts = [by_sample[s.id] for s in generated if s.id in by_sample]
            labels = [v.label for v in judged_verdicts]
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
                "unknown_rate": wilson(counts.unknown, counts.total).to_dict(),
                "accuracy": _accuracy(judged_verdicts) if label == "utility" else None,
                "mean_score": _mean_score(judged_verdicts),
            })
    osb = []
    for judge_id in sorted(verdicts, key=lambda j: (j != default_judge, j)):
        block = omni_safetybench_metrics(samples, verdicts[judge_id], lam=settings["osb_lambda"],
                                         alpha=settings["osb_alpha"])
        if block is not None:
            osb.append({"judge": judge_id, **block})
    label_counts, balance = balance_notes(rows)
    out = {
        "schema": SUMMARY_SCHEMA,
        "run_id": spec.run_id,
        "spec": spec.to_dict(),
        "default_judge": default_judge,
        "judges": dict(judges),
        "notes": [*notes, *(b for b in balance if b not in notes)],
        "rows": rows,
        "metric_settings": settings,
        "label_counts": label_counts,
        "combined": combined_scores(rows),
    }
    if osb:
        out["omni_safetybench"] = osb
    return out


def resolve_metric_settings(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fill in the metric settings; every default used is labelled in `notes`."""
    given = dict(given or {})
    out: dict[str, Any] = {}
    notes: list[str] = []
    defaulted: list[str] = []
    for key, default, note in (("osb_lambda", DEFAULT_LAMBDA, LAMBDA_NOTE), ("osb_alpha", DEFAULT_ALPHA, ALPHA_NOTE)):
        if given.get(key) is None:
            out[key] = default
            defaulted.append(key)
            notes.append(note)
        else:
            out[key] = float(given[key])
    return {**out, "defaulted": defaulted, "notes": notes}


def _accuracy(verdicts: Sequence[Verdict]) -> dict[str, Any] | None:
    graded = [v.detail["correct"] for v in verdicts
              if v.label != "unknown" and isinstance(v.detail.get("correct"), bool)]
    return wilson(sum(graded), len(graded)).to_dict() if graded else None


def _mean_score(verdicts: Sequence[Verdict]) -> dict[str, Any] | None:
    scores = [float(v.detail["score"]) for v in verdicts
              if v.label != "unknown" and isinstance(v.detail.get("score"), (int, float))
              and not isinstance(v.detail.get("score"), bool)]
    return {"mean": sum(scores) / len(scores), "n": len(scores)} if scores else None


def format_table(summary: Mapping[str, Any], judge: str | None = None) -> str:
    """Plain-text table of one judge's rows: n, RSR, ASR, benign acceptance, accuracy, unknown."""
    judge = judge or summary["default_judge"]
    header = ("task", "config", "label", "n", "RSR", "ASR", "benign acc.", "accuracy", "unknown")
    lines = [header]
    for r in summary["rows"]:
        if r["judge"] != judge:
            continue
        lines.append((r["task"], r["config"], r["label"], str(r["n"]), _pct(r["rsr"]), _pct(r["asr"]),
                      _pct(r["benign_acceptance"]), _pct(r.get("accuracy")), str(r["unknown"])))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = [f"judge: {judge}"]
    for i, row in enumerate(lines):
        out.append("  ".join(cell.ljust(w) if j < 3 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    for c in summary.get("combined") or ():
        if c["judge"] == judge and c["config"] is None:
            out.append(f"combined score {c['task']}: {_pct(c['combined'])} "
                       f"({c['harmful_judged']} harmful + {c['benign_judged']} benign judged)")
    for block in summary.get("omni_safetybench") or ():
        if block["judge"] == judge:
            out.extend(_format_osb(block, summary.get("metric_settings") or {}))
    return "\n".join(out)


def _format_osb(block: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    boot = block.get("bootstrap") or {}
    ci = boot.get("cmsc_ci")
    head = f"Omni-SafetyBench (lambda={block['lambda']:g}, alpha={block['alpha']:g}; unknown {block['unknown']}):"
    lines = ["", head]
    for sub in block["subcategories"]:
        lines.append(f"  {sub['subcategory']}: C-ASR {_pct(sub['c_asr'])}  C-RR {_pct(sub['c_rr'])}  "
                     f"understood {_pct(sub['understand_rate'])}  Safety-score {num(sub['safety_score'])}")
    lines.append(f"  mean Safety-score {num(block['mean_safety_score'])}  CMSC {num(block['cmsc'])}"
                 + (f" [{ci[0]:.3f}-{ci[1]:.3f}]" if ci else ""))
    if block["excluded"]:
        lines.append(f"  excluded (no understood answer): {', '.join(block['excluded'])}")
    lines.extend(f"  NOTE: {n}" for n in settings.get("notes") or ())
    return lines


def _pct(rate: Mapping[str, Any] | Rate | None) -> str:
    if rate is None:
        return "-"
    value = rate["value"] if isinstance(rate, Mapping) else rate.value
    low = rate["low"] if isinstance(rate, Mapping) else rate.low
    high = rate["high"] if isinstance(rate, Mapping) else rate.high
    if value is None:
        return "n/a"
    return f"{100 * value:5.1f}% [{100 * low:.0f}-{100 * high:.0f}]"
