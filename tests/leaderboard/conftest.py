"""Fixtures of the leaderboard tests: a small standard (keyword judge pinned for `smoke`), the registries, and a
site builder with the media roots of the test's temporary folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leaderboard.standard import Standard, parse_standard

STANDARD: dict[str, Any] = {
    "schema": "leaderboard.standard/1",
    "version": "test-1",
    "judges": {"keyword": {"judge": "keyword", "params": {}, "label": "keyword refusal proxy (test)"}},
    "pinned_judges": {"smoke": "keyword"},
    "suites": {"tiny": {"models": ["*"], "tasks": ["smoke:text"], "limit": None, "max_new_tokens": 32, "seed": 0,
                        "batch_size": 8}},
    "contract": {"model": "tiny-omni"},
}


@pytest.fixture(scope="session")
def registries():
    from harness.run.registries import default_registries

    return default_registries()


@pytest.fixture
def standard() -> Standard:
    return parse_standard(STANDARD, "test")


@pytest.fixture
def build(standard, registries, tmp_path: Path):
    """build(runs_dir, out=None) -> BuildResult, media allowed from the test's tmp_path only."""
    from leaderboard.build import build_site

    def run(runs_dir: Path, out: Path | None = None):
        return build_site(runs_dir, out or tmp_path / "site", standard=standard, registries=registries,
                          media_roots=[tmp_path])

    return run


@dataclass(frozen=True)
class Submitted:
    """What the end-to-end submission left: the bundle, the standard file used, the maintainers' runs folder
    after `leaderboard add`, the built site, and what each command printed."""

    bundle: Path
    standard: Path
    board: Path
    site: Path
    output: str


def small_standard(path: Path) -> Path:
    """The packaged standard with one change: its `organism` suite takes 1 sample per task x configuration x label
    (a real standard file, so `submit`, `add` and `build` all take the strict path, no --allow-nonstandard)."""
    import yaml
    from importlib.resources import files

    data = yaml.safe_load(files("leaderboard").joinpath("standard.yaml").read_text(encoding="utf-8"))
    data["suites"]["organism"]["limit"] = 1
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")  # suite order matters
    return path


@pytest.fixture(scope="session")
def submitted(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Submitted:
    """examples/my_defense installed as a plugin -> `harness submit --model organism` -> bundle -> `harness
    leaderboard add` -> `harness leaderboard build`, all through `harness.cli.main`, nothing of ours replaced."""
    import contextlib
    import io

    from harness.cli import main
    from tests.support.example_plugin import example_installed

    root = tmp_path_factory.mktemp("submission")
    standard = small_standard(root / "standard.yaml")
    bundle, board, site = root / "submission.zip", root / "board", root / "site"
    commands = [
        ["submit", "--defense", "my-defense", "--model", "organism", "--runs", str(root / "runs"), "--out",
         str(bundle), "--cache-dir", str(cache_dir), "--standard", str(standard), "--no-progress"],
        ["leaderboard", "add", str(bundle), "--runs", str(board), "--standard", str(standard),
         "--cache-dir", str(cache_dir), "--verify-samples"],
        ["leaderboard", "build", "--runs", str(board), "--out", str(site), "--standard", str(standard),
         "--media-root", str(cache_dir)],
    ]
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, example_installed(root / "site-packages", mp):
        for argv in commands:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                status = main(argv)
            assert status == 0, f"harness {' '.join(argv)} exited {status}:\n{out.getvalue()}"
    return Submitted(bundle, standard, board, site, out.getvalue())


# -- the browser tests' fixtures (each browser test module defines the `site` they serve) ----------------------
@pytest.fixture(scope="module")
def server(site: Path):
    from tests.support.browser import serve

    with serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser_context():
    from tests.support.browser import chromium_context, require_browser

    with chromium_context(require_browser()) as context:
        yield context


@pytest.fixture(params=["file", "http"])
def base(request, site: Path) -> str:
    """The site from file:// and from a static server."""
    return site.as_uri() + "/" if request.param == "file" else request.getfixturevalue("server")


@pytest.fixture
def page(browser_context):
    from tests.support.browser import open_page

    page = open_page(browser_context)
    yield page
    page.close()
