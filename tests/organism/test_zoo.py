"""Which checkpoint an organism name resolves to, per seed: the shipped one only for its own seed (organism 0,
organism-planted and organism-v2 1), else a folder the zoo trained earlier; `organism-planted` and `organism-v2` of a
seed are built on `organism` of that seed."""

from __future__ import annotations

import json
from pathlib import Path

from organism import zoo
from organism.zoo import WEIGHTS_FILE, built, recipe_key, shipped, shipped_seed, trained_dir, weights_identity


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
    assert other == tmp_path / f"organism-seed1-{recipe_key('organism', 1)}" and built("organism", tmp_path, 1) == other


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


def _shipped_copy(tmp_path, monkeypatch, *names: str) -> Path:
    """The shipped checkpoints copied to a folder the zoo reads instead: an upgrade is a change there."""
    import shutil

    weights = tmp_path / "weights"
    for name in names:
        shutil.copytree(shipped(name), weights / name)
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", weights)
    return weights


def _rewrite_weights(folder: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / WEIGHTS_FILE)
    name = max(tensors)
    tensors[name] = tensors[name] + torch.ones_like(tensors[name])  # "retrained"
    save_file(tensors, folder / WEIGHTS_FILE, metadata={"format": "pt"})


def test_weights_identity_follows_the_weights_and_the_recipe_not_the_card(tmp_path, monkeypatch):
    weights = _shipped_copy(tmp_path, monkeypatch, "organism")
    shipped_id, planted_key = weights_identity("organism"), recipe_key("organism-planted", 0)
    assert weights_identity("organism", 1) == f"recipe-{recipe_key('organism', 1)}" != weights_identity("organism", 2)
    (weights / "organism" / "MODEL_CARD.md").write_text("the card rewritten\n")
    assert weights_identity("organism") == shipped_id and recipe_key("organism-planted", 0) == planted_key
    _rewrite_weights(weights / "organism")
    assert weights_identity("organism") != shipped_id
    # organism-planted of seed 0 is built on the shipped organism: its recipe key, and so its folder, follows it
    assert recipe_key("organism-planted", 0) != planted_key
    key = recipe_key("organism-planted", 0)
    assert trained_dir("organism-planted", tmp_path, 0).name == f"organism-planted-seed0-{key}"


def test_an_upgrade_of_the_shipped_weights_gets_a_new_run_folder(tmp_path, monkeypatch, capsys):
    """`harness run --model organism` after the package's weights changed neither resumes nor shows the old answers;
    a rewritten card alone resumes."""
    from harness.cli import main

    weights = _shipped_copy(tmp_path, monkeypatch, "organism")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    args = ["run", "--model", "organism", "--tasks", "smoke:text", "--max-new-tokens", "4", "--out",
            str(tmp_path / "runs"), "--no-progress"]

    def run_output() -> tuple[str, str]:
        assert main(args) == 0
        out = capsys.readouterr().out
        return next(line for line in out.splitlines() if line.startswith("run ")), out

    first, _ = run_output()
    assert " 0 cached" in first
    (weights / "organism" / "MODEL_CARD.md").write_text("the card rewritten\n")
    assert " 0 new" in run_output()[0]
    _rewrite_weights(weights / "organism")
    upgraded, out = run_output()
    assert " 0 cached" in upgraded and upgraded.split(":")[0] != first.split(":")[0]
    old_folder = tmp_path / "runs" / first.split(":")[0].removeprefix("run ")
    assert f"note: {old_folder} holds a run of organism with other weights" in out
