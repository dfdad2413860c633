"""`harness leaderboard build`: the static site from a runs folder.

    SITE/index.html          the table (main + separate), the safety-utility scatter, links to every run
    SITE/leaderboard.json    the same table as data; SITE/leaderboard.csv flattened
    SITE/run/<run>.html      a page per run (spec, provenance, bars, sample browser)
    SITE/model/<model>.html  a page per analysed model (RUNS/analyses/, written by `harness analyze`)
    SITE/data/samples-*.js   each distinct samples.jsonl once (shared by the runs of a suite)
    SITE/assets/media/       thumbnails and media copies (reused by later builds into the same folder)
    SITE/static/             CSS and JavaScript

The site has no absolute URLs, no fetch() and no external resources, so it works from file:// and from any
static file server alike.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.provenance import harness_version
from leaderboard.media import MediaAssets, MediaPolicy, default_roots
from leaderboard.runs import RunRecord, SkippedRun, load_runs
from leaderboard.standard import Standard, card_versions, load_standard, pinned_judges

if TYPE_CHECKING:
    from harness.registry import Registries
    from leaderboard.table import LeaderboardTable

SITE_MARKER = ".omni-safety-site"  # a folder holding this file was written by this builder and may be rebuilt
STATIC_FILES = ("site.css", "index.js", "run.js")


class SiteDirError(ValueError):
    """The output folder holds files that this builder did not write."""


@dataclass
class BuildResult:
    index: Path
    runs: int
    main_rows: int
    separate_rows: int
    skipped: list[SkippedRun] = field(default_factory=list)
    seconds: float = 0.0


def build_site(
    runs_dir: Path,
    out_dir: Path,
    *,
    standard: Standard | None = None,
    registries: Registries,
    media_roots: Sequence[Path] | None = None,
) -> BuildResult:
    t0 = time.perf_counter()
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    standard = standard or load_standard()
    _prepare(out_dir)
    records, skipped = load_runs(runs_dir)
    table = make_table(records, skipped, standard, registries)
    generated = time.strftime("%Y-%m-%d %H:%M %Z")
    env = _environment()
    common = {"standard_version": standard.version, "generated": generated, "harness_version": harness_version()}

    _write_exports(out_dir, table, generated)
    from leaderboard.analyses import load_analyses, write_model_pages

    model_pages = write_model_pages(env, out_dir, load_analyses(runs_dir)[0], common)
    _write_index(env, out_dir, table, records, skipped, {**common, "model_pages": model_pages})
    media = MediaAssets(out_dir, MediaPolicy(tuple(media_roots) if media_roots is not None
                                             else default_roots(runs_dir)))
    _write_run_pages(env, out_dir, table, records, media, common)
    return BuildResult(out_dir / "index.html", len(records), len(table.main), len(table.separate), skipped,
                       time.perf_counter() - t0)


def make_table(records: Sequence[RunRecord], skipped: Sequence[SkippedRun], standard: Standard,
               registries: Registries) -> LeaderboardTable:
    from leaderboard.table import build_table, compute_references

    pinned = pinned_judges(standard, registries)
    refs = compute_references(records, pinned.by_task, pinned.labels, card_versions(registries), standard.version)
    order = [t for suite in standard.suites.values() for t in suite.task_names()] + list(standard.pinned)
    return build_table(records, refs, task_order=list(dict.fromkeys(order)), standard_version=standard.version,
                       skipped=skipped)


# -- output folder -----------------------------------------------------------------------------------------
def _prepare(out_dir: Path) -> None:
    """Create or refresh the site folder; never touch a non-empty folder this builder did not write."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / SITE_MARKER).exists():
        raise SiteDirError(f"{out_dir} is not empty and was not written by `harness leaderboard build`; "
                           "choose an empty or new folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SITE_MARKER).write_text("written by harness leaderboard build\n")
    for stale in ("run", "data", "model"):  # pages of runs that are gone must go too; media assets are kept as a cache
        shutil.rmtree(out_dir / stale, ignore_errors=True)
    static = out_dir / "static"
    static.mkdir(exist_ok=True)
    for name in STATIC_FILES:
        (static / name).write_bytes(files("leaderboard").joinpath("static", name).read_bytes())


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    # Autoescape everything: every string on the site may come from a model output or a submitted file. Missing
    # fields render empty (older or partial run files must still build), so templates test what they show.
    env = Environment(loader=PackageLoader("leaderboard", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                      lstrip_blocks=True)
    return env



# -- pages -------------------------------------------------------------------------------------------------
def _write_exports(out_dir: Path, table: LeaderboardTable, generated: str) -> None:
    import json

    from leaderboard.export import table_csv, table_json

    (out_dir / "leaderboard.json").write_text(
        json.dumps(table_json(table, generated=generated), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "leaderboard.csv").write_text(table_csv(table), encoding="utf-8")


def _run_labels(records: Sequence[RunRecord]) -> dict[str, str]:
    labels = {}
    for r in records:
        tasks = "+".join(str(t.get("name")) for t in r.spec.get("tasks") or () if isinstance(t, dict)) or "run"
        labels[r.key] = f"{tasks} {r.run_id[-6:]}"
    return labels


def _write_index(env: Any, out_dir: Path, table: LeaderboardTable, records: Sequence[RunRecord],
                 skipped: Sequence[SkippedRun], common: dict[str, Any]) -> None:
    from leaderboard.scatter import scatter
    from leaderboard.table import METRIC_LABELS

    scatters = [s for s in (scatter(table.main, "bar", "benign acceptance"), scatter(table.main, "utility", "utility"))
                if s is not None]
    html = env.get_template("index.html.j2").render(
        root="", table=table, references=sorted(table.references.items()), metric_labels=METRIC_LABELS,
        scatters=scatters, runs=records, skipped=skipped, run_labels=_run_labels(records), **common)
    (out_dir / "index.html").write_text(html, encoding="utf-8")


def _write_run_pages(env: Any, out_dir: Path, table: LeaderboardTable, records: Sequence[RunRecord],
                     media: MediaAssets, common: dict[str, Any]) -> None:
    from leaderboard.overhead import run_overhead
    from leaderboard.runpage import SampleData, display_judge_for, page_context, write_run_page
    from leaderboard.table import judge_label

    template = env.get_template("run.html.j2")
    samples = SampleData.create(out_dir, media)
    descriptions: dict[str, Any] = {}
    for r in records:
        descriptions.update(r.judges())
    labels = {j: judge_label(j, {ref.judge: ref.judge_label for ref in table.references.values() if ref.judge},
                             descriptions) for j in descriptions}
    for run in records:
        refs = [table.references[t["name"]].judge for t in run.spec.get("tasks") or ()
                if isinstance(t, dict) and t.get("name") in table.references]
        context = page_context(run, display_judge=display_judge_for(run, refs), judge_labels=labels,
                               overhead=run_overhead(run, records) if run.defense != "none" else None,
                               samples_script=samples.script_for(run))
        defense_info = run.defense_info
        html = template.render(root="../", status=str(defense_info.get("status") or ""), defense_info=defense_info,
                               **context, **common)
        write_run_page(html, out_dir / "run" / f"{run.key}.html", run)
