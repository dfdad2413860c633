"""The authors' evaluation JSONL for the other benchmarks they ship in it (`omnisteer-eval`): what the model
gets follows `modality` as in their runner; labels from `type`; per-benchmark judge templates; unknown
modalities refused by name. Files written from our own synthetic rows."""

import pytest

from harness.run import default_registries
from tasks.base import TaskContext
from tasks.card import TaskDataError
from tasks.check import check_task
from tests.support.task_data import audio_bytes, png_bytes, write, write_jsonl


def task(tmp_path):
    return default_registries().tasks.get("omnisteer-eval")(
        TaskContext(cache_dir=tmp_path / "cache", data_root=tmp_path / "data"))


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "data" / "omni-safety-research"
    write(root / "data" / "Harmbench-Audio" / "0.wav", audio_bytes())
    write(root / "data" / "HolisafeBench" / "a" / "1.png", png_bytes())
    write(root / "data" / "MMVet" / "images" / "v1_0.png", png_bytes("blue"))
    write_jsonl(root / "data" / "harmbench_audio.jsonl", [
        {"id": 0, "type": "harmful", "modality": "audio", "text": "a synthetic spoken request",
         "audio": "data/Harmbench-Audio/0.wav"}])
    write_jsonl(root / "data" / "holisafe.jsonl", [
        {"id": 0, "type": "harmful", "modality": "image_text", "text": "What does the image suggest doing?",
         "image": "data/HolisafeBench/a/1.png"},
        {"id": 1, "type": "safe", "modality": "image_text", "text": "Describe the picture.",
         "image": "data/HolisafeBench/a/1.png"}])
    write_jsonl(root / "data" / "mmvet.jsonl", [  # an absolute path of the authors' machine
        {"id": 0, "type": "safe", "modality": "image_text", "text": "What is x?",
         "image": "/mnt/author/EOSA/data/MMVet/images/v1_0.png"}])
    write_jsonl(root / "data" / "beavertail_test.jsonl", [
        {"id": 0, "type": "harmful", "modality": "text", "text": "synthetic harmful question"},
        {"id": 1, "type": "safe", "modality": "text", "text": "synthetic harmless question"}])
    return root


def test_evaluation_jsonl_loads_as_the_authors_runner_reads_it(tmp_path, repo):
    samples = task(tmp_path).load(["harmbench-audio", "holisafe", "mm-vet", "beavertails"])
    by = {(s.config, s.label): s for s in samples}
    assert set(by) == {("harmbench-audio", "harmful"), ("holisafe", "harmful"), ("holisafe", "benign"),
                       ("mm-vet", "benign"), ("beavertails", "harmful"), ("beavertails", "benign")}
    audio = by[("harmbench-audio", "harmful")]
    assert audio.modality == "audio" and audio.text == ""  # `audio` names no text: the runner passes none
    assert audio.metadata["transcript"] == "a synthetic spoken request"
    assert audio.media[0].path == str(repo / "data" / "Harmbench-Audio" / "0.wav")
    holi = by[("holisafe", "harmful")]
    assert holi.modality == "image+text" and holi.metadata["judge_template"] == "safety_query"
    assert "judge_template" not in by[("beavertails", "harmful")].metadata
    assert by[("mm-vet", "benign")].media[0].path == str(repo / "data" / "MMVet" / "images" / "v1_0.png")
    assert by[("beavertails", "benign")].source_id == "beavertails/1"
    result = check_task(default_registries(), "omnisteer-eval:harmbench-audio,holisafe,mm-vet",
                        TaskContext(cache_dir=tmp_path / "cache", data_root=tmp_path / "data"))
    assert result.ok, (result.error, result.problems)


def test_unknown_modality_and_missing_file(tmp_path, repo):
    write_jsonl(repo / "data" / "harmbench.jsonl", [{"id": 0, "type": "harmful", "modality": "text_mm", "text": "x"}])
    with pytest.raises(TaskDataError) as err:
        task(tmp_path).load(["harmbench"])
    assert "\n" not in str(err.value) and "harmbench.jsonl:1: unknown modality 'text_mm'" in str(err.value)
    with pytest.raises(TaskDataError, match="pair_audio.jsonl not found"):
        task(tmp_path).load(["pair-audio"])
