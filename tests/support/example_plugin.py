"""The example plugin in examples/my_defense, installed the way `pip install` leaves it: a dist-info folder with
its entry points on sys.path, and its source folder importable. Nothing of the plugin is replaced."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_defense"


def write_dist_info(site: Path) -> Path:
    """The dist-info `pip install` writes for the example (name, version, entry points from its pyproject)."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    points = project["entry-points"]["harness.defenses"]
    (dist / "entry_points.txt").write_text("[harness.defenses]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))
    return dist


@contextmanager
def example_installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Within the block, `my-defense` is registered through its entry point and `my_defense` imports; the
    monkeypatch undoes the sys.path changes when its owner ends."""
    write_dist_info(site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    try:
        yield site
    finally:
        for name in ("my_defense.defense", "my_defense"):
            sys.modules.pop(name, None)
