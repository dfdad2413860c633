"""The example plugin in examples/my_defense: registered through an entry point (a dist-info written to a temp
folder on sys.path, exactly what `pip install` leaves), listed, and passing `harness check-defense`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.example_plugin import example_installed


@pytest.fixture
def installed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with example_installed(tmp_path / "site-packages", monkeypatch):
        yield


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


def test_check_defense_refuses_an_unknown_parameter_before_loading_a_model(installed_example, tmp_path, capsys):
    from harness.cli import main

    cache = tmp_path / "empty-cache"  # no tiny model built here: a model load would create <cache>/models
    assert main(["check-defense", "my-defense", "--model", "tiny-text", "--cache-dir", str(cache),
                 "--defense-param", "strenght=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "strenght" in err[0] and "strength" in err[0]
    assert not (cache / "models").exists()


def test_list_defenses_shows_the_plugin_with_its_origin(installed_example, capsys):
    from harness.cli import main

    assert main(["list", "defenses"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.split()[:1] == ["my-defense"])
    assert "entry-point:my-defense-example" in line
