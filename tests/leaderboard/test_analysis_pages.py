"""Model pages without a browser: which analysis folders the site picks up, what the page and the table link hold,
and that a rebuild drops the page of an analysis that is gone."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.leaderboard_runs import refuse_every, text_samples, write_scored_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    from harness.cli import main

    root = tmp_path_factory.mktemp("analysis-pages") / "runs"
    write_scored_run(root, text_samples("smoke", "text", 4, 4), model="organism", respond=refuse_every(2))
    assert main(["analyze", "--model", "organism", "--tasks", "organism-calibration", "--limit", "6", "--layers",
                 "embed,0", "--out", str(root), "--cache-dir", str(cache_dir), "--no-progress"]) == 0
    return root


def test_only_complete_analyses_are_picked_up(runs, tmp_path):
    from leaderboard.analyses import load_analyses

    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    (copy / "analyses" / "unfinished").mkdir()
    (copy / "analyses" / "unfinished" / "state.pt").write_bytes(b"")
    (copy / "analyses" / "other").mkdir()
    (copy / "analyses" / "other" / "analysis.json").write_text(json.dumps({"schema": "something-else/1"}))
    found, skipped = load_analyses(copy)
    assert [a.model for a in found] == ["organism"]
    assert len(found[0].figures) == len(found[0].doc["figures"]) > 10
    assert sorted((p.name, why.split(" (")[0]) for p, why in skipped) == [
        ("other", "not an analysis"), ("unfinished", "no analysis.json")]


def test_the_site_has_a_model_page_linked_from_the_models_rows(runs, tmp_path, registries):
    from leaderboard.build import build_site
    from leaderboard.standard import parse_standard
    from tests.leaderboard.conftest import STANDARD

    site = tmp_path / "site"
    standard = parse_standard(STANDARD, "test")
    build_site(runs, site, standard=standard, registries=registries, media_roots=[runs])
    page = (site / "model" / "organism.html").read_text()
    (analysis,) = (runs / "analyses").iterdir()
    assert analysis.name in page and 'src="organism/' in page
    for fig in json.loads((analysis / "analysis.json").read_text())["figures"]:
        name = fig.split("/")[-1]
        assert (site / "model" / "organism" / analysis.name / name).read_text().startswith("<svg")
        assert f"{analysis.name}/{name}" in page
    assert 'href="model/organism.html"' in (site / "index.html").read_text()
    # The analysis removed: the next build drops its page and the link.
    moved = tmp_path / "kept"
    shutil.move(str(runs / "analyses"), moved)
    try:
        build_site(runs, site, standard=standard, registries=registries, media_roots=[runs])
    finally:
        shutil.move(str(moved), runs / "analyses")
    assert not (site / "model").exists() or not any((site / "model").iterdir())
    assert "model/organism.html" not in (site / "index.html").read_text()
