from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One cache (tiny models, rendered media) for the whole test session."""
    path = tmp_path_factory.getbasetemp() / "harness-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
