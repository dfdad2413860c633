"""`harness compare RUN_A RUN_B`: paired McNemar tests between two runs judged by the same judge.

Samples are paired by id, and only when both runs hold the same sample (same prompt and media references); a
pair with an unknown verdict on either side is left out and counted. One row per task x configuration x label,
plus one pooled row per label.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.paired import metric_name, paired, success
from harness.records import Sample, Verdict


@dataclass(frozen=True)
class RunData:
    run_id: str
    samples: dict[str, Sample]
    verdicts: dict[str, dict[str, Verdict]]  # judge id -> sample id -> verdict
    default_judge: str | None


class JudgeChoiceError(ValueError):
    pass


def resolve_judge(a: RunData, b: RunData, wanted: str | None) -> str:
    """A judge id with verdicts in both runs: `wanted` as an id or a judge name, else run A's default judge."""
    common = sorted(a.verdicts.keys() & b.verdicts.keys())
    if not common:
        raise JudgeChoiceError(f"runs {a.run_id} and {b.run_id} share no judge; score both with the same judge "
                               "first (harness score RUN --judge J)")
    if wanted is None:
        if a.default_judge in common:
            return a.default_judge  # type: ignore[return-value]
        if len(common) == 1:
            return common[0]
        raise JudgeChoiceError(f"several judges in both runs, pick one with --judge: {', '.join(common)}")
    if wanted in common:
        return wanted
    named = [j for j in common if j.split("@", 1)[0] == wanted]
    if len(named) == 1:
        return named[0]
    hint = f"ambiguous, candidates: {', '.join(named)}" if named else f"judges in both runs: {', '.join(common)}"
    raise JudgeChoiceError(f"judge {wanted!r} not usable for this comparison ({hint})")


def compare_runs(a: RunData, b: RunData, judge: str) -> dict[str, Any]:
    va, vb = a.verdicts[judge], b.verdicts[judge]
    shared = sorted(a.samples.keys() & b.samples.keys())
    mismatched = [i for i in shared if a.samples[i].to_dict() != b.samples[i].to_dict()]
    bad = set(mismatched)
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for i in shared:
        if i not in bad:
            s = a.samples[i]
            groups[(s.task, s.config, s.label)].append(i)

    rows: list[dict[str, Any]] = []
    pooled: dict[str, tuple[dict[str, bool], dict[str, bool], int, dict[str, Verdict]]] = {}
    for (task, config, label), ids in sorted(groups.items()):
        oa, ob, unknown = _outcomes(ids, label, va, vb)
        present = {i: va[i] for i in ids if i in va}
        rows.append({"task": task, "config": config, "label": label, "metric": metric_name(label, present),
                     "unpaired": unknown, **paired(oa, ob).to_dict()})
        pa, pb, pu, pv = pooled.setdefault(label, ({}, {}, 0, {}))
        pa.update(oa)
        pb.update(ob)
        pv.update(present)
        pooled[label] = (pa, pb, pu + unknown, pv)
    totals = [{"task": "(all)", "config": "(all)", "label": label, "metric": metric_name(label, pv),
               "unpaired": pu, **paired(pa, pb).to_dict()}
              for label, (pa, pb, pu, pv) in sorted(pooled.items())]
    return {
        "run_a": a.run_id, "run_b": b.run_id, "judge": judge,
        "only_in_a": len(a.samples.keys() - b.samples.keys()), "only_in_b": len(b.samples.keys() - a.samples.keys()),
        "mismatched_samples": mismatched,
        "rows": rows, "totals": totals,
    }


def _outcomes(ids: Sequence[str], label: str, va: Mapping[str, Verdict],
              vb: Mapping[str, Verdict]) -> tuple[dict[str, bool], dict[str, bool], int]:
    oa: dict[str, bool] = {}
    ob: dict[str, bool] = {}
    left_out = 0
    for i in ids:
        xa = success(label, va[i]) if i in va else None
        xb = success(label, vb[i]) if i in vb else None
        if xa is None or xb is None:
            left_out += 1
            continue
        oa[i], ob[i] = xa, xb
    return oa, ob, left_out


def format_comparison(result: Mapping[str, Any]) -> str:
    header = ("task", "config", "label", "metric", "pairs", "A", "B", "A only", "B only", "p exact", "p chi2",
              "unpaired")
    lines = [header]
    for r in [*result["rows"], *result["totals"]]:
        lines.append((r["task"], r["config"], r["label"], r["metric"], str(r["n"]), _pct(r["rate_a"]),
                      _pct(r["rate_b"]), str(r["only_a"]), str(r["only_b"]), f"{r['p_exact']:.4g}",
                      f"{r['p_chi2']:.4g}", str(r["unpaired"])))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = [f"A = {result['run_a']}", f"B = {result['run_b']}", f"judge: {result['judge']}  (McNemar, two-sided)"]
    for k, row in enumerate(lines):
        out.append("  ".join(c.ljust(w) if j < 4 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    if result["mismatched_samples"]:
        out.append(f"NOTE: {len(result['mismatched_samples'])} sample id(s) differ in content between the runs "
                   "and were left out")
    if result["only_in_a"] or result["only_in_b"]:
        out.append(f"NOTE: samples only in A: {result['only_in_a']}, only in B: {result['only_in_b']} (not paired)")
    return "\n".join(out)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
