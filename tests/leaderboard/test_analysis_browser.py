"""Model pages in a real browser: a site built from a runs folder holding a scored run of the organism and a real
`harness analyze` of it. The analysed model's row links to its page; every figure there loads (no broken SVG),
parses as SVG and has a title and labelled axes; from file:// and from a static server alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import require_browser
from tests.support.leaderboard_runs import refuse_every, text_samples, write_scored_run

require_browser()  # skips the module without chromium or playwright
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "leaderboard-model-page.png"


@pytest.fixture(scope="module")
def site(tmp_path_factory, cache_dir, registries) -> Path:
    from harness.cli import main
    from leaderboard.build import build_site
    from leaderboard.standard import parse_standard
    from tests.leaderboard.conftest import STANDARD

    root = tmp_path_factory.mktemp("analysis-site")
    runs = root / "runs"
    write_scored_run(runs, text_samples("smoke", "text", 6, 6), model="organism", respond=refuse_every(2))
    write_scored_run(runs, text_samples("smoke", "text", 6, 6), model="beta", respond=refuse_every(3))
    assert main(["analyze", "--model", "organism", "--tasks", "organism-calibration", "--limit", "6", "--layers",
                 "embed,0,3", "--positions", "last,content", "--out", str(runs), "--cache-dir", str(cache_dir),
                 "--no-progress"]) == 0
    out = root / "site"
    build_site(runs, out, standard=parse_standard(STANDARD, "test"), registries=registries, media_roots=[root])
    return out


def test_the_analysed_models_rows_link_to_its_page(page, base):
    page.goto(base + "index.html")
    links = page.eval_on_selector_all("#main-table td[data-col=model] a",
                                      "as => as.map(a => [a.textContent, a.getAttribute('href')])")
    assert links == [["organism", "model/organism.html"]]  # beta was not analysed: no link
    page.click("#main-table td[data-col=model] a")
    page.wait_for_url("**/model/organism.html")
    assert page.locator("h1").inner_text().startswith("organism")
    assert page.errors == []


def test_every_figure_loads_and_has_labelled_axes(page, base):
    page.goto(base + "model/organism.html")
    for summary in page.locator("details > summary").all():
        summary.click()  # open the histograms, so their lazy images load too
    page.evaluate("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")  # off-screen too
    page.wait_for_function("[...document.images].every(i => i.complete)")
    images = page.eval_on_selector_all("figure.analysis img",
                                       "imgs => imgs.map(i => [i.getAttribute('src'), i.naturalWidth])")
    assert len(images) >= 20
    broken = [src for src, width in images if not width]
    assert broken == []
    assert page.errors == []
    if base.startswith("file:"):
        ARTIFACT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACT), full_page=True)
    for src, _ in images:
        page.goto(base + "model/" + src)
        facts = page.evaluate("""() => {
            const root = document.documentElement;
            const text = sel => (document.querySelector(sel) || {}).textContent || '';
            return {tag: root.tagName, error: !!document.querySelector('parsererror'), title: text('.title'),
                    x: text('.xlabel'), y: text('.ylabel'), marks: document.querySelectorAll(
                    'polyline, circle, rect[fill-opacity]').length};
        }""")
        assert facts["tag"] == "svg" and not facts["error"], src
        assert facts["title"] and facts["x"] and facts["y"], (src, facts)
        assert facts["marks"] > 0, src  # something is drawn
