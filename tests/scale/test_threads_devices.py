"""--threads on every command that runs a model, and device strings the way torch spells them."""

import pytest

from harness.backends.hf_common import check_device
from harness.cli import build_parser, main
from harness.run.threads import apply_threads, default_threads


def test_default_threads_share_the_cores_between_the_ranks_of_a_node(monkeypatch):
    monkeypatch.setattr("harness.run.threads.usable_cores", lambda: 16)
    assert default_threads({"OMP_NUM_THREADS": "3", "LOCAL_WORLD_SIZE": "8"}) == 3  # the user's setting wins
    assert default_threads({"LOCAL_WORLD_SIZE": "8", "WORLD_SIZE": "16"}) == 2
    assert default_threads({"WORLD_SIZE": "4"}) == 4
    assert default_threads({}) == 16
    assert default_threads({"LOCAL_WORLD_SIZE": "32"}) == 1


def test_apply_threads_sets_torch(monkeypatch):
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    try:
        assert apply_threads(2) == 2 and torch.get_num_threads() == 2
        assert apply_threads(None) == 2  # OMP_NUM_THREADS was set to the applied value
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="--threads must be >= 1"):
        apply_threads(0)


MODEL_COMMANDS = [["run"], ["sweep", "g.yaml"], ["calibrate", "--defense", "regap"], ["check-defense", "none"],
                  ["score", "RUN", "--judge", "classifier"], ["organism", "eval", "organism"],
                  ["train", "omnisteer", "--data", "x"], ["organism", "train", "--out", "x"]]


@pytest.mark.parametrize("argv", MODEL_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_that_runs_a_model_takes_threads(argv):
    parser = build_parser()
    try:
        args = parser.parse_args([*argv, "--threads", "3"])
    except SystemExit:
        pytest.fail(f"`harness {' '.join(argv)}` does not take --threads")
    assert args.threads == 3


def test_zero_threads_is_a_one_line_error(capsys):
    assert main(["run", "--threads", "0", "--tasks", "smoke:text"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "harness: error: --threads must be >= 1, got 0"


@pytest.mark.parametrize("device", ["cpu", "cpu:0", "cuda", "cuda:3", "auto", "meta"])
def test_any_torch_device_string_is_accepted(device):
    check_device(device)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", ""])
def test_other_device_strings_are_refused(device):
    with pytest.raises(ValueError, match="torch device string"):
        check_device(device)


def test_tiny_model_generates_on_cpu_0(tiny_text_path):
    from harness.backends.hf_text import HFTextBackend
    from harness.records import GenerationConfig, Sample, user_message

    backend = HFTextBackend(str(tiny_text_path), device="cpu:0")
    backend.load()
    batch = backend.prepare([Sample(id="a", task="t", config="c", label="benign", messages=(user_message("hi"),))])
    out = backend.generate(batch, GenerationConfig(max_new_tokens=3))
    assert len(out) == 1 and out[0].n_new_tokens >= 1
