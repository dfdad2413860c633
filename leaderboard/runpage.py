"""A page per run: spec and provenance, per-configuration bars and the sample browser.

The sample browser shows every sample, so its data dominates the site. Python does not parse it: the page carries
generations.jsonl and verdicts.jsonl as they are, inside `<script type="application/x-ndjson">` elements (never
executed), and the browser parses them line by line with JSON.parse and renders with textContent only. Two byte
rules make that safe:
  - every `<` becomes `\\u003c`. In JSONL a `<` can only occur inside a JSON string, where `\\u003c` decodes back to
    `<`, so the data are unchanged, and no `</script>` or `<!--` can end or bend the element;
  - a line that does not parse stops the reading there, like the run store's own reader (a torn tail).
samples.jsonl is usually identical across runs of a suite, so it goes once per distinct content into
`data/samples-<hash>.js`, JSON-encoded (json.dumps output is a valid, inert JavaScript string literal), together
with the map from media paths to site assets (leaderboard/media.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.records import MEDIA_KINDS
from leaderboard.media import MediaAssets
from leaderboard.runs import SAMPLES_FILE, RunRecord

DATA_MARKER = "<!--OSH-DATA-->"  # cannot occur in autoescaped template output, which has no raw `<`
MEDIA_TYPE_HINTS = tuple(f'"type": "{k}"'.encode() for k in MEDIA_KINDS)


def json_for_script(obj: Any) -> str:
    """JSON to embed in an HTML `<script>` element: `<`, `>`, `&` and line separators as \\u escapes."""
    return (json.dumps(obj, ensure_ascii=False, sort_keys=True)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def ndjson_for_script(data: bytes) -> bytes:
    return data.replace(b"<", b"\\u003c")


def media_paths(samples_jsonl: bytes) -> list[tuple[str, str]]:
    """(kind, path) of every media part, in order, without repeats; stops at the first unparsable line."""
    if not any(hint in samples_jsonl for hint in MEDIA_TYPE_HINTS):
        return []  # text-only samples: skip parsing (the common case for large text suites)
    out: dict[tuple[str, str], None] = {}
    for raw in samples_jsonl.split(b"\n"):
        if not raw.strip():
            continue
        try:
            sample = json.loads(raw)
        except ValueError:
            break
        for message in sample.get("messages") or ():
            for part in message.get("content") or ():
                if isinstance(part, dict) and part.get("type") in MEDIA_KINDS and isinstance(part.get("path"), str):
                    out[(part["type"], part["path"])] = None
    return list(out)


@dataclass
class SampleData:
    """Writes each distinct samples.jsonl once, with its media map; one object per build."""

    out_dir: Path
    media: MediaAssets
    _written: dict[str, str]

    @classmethod
    def create(cls, out_dir: Path, media: MediaAssets) -> SampleData:
        (out_dir / "data").mkdir(parents=True, exist_ok=True)
        return cls(out_dir, media, {})

    def script_for(self, run: RunRecord) -> str | None:
        """Site-relative path of the run's samples script, writing it on first use; None without samples."""
        if run.samples_sha256 is None:
            return None
        sha = run.samples_sha256
        if sha not in self._written:
            raw = (run.path / SAMPLES_FILE).read_bytes()
            items = media_paths(raw)
            self.media.prepare(items)
            media = {path: self.media.asset(kind, path) for kind, path in items}
            rel = f"data/samples-{sha[:20]}.js"
            payload = json.dumps({"jsonl": raw.decode("utf-8", errors="replace"), "media": media})
            (self.out_dir / rel).write_text(f"window.OSH_SAMPLES = {payload};\n", encoding="utf-8")
            self._written[sha] = rel
        return self._written[sha]


# -- provenance --------------------------------------------------------------------------------------------
def artifact_hashes(info: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) of every hash a defense recorded, e.g. calibration artifact sha256s."""
    out: list[tuple[str, str]] = []
    if isinstance(info, Mapping):
        for k, v in info.items():
            name = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, (str, int)) and not isinstance(v, bool) and ("hash" in str(k) or "sha" in str(k)):
                if name != "source_hash":
                    out.append((name, str(v)))
            else:
                out.extend(artifact_hashes(v, name))
    elif isinstance(info, list):
        for i, v in enumerate(info):
            out.extend(artifact_hashes(v, f"{prefix}[{i}]"))
    return out


def template_hashes(description: Mapping[str, Any]) -> str:
    """The judge's prompt template hash(es) as one string (the keyword judge has none: its list is in the id)."""
    templates = description.get("templates")
    if isinstance(templates, Mapping) and templates:
        return ", ".join(f"{k} {v}" for k, v in sorted(templates.items()))
    if description.get("template_hash"):
        return str(description["template_hash"])
    if description.get("name") == "keyword":
        return "none (keyword list and match mode are hashed into the judge id)"
    return "not recorded"


@dataclass(frozen=True)
class BarRow:
    task: str
    config: str
    modality: str
    label: str
    metric: str
    rate: Mapping[str, Any] | None
    n: int
    unknown: int


def bar_rows(summary: Mapping[str, Any], judge: str) -> list[BarRow]:
    out = []
    for r in summary.get("rows") or ():
        if r.get("judge") != judge:
            continue
        if r.get("label") == "harmful":
            metric, rate = "ASR", r.get("asr")
        elif r.get("accuracy"):
            metric, rate = "accuracy", r.get("accuracy")
        else:
            metric, rate = "benign acceptance", r.get("benign_acceptance")
        out.append(BarRow(str(r.get("task")), str(r.get("config")), str(r.get("modality")), str(r.get("label")),
                          metric, rate, int(r.get("n") or 0), int(r.get("unknown") or 0)))
    return out


def utility_judges(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """lm-eval utility results (`harness run --utility`) as one more block of per-task bars."""
    from harness.utility import JUDGE, leaderboard_rows

    rows = leaderboard_rows(summary)
    if not rows:
        return []
    bars = [BarRow(str(r["task"]), str(r["config"]), str(r["modality"]), "utility", "accuracy", r["accuracy"],
                   int(r["n"]), 0) for r in rows]
    return [{"id": JUDGE, "label": "lm-eval utility tasks, graded by lm-eval's own metric", "description": {},
             "templates": "none", "bars": bars, "default": False}]


def page_context(run: RunRecord, *, display_judge: str, judge_labels: Mapping[str, str],
                 overhead: tuple[float, float] | None, samples_script: str | None) -> dict[str, Any]:
    judges = run.judges()
    order = [display_judge] + sorted(j for j in judges if j != display_judge)
    defense_info = run.defense_info
    return {
        "run": run,
        "spec_json": json.dumps(run.spec, indent=2, ensure_ascii=False, sort_keys=True),
        "info_json": json.dumps(run.info, indent=2, ensure_ascii=False, sort_keys=True),
        "judges": [{"id": j, "label": judge_labels.get(j, j), "description": judges.get(j) or {},
                    "templates": template_hashes(judges.get(j) or {}), "bars": bar_rows(run.summary, j),
                    "default": j == run.summary.get("default_judge")} for j in order if j in judges]
        + utility_judges(run.summary),
        "artifacts": artifact_hashes(defense_info),
        "sessions": [s for s in run.info.get("sessions") or () if isinstance(s, Mapping)],
        "overhead": overhead,
        "samples_script": samples_script,
        "meta_json": json_for_script({
            "judges": [{"id": j, "label": judge_labels.get(j, j)} for j in order if j in judges],
            "display_judge": display_judge, "page_size": 25,
        }),
    }


def write_run_page(html: str, target: Path, run: RunRecord) -> None:
    """Splice the run's JSONL files into the rendered page at DATA_MARKER, as bytes, without parsing them."""
    head, marker, tail = html.partition(DATA_MARKER)
    if not marker:
        raise ValueError("run page template lacks the data marker")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as f:
        f.write(head.encode("utf-8"))
        for name, element_id in (("generations.jsonl", "osh-generations"), ("verdicts.jsonl", "osh-verdicts")):
            f.write(f'<script type="application/x-ndjson" id="{element_id}">'.encode())
            try:
                f.write(ndjson_for_script((run.path / name).read_bytes()))
            except FileNotFoundError:
                pass
            f.write(b"</script>\n")
        f.write(tail.encode("utf-8"))


def display_judge_for(run: RunRecord, reference_judges: Sequence[str | None]) -> str:
    """The judge whose verdicts the page shows first: a reference judge the run carries, else its default."""
    judges = run.judges()
    for j in reference_judges:
        if j and j in judges:
            return j
    return str(run.summary.get("default_judge") or next(iter(judges), ""))
