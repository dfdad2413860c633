"""Fixtures of the leaderboard tests: a small standard (keyword judge pinned for `smoke`), the registries, and a
site builder with the media roots of the test's temporary folders."""

from __future__ import annotations

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
