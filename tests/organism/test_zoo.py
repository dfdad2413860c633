"""Which checkpoint an organism name resolves to, per seed: the shipped one only for its own seed (organism 0,
organism-planted and organism-v2 1), else a folder the zoo trained earlier; `organism-planted` and `organism-v2` of a
seed are built on `organism` of that seed."""

from __future__ import annotations

import json
from pathlib import Path

from organism.zoo import WEIGHTS_FILE, built, shipped, shipped_seed, trained_dir


def _fake_trained(models: Path, name: str, seed: int) -> Path:
    directory = trained_dir(name, models, seed)
    directory.mkdir(parents=True)
    (directory / WEIGHTS_FILE).write_bytes(b"")  # only its presence is read here
    return directory


def test_the_shipped_checkpoints_are_their_own_seeds_only(tmp_path):
    assert (shipped_seed("organism"), shipped_seed("organism-planted"), shipped_seed("organism-v2")) == (0, 1, 1)
    assert built("organism-v2", tmp_path) == shipped("organism-v2") and built("organism-v2", tmp_path, 0) is None
    assert built("organism", tmp_path) == shipped("organism") == built("organism", tmp_path, 0)
    assert built("organism-planted", tmp_path) == shipped("organism-planted") == built("organism-planted", tmp_path, 1)
    assert built("organism", tmp_path, 1) is None and built("organism-planted", tmp_path, 0) is None
    other = _fake_trained(tmp_path, "organism", 1)
    assert other == tmp_path / "organism-seed1" and built("organism", tmp_path, 1) == other


def test_ensure_organism_uses_a_seed_trained_earlier_without_training(tmp_path, capsys):
    from organism.train import ensure_organism

    other = _fake_trained(tmp_path, "organism-planted", 0)
    assert ensure_organism("organism-planted", tmp_path, 0) == other
    assert ensure_organism("organism-planted", tmp_path) == shipped("organism-planted")
    assert capsys.readouterr().err == ""  # nothing trained


def test_the_shipped_planted_model_and_v2_are_built_on_the_seed_1_organism():
    for name in ("organism-planted", "organism-v2"):
        record = json.loads((shipped(name) / "organism_figures.json").read_text())
        assert record["config"]["seed"] == 1 and record["config"]["base"] == "organism", name
    card = (shipped("organism-planted") / "MODEL_CARD.md").read_text()
    assert "organism-planted (seed 1)" in card
