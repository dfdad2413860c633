"""The judge-reply corpus (tests/judges/corpus/*.jsonl) through the real template parsers.

Bounds (issue 14): on replies that state one verdict at most 3 % unknown per format and template, no reply
parsed to a verdict other than the one it states, and every reply without a single verdict stays unknown.
Run with `-s` to see the figures:

    .venv/bin/python -m pytest -q -s tests/judges/test_corpus.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from judges.parsing import Parsed
from judges.templates import TEMPLATES
from tests.judges.corpus import make_corpus
from tests.judges.corpus.reference_rules import reference_verdict

CORPUS = Path(make_corpus.__file__).resolve().parent
FORMAT_TEMPLATES = {
    "safe_unsafe": ("safety", "safety_query", "osb_safe"),
    "refusal_normal": ("over_refusal",),
    "correct_incorrect": ("mcq",),
    "true_false": ("osb_understood", "osb_refused"),
    "score_1_5": ("video_rubric",),
    "rubric": ("strongreject",),
}
MIN_REPLIES = 150
MAX_UNKNOWN = 0.03


def load(name: str) -> list[dict[str, Any]]:
    lines = (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def verdict(template: str, parsed: Parsed | None) -> Any:
    """What a parsed reply says, in the corpus's terms: a label, a score, the rubric grades, or unknown."""
    if parsed is None:
        return "unknown"
    if template == "video_rubric":
        return parsed.detail["score"]
    if template == "strongreject":
        return {k: parsed.detail[k] for k in ("refused", "convincing", "specific")}
    return parsed


def expected(template: str, value: Any) -> Any:
    # A label is compared through the template's own mapping of the bare word (e.g. NORMAL -> `safe`).
    if value == "unknown" or template in ("video_rubric", "strongreject"):
        return value
    return TEMPLATES[template].parse(value)


def figures(name: str, template: str) -> dict[str, Any]:
    stated = unknown = flipped = 0
    ambiguous = decided = 0
    problems: list[str] = []
    for row in load(name):
        got = verdict(template, TEMPLATES[template].parse(row["reply"]))
        want = expected(template, row["expected"])
        if want == "unknown":
            ambiguous += 1
            if got != "unknown":
                decided += 1
                problems.append(f"ambiguous reply decided: {row['id']} ({row['style']}) -> {got}")
        else:
            stated += 1
            if got == "unknown":
                unknown += 1
                problems.append(f"unknown: {row['id']} ({row['style']}) {row['reply']!r}")
            elif got != want:
                flipped += 1
                problems.append(f"flipped: {row['id']} ({row['style']}) {row['reply']!r} -> {got}")
    return {"stated": stated, "unknown": unknown, "flipped": flipped, "ambiguous": ambiguous,
            "ambiguous_decided": decided, "problems": problems}


def reference_figures(name: str) -> dict[str, int] | None:
    """The same counts for the reference parser's rule (tests/judges/corpus/reference_rules.py)."""
    rows = load(name)
    if reference_verdict(name, "") is None:
        return None
    stated = [r for r in rows if r["expected"] != "unknown"]
    got = [reference_verdict(name, r["reply"]) for r in stated]
    return {"unknown": sum(g == "unknown" for g in got),
            "flipped": sum(g not in ("unknown", r["expected"]) for g, r in zip(got, stated, strict=True)),
            "ambiguous_decided": sum(reference_verdict(name, r["reply"]) != "unknown"
                                     for r in rows if r["expected"] == "unknown")}


def test_committed_corpus_is_what_the_generator_writes():
    for name, rows in make_corpus.build().items():
        assert (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8") == make_corpus.dumps(rows), name
    assert set(make_corpus.build()) == set(FORMAT_TEMPLATES)


@pytest.mark.parametrize("name", sorted(FORMAT_TEMPLATES))
def test_corpus_size_per_format(name):
    rows = load(name)
    assert len(rows) >= MIN_REPLIES
    assert len({r["reply"] for r in rows}) == len(rows)
    assert any(r["expected"] == "unknown" for r in rows) and any(r["expected"] != "unknown" for r in rows)


def test_corpus_figures_hold_for_every_template():
    report = [f"{'format':<18} {'template':<15} {'replies':>7} {'stated':>6} {'unknown':>8} {'rate':>6} "
              f"{'flipped':>7} {'ambiguous':>9} {'decided':>7}"]
    failures: list[str] = []
    for name, templates in FORMAT_TEMPLATES.items():
        for template in templates:
            f = figures(name, template)
            rate = f["unknown"] / f["stated"]
            report.append(f"{name:<18} {template:<15} {f['stated'] + f['ambiguous']:>7} {f['stated']:>6} "
                          f"{f['unknown']:>8} {rate:>6.1%} {f['flipped']:>7} {f['ambiguous']:>9} "
                          f"{f['ambiguous_decided']:>7}")
            if rate > MAX_UNKNOWN or f["flipped"] or f["ambiguous_decided"]:
                failures += [f"{template}: {p}" for p in f["problems"]]
    report.append("reference rule on the same replies (unknown / flipped / ambiguous decided):")
    for name in FORMAT_TEMPLATES:
        ref = reference_figures(name)
        report.append(f"  {name:<18} " + ("no reference parser" if ref is None else
                                          f"{ref['unknown']} / {ref['flipped']} / {ref['ambiguous_decided']}"))
    print("\n" + "\n".join(report))
    assert not failures, "\n".join(failures)
