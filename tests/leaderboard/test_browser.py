"""The site in a real browser (Debian's chromium driven by Playwright), from file:// and from a static server
(the request handler `python -m http.server` uses, on 127.0.0.1).

Checks: no console errors, sorting by a header click, the filter, the run page and its sample browser, and that
model output with markup is shown as text and runs nothing. Saves test-artifacts/leaderboard-index.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from judges.keyword import KeywordJudge
from tests.support.browser import require_browser
from tests.support.leaderboard_runs import media_samples, refuse_every, text_samples, write_scored_run

require_browser()  # skips the module without chromium or playwright
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "leaderboard-index.png"
EVIL = ('<script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = \'img\'">'
        '</script><b>not bold</b>')


def evil(sample) -> str:
    return EVIL if sample.label == "harmful" else "Happy to help: here you go."


@pytest.fixture(scope="module")
def site(tmp_path_factory, media, standard_module, registries) -> Path:
    from leaderboard.build import build_site

    root = tmp_path_factory.mktemp("browser")
    runs = root / "runs"
    samples = (text_samples("smoke", "text", 20, 12) + media_samples("smoke", "image", "image", [media.image] * 2)
               + media_samples("smoke", "audio", "audio", [media.speech], label="benign"))
    write_scored_run(runs, samples, model="alpha", respond=evil)
    write_scored_run(runs, samples, model="alpha", defense="self-reminder", respond=refuse_every(2),
                     seconds_per_sample=0.02)
    write_scored_run(runs, samples, model="beta", respond=refuse_every(4))
    write_scored_run(runs, samples, model="beta", defense="self-reminder", respond=refuse_every(1),
                     seconds_per_sample=0.015)
    write_scored_run(runs, samples, model="gamma", respond=refuse_every(3))
    write_scored_run(runs, text_samples("smoke", "text", 4, 4), model="delta",
                     judges=[KeywordJudge(preset="omnisteer")])
    out = root / "site"
    build_site(runs, out, standard=standard_module, registries=registries, media_roots=[root, media.image.parent])
    return out


@pytest.fixture(scope="module")
def standard_module():
    from leaderboard.standard import parse_standard
    from tests.leaderboard.conftest import STANDARD

    return parse_standard(STANDARD, "test")


def main_rows(page) -> list[tuple[str, str]]:
    return [tuple(r) for r in page.eval_on_selector_all(
        "#main-table tbody tr:not([hidden])",
        "rows => rows.map(r => [r.querySelector('td[data-col=model]').dataset.v, "
        "r.querySelector('td[data-col=defense]').dataset.v])")]


def column_values(page, col: str) -> list[float]:
    return [float(v) for v in page.eval_on_selector_all(
        f"#main-table tbody tr td[data-col={col}]", "cells => cells.map(c => c.dataset.v)") if v]


def test_index_loads_without_console_errors(page, base):
    page.goto(base + "index.html")
    assert page.title().startswith("omni-safety harness")
    assert len(main_rows(page)) == 5
    assert page.locator("#separate-table tbody tr").count() == 1
    assert page.locator("figure.scatter svg g.pt").count() == 5
    assert page.errors == []
    if base.startswith("file:"):
        ARTIFACT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACT), full_page=True)


def test_clicking_a_header_sorts(page, base):
    page.goto(base + "index.html")
    header = page.locator('#main-table th[data-col="o-asr"]')
    header.click()
    asc = column_values(page, "o-asr")
    assert asc == sorted(asc) and len(asc) == 5 and asc[0] < asc[-1]
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert column_values(page, "o-asr") == sorted(asc, reverse=True)
    page.locator('#main-table th[data-col="model"]').click()
    assert [m for m, _ in main_rows(page)] == ["alpha", "alpha", "beta", "beta", "gamma"]
    assert page.errors == []


def test_the_filter_hides_rows(page, base):
    page.goto(base + "index.html")
    page.fill("#filter", "beta")
    assert main_rows(page) == [("beta", "none"), ("beta", "self-reminder")]
    assert page.locator("#main-table tbody tr[hidden]").count() == 3
    assert "2 of 5 rows" in page.inner_text("#shown-count")
    page.fill("#filter", "reminder")
    assert {d for _, d in main_rows(page)} == {"self-reminder"}
    page.fill("#filter", "")
    assert len(main_rows(page)) == 5


def test_metric_selector_switches_benchmark_cells(page, base):
    page.goto(base + "index.html")
    cell = page.locator("#main-table tbody tr").first.locator("td.cell").first
    assert cell.locator(".m-asr").is_visible() and not cell.locator(".m-bar").is_visible()
    page.select_option("#metric", "bar")
    assert cell.locator(".m-bar").is_visible() and not cell.locator(".m-asr").is_visible()


def test_run_page_shows_markup_in_model_output_as_text_and_runs_nothing(page, base):
    page.goto(base + "index.html")
    page.locator('#main-table th[data-col="model"]').click()
    page.locator("#main-table tbody tr").first.locator("a.run-link").click()  # alpha x none: the evil run
    page.wait_for_url("**/run/*.html")
    assert page.locator("h1").inner_text().startswith("alpha")
    page.select_option("#sb-label", "harmful")
    responses = page.locator("pre.response")
    assert responses.count() == 22 and responses.first.inner_text() == EVIL
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#sb-list img[src='x'], #sb-list script, #sb-list b").count() == 0
    images = page.eval_on_selector_all("#sb-list img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
    assert len(images) == 2 and all(done and width > 0 for done, width in images)
    assert page.errors == []


def test_sample_browser_paginates_and_filters(page, base):
    page.goto(base + "index.html")
    page.locator("a.run-link").first.click()
    page.wait_for_url("**/run/*.html")
    assert "page 1 of 2" in page.inner_text("#sb-page") and page.locator("article.sample").count() == 25
    assert page.locator("#sb-prev").is_disabled()
    page.click("#sb-next")
    assert "page 2 of 2" in page.inner_text("#sb-page") and page.locator("article.sample").count() == 10
    page.select_option("#sb-label", "benign")
    assert page.locator("article.sample").count() == 13 and page.locator("#sb-list audio").count() == 1
    page.fill("#sb-search", "benign request 7 ")
    assert page.locator("article.sample").count() == 1
    assert page.errors == []


def test_a_submitted_defense_has_its_row_on_the_page(page, submitted):
    """The end of the submission flow (tests/leaderboard/test_submit_e2e.py): the example plugin's row on the
    site that `harness leaderboard build` made from the maintainers' runs folder, and its run page."""
    page.goto(submitted.site.as_uri() + "/index.html")
    assert sorted(main_rows(page)) == [("organism", "my-defense"), ("organism", "none")]
    row = page.locator("#main-table tbody tr", has=page.locator('td[data-col=defense][data-v="my-defense"]'))
    assert row.count() == 1
    row.locator("a.run-link").first.click()
    page.wait_for_url("**/run/*.html")
    assert "my-defense" in page.inner_text("body")
    assert page.locator("article.sample").count() == 8  # organism-safety: 4 configurations x 2 labels, 1 each
    assert page.errors == []
