"""The example plugin in examples/my_defense: registered through an entry point (a dist-info written to a temp
folder on sys.path, exactly what `pip install` leaves), listed, and passing `harness check-defense`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_defense"


@pytest.fixture
def installed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    dist = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    points = project["entry-points"]["harness.defenses"]
    (dist / "entry_points.txt").write_text("[harness.defenses]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    yield
    sys.modules.pop("my_defense.defense", None)
    sys.modules.pop("my_defense", None)


def test_entry_point_registers_the_example(installed_example):
    from harness.run.registries import default_registries

    defenses = default_registries().defenses
    assert "my-defense" in defenses.names()
    assert defenses.origin("my-defense") == "entry-point:my-defense-example"
    from defenses.steering import is_steering

    assert is_steering(defenses.get("my-defense"))


def test_check_defense_runs_the_contract_on_the_plugin(installed_example, cache_dir, capsys):
    from harness.cli import main

    status = main(["check-defense", "my-defense", "--model", "tiny-text", "--cache-dir", str(cache_dir)])
    out = capsys.readouterr().out
    assert status == 0, out
    for check in ("setup", "strength-zero-identical", "hooks-removed", "hooks-removed-on-error", "positions",
                  "batched-equals-single"):
        assert f"PASS  {check}" in out
    assert "=> ok" in out


def test_check_defense_fails_with_status_1_when_a_check_fails(installed_example, cache_dir, capsys):
    from harness.cli import main

    # layer 5 does not exist in the 3-layer tiny model: setup fails, every other check is skipped.
    status = main(["check-defense", "my-defense", "--model", "tiny-text", "--cache-dir", str(cache_dir),
                   "--defense-param", "layer=5"])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL  setup" in out and "layer 5 is outside" in out and "SKIP  positions" in out
