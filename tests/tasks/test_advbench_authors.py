"""AdvBench-Omni as its authors ship it: their metadata/ folder (rebuilt from our synthetic files) loads to
exactly 11 x N harmful + 7 x M benign items with the instructions their runs give the model; everything else
in the folder is ignored and listed; unknown modalities are refused; their evaluation JSONL loads."""

import json
from collections import Counter

import pytest

from harness.run import default_registries
from tasks.base import TaskContext
from tasks.card import TaskDataError
from tests.support.advbench_authors import HARMFUL, benign_prompt, harmful_prompt, instruction, write_authors_metadata
from tests.support.task_data import write_jsonl

N, M = 3, 2


def task(tmp_path, data_root, name="advbench-omni"):
    return default_registries().tasks.get(name)(TaskContext(cache_dir=tmp_path / "cache", data_root=data_root))


@pytest.fixture
def authors(tmp_path):
    return write_authors_metadata(tmp_path / "data" / "advbench-omni", N, M)


def test_authors_folder_loads_exactly_the_advbench_omni_items(tmp_path, authors):
    t = task(tmp_path, tmp_path / "data")
    samples = t.load()
    counts = Counter((s.config, s.label) for s in samples)
    assert {c: counts[(c, "harmful")] for c in HARMFUL} == {c: N for c in HARMFUL}
    assert {c: n for (c, lab), n in counts.items() if lab == "benign"} == \
        {c: M for c in ("t", "i", "a", "v", "t2i", "t2a", "t2v")}
    assert len(samples) == 11 * N + 7 * M
    assert {s.source_id for s in samples if s.label == "harmful"} == {f"advbench/{k}" for k in range(N)}
    assert {s.source_id for s in samples if s.label == "benign"} == {f"omni-benign/{j}" for j in range(M)}
    ignored = {n.split(":")[0].removeprefix("ignored metadata/") for n in t.notes if n.startswith("ignored")}
    assert {"advbench.json", "advbench_seg.json", "benign_seg_vision.json", "alignment_data_adv_all_withmm.json",
            "alignment_data_mm_i.json", "alignment_data_figstep.json", "alignment_data_adv_seg_t2a_new.json",
            "adv_mm_t2ia.json", "benign_seg_image_formatted.json",
            "alignment_data_adv_seg_all_with_benign_final_new.json"} <= ignored
    assert not ignored & {"benign_prompt.json", "alignment_data_adv_i.json",
                          "alignment_data_adv_seg_all_with_benign_final.json"}
    assert any("FigStep" in n for n in t.notes) and any("MM-SafetyBench" in n for n in t.notes)


def test_instructions_are_the_ones_the_model_gets(tmp_path, authors):
    by = {(s.config, s.label, s.source_id): s for s in task(tmp_path, tmp_path / "data").load()}
    for cfg in ("t2i", "t2a", "t2v", "t2ia", "t2va"):
        assert by[(cfg, "harmful", "advbench/1")].text == instruction(cfg, 1)
    assert by[("t", "harmful", "advbench/2")].text == harmful_prompt(2)
    i = by[("i", "harmful", "advbench/0")]  # the image shows the prompt: no text, the prompt kept as metadata
    assert i.text == "" and i.modality == "image" and i.metadata["source_text"] == harmful_prompt(0)
    assert i.media[0].path == str(authors / "AdvBench" / "adv_i" / "0.png")  # authors' absolute path re-rooted
    a2i = by[("a2i", "harmful", "advbench/0")]  # spoken instruction: no typed text
    assert a2i.modality == "audio+image" and a2i.metadata["text_instruction"] == instruction("a2i", 0)
    for cfg, kind in (("i", "image"), ("a", "audio"), ("v", "video")):
        s = by[(cfg, "benign", "omni-benign/1")]
        assert s.text == f"Describe this {kind} in detail." and s.metadata["record_id"] == "safe_img_1"
    assert by[("t2a", "benign", "omni-benign/0")].metadata["record_id"] == "safe_audio_0"
    assert by[("t", "benign", "omni-benign/1")].text == benign_prompt(1)


def test_unknown_modality_is_refused_by_name(tmp_path, authors):
    path = authors / "metadata" / "alignment_data_adv_i.json"
    data = json.loads(path.read_text())
    data["cross_modal_test"][1]["modality"] = "image_mm"
    path.write_text(json.dumps(data))
    with pytest.raises(TaskDataError) as err:
        task(tmp_path, tmp_path / "data").load()
    msg = str(err.value)
    assert "\n" not in msg and "alignment_data_adv_i.json[1]" in msg and "unknown modality 'image_mm'" in msg


def test_unknown_modality_exits_2_before_any_model(tmp_path, authors, capsys):
    from harness.cli import main

    data = json.loads((authors / "metadata" / "alignment_data_adv_t.json").read_text())
    data["cross_modal_test"][0]["modality"] = "text_mm"
    (authors / "metadata" / "alignment_data_adv_t.json").write_text(json.dumps(data))
    rc = main(["run", "--model", "tiny-text", "--tasks", "advbench-omni:t", "--data-root",
               str(tmp_path / "data"), "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown modality 'text_mm'" in err and "Traceback" not in err


def test_evaluation_jsonl_layout(tmp_path, authors):
    data = authors / "data"
    write_jsonl(data / "advbench_t2a.jsonl", [  # the authors' runner input: id, type, modality, text, media
        {"id": k, "type": "harmful", "modality": "audio", "text": instruction("t2a", k),
         "audio": f"data/AdvBench/adv_seg_t2a/{k}.wav"} for k in range(N)])
    write_jsonl(data / "advbench_i.jsonl", [
        {"id": k, "type": "harmful", "modality": "image", "text": harmful_prompt(k),
         "image": f"data/AdvBench/adv_i/{k}.png"} for k in range(N)])
    write_jsonl(data / "benign_t2i.jsonl", [
        {"id": f"safe_image_{j}", "type": "safe", "modality": "image_text", "text": "What is shown here?",
         "image": f"data/Benign/{j}.png"} for j in range(M)])
    write_jsonl(data / "harmbench.jsonl", [{"id": 0, "type": "harmful", "modality": "text", "text": "other set"}])
    t = task(tmp_path, tmp_path / "data")
    samples = t.load()
    assert len(samples) == 11 * N + 7 * M  # the JSONL files replace the analysis files' items, never add to them
    by = {(s.config, s.label, s.source_id): s for s in samples}
    t2a = by[("t2a", "harmful", "advbench/2")]
    assert t2a.text == instruction("t2a", 2) and t2a.modality == "audio+text"
    assert t2a.media[0].path == str(authors / "data" / "AdvBench" / "adv_seg_t2a" / "2.wav")
    assert by[("i", "harmful", "advbench/0")].text == ""
    assert by[("t2i", "benign", "omni-benign/1")].text == "What is shown here?"
    assert any(n.startswith("ignored metadata/alignment_data_adv_seg_t2a.json: superseded by data/advbench_t2a")
               for n in t.notes)
    write_jsonl(data / "benign_v.jsonl", [{"id": 0, "type": "safe", "modality": "video_mm", "video": "x.mp4"}])
    with pytest.raises(TaskDataError, match=r"benign_v\.jsonl:1: unknown modality 'video_mm'"):
        task(tmp_path, tmp_path / "data").load()


def test_benign_card_takes_the_benign_half(tmp_path, authors):
    samples = task(tmp_path, tmp_path / "data", "advbench-omni-benign").load()
    assert len(samples) == 7 * M and {s.label for s in samples} == {"benign"}


def test_a_record_whose_label_contradicts_its_file_is_an_error(tmp_path, authors):
    write_jsonl(authors / "data" / "benign_a.jsonl", [
        {"id": 0, "type": "harmful", "modality": "audio", "text": "x", "audio": "data/a/0.wav"}])
    with pytest.raises(TaskDataError, match=r"benign_a\.jsonl:1: label harmful in a file of benign items"):
        task(tmp_path, tmp_path / "data").load()
