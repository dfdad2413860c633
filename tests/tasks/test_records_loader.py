"""The generic `records` loader: field mapping through `datasets`, checked against the table's columns."""

import json
import shutil

import pytest
import yaml

from harness.run.registries import default_registries
from tasks.base import TaskContext
from tasks.card import CardError, TaskDataError
from tests.support.task_data import png_bytes, write, write_jsonl, write_parquet_snapshot


def card(folder, **card):
    name = card["name"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return folder


def load(tmp_path, cards_dir, data_root, selector, cache=None):
    reg = default_registries([cards_dir]).tasks
    name, _, configs = selector.partition(":")
    task = reg.get(name)(TaskContext(cache_dir=cache or tmp_path / "cache", data_root=data_root))
    return task.load([c for c in configs.split(",") if c])


JSONL_CARD = dict(
    name="jl", version="1",
    source={"local": "jl", "data_files": "items.jsonl", "media_root": "pics"},
    fields={"id": "qid", "text": "question", "image": "img", "category": "cat",
            "metadata": ["extra", "maybe?"]},
    label={"column": "kind", "map": {"ok": "benign"}, "default": "harmful"},
    configurations={"all": None, "only-a": {"filter": {"cat": "a"}}},
    groups={"both": ["all", "only-a"]},
)


@pytest.fixture
def jsonl_data(tmp_path):
    root = tmp_path / "data" / "jl"
    rows = [{"qid": i, "question": f"q{i}", "img": f"{i}.png", "cat": "ab"[i % 2], "kind": "ok" if i == 0 else "bad",
             "extra": i * 10} for i in range(4)]
    write_jsonl(root / "items.jsonl", rows)
    for i in range(4):
        write(root / "pics" / f"{i}.png", png_bytes())
    return root


def test_field_mapping_labels_filters_and_paths(tmp_path, jsonl_data):
    cards = card(tmp_path / "cards", **JSONL_CARD)
    samples = load(tmp_path, cards, tmp_path / "data", "jl")
    assert [s.config for s in samples] == ["all"] * 4 + ["only-a"] * 2
    first = samples[0]
    assert first.text == "q0" and first.label == "benign" and first.category == "a"
    assert first.media[0].path == str(jsonl_data / "pics" / "0.png")
    assert first.metadata == {"extra": 0, "record_id": "0"}  # `maybe?` is optional and absent
    assert first.source_id == "0" and first.modality == "image+text"
    assert [s.label for s in samples[:4]] == ["benign", "harmful", "harmful", "harmful"]
    assert first.id.startswith("jl/all/benign/") and len({s.id for s in samples}) == 6
    assert [s.config for s in load(tmp_path, cards, tmp_path / "data", "jl:both")] == [s.config for s in samples]


def test_ids_depend_on_content_not_on_location_or_order(tmp_path, jsonl_data):
    cards = card(tmp_path / "cards", **JSONL_CARD)
    ids = [s.id for s in load(tmp_path, cards, tmp_path / "data", "jl:all")]
    moved = tmp_path / "elsewhere" / "jl"
    shutil.copytree(jsonl_data, moved)
    lines = (moved / "items.jsonl").read_text().splitlines()
    (moved / "items.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    again = load(tmp_path, cards, tmp_path / "elsewhere", "jl:all", cache=tmp_path / "other-cache")
    assert sorted(s.id for s in again) == sorted(ids)
    rows = [json.loads(x) for x in lines]
    rows[1]["question"] = "changed"
    write_jsonl(moved / "items.jsonl", rows)
    changed = load(tmp_path, cards, tmp_path / "elsewhere", "jl:all", cache=tmp_path / "other-cache")
    assert len(set(s.id for s in changed) ^ set(ids)) == 2  # exactly the edited item changed its id


def test_wrong_field_name_names_the_field_and_the_columns(tmp_path, jsonl_data):
    cards = card(tmp_path / "cards", **{**JSONL_CARD, "fields": {**JSONL_CARD["fields"], "text": "questoin"}})
    with pytest.raises(CardError) as err:
        load(tmp_path, cards, tmp_path / "data", "jl")
    msg = str(err.value)
    assert "fields.text refers to column 'questoin'" in msg and "items.jsonl" in msg and "question" in msg
    assert "jl.yaml" in msg


def test_template_and_metadata_columns_are_checked(tmp_path, jsonl_data):
    bad = {**JSONL_CARD, "fields": {**JSONL_CARD["fields"], "image": {"template": "{{ imge }}"}}}
    with pytest.raises(CardError, match=r"fields\.image\.template refers to column 'imge'"):
        load(tmp_path, card(tmp_path / "c1", **bad), tmp_path / "data", "jl")
    bad = {**JSONL_CARD, "fields": {**JSONL_CARD["fields"], "metadata": ["extra", "missing"]}}
    with pytest.raises(CardError, match=r"fields\.metadata\.missing refers to column 'missing'"):
        load(tmp_path, card(tmp_path / "c2", **bad), tmp_path / "data", "jl")
    bad = {**JSONL_CARD, "configurations": {"x": {"filter": {"kat": "a"}}}, "groups": {}}
    with pytest.raises(CardError, match=r"configurations\.x\.filter refers to column 'kat'"):
        load(tmp_path, card(tmp_path / "c3", **bad), tmp_path / "data", "jl")


def test_unmapped_label_and_empty_media_are_row_problems(tmp_path, jsonl_data):
    rows = [{"qid": 9, "question": "q", "img": "", "cat": "a", "kind": "weird", "extra": 1}]
    write_jsonl(jsonl_data / "items.jsonl", rows)
    strict = {**JSONL_CARD, "label": {"column": "kind", "map": {"ok": "benign"}}}
    with pytest.raises(TaskDataError) as err:
        load(tmp_path, card(tmp_path / "cards", **strict), tmp_path / "data", "jl:all")
    assert "items.jsonl row 0" in str(err.value) and "fields.image is empty" in str(err.value)


HUB_CARD = dict(
    name="hubby", version="1",
    source={"hub": "someone/hubby", "hub_status": "confirmed", "local": "hubby", "split": "test"},
    fields={"id": "index",
            "text": {"template": "{{ question }}\n{% for o in options %}{{ loop.index }}) {{ o }}\n{% endfor %}"},
            "image": "image", "audio": "audio", "reference": {"template": "{{ options.index(answer) }}"},
            "category": "task type"},
    label="utility",
    configurations={"all": None},
)


def test_hub_snapshot_with_embedded_media_and_unknown_split(tmp_path):
    rows = [{"index": i, "question": f"Q{i}", "options": ["x", "y"], "answer": "xy"[i], "task type": "T",
             "image": {"bytes": png_bytes(("red", "blue")[i]), "path": None},
             "audio": {"bytes": b"RIFF" + bytes(40), "path": f"clip{i}.wav"}} for i in range(2)]
    write_parquet_snapshot(tmp_path / "data" / "hubby", "test", rows, {"image": "image", "audio": "audio"})
    cards = card(tmp_path / "cards", **HUB_CARD)
    samples = load(tmp_path, cards, tmp_path / "data", "hubby")
    assert [s.text for s in samples] == ["Q0\n1) x\n2) y", "Q1\n1) x\n2) y"]
    assert [s.reference for s in samples] == ["0", "1"] and samples[0].category == "T"
    image, audio = samples[0].media[0], samples[0].media[1]
    assert image.type == "image" and image.path.endswith(".png") and str(tmp_path / "cache") in image.path
    assert audio.type == "audio" and audio.path.endswith(".wav")
    assert samples[0].modality == "audio+image+text"
    # same bytes -> same file (content-addressed): loading again writes nothing new
    again = load(tmp_path, cards, tmp_path / "data", "hubby")
    assert [s.id for s in again] == [s.id for s in samples]

    wrong = {**HUB_CARD, "source": {**HUB_CARD["source"], "split": "validation"}}
    with pytest.raises(CardError) as err:
        load(tmp_path, card(tmp_path / "c2", **wrong), tmp_path / "data", "hubby")
    assert "source.split: unknown split 'validation'" in str(err.value) and "(splits: test)" in str(err.value)
    wrong = {**HUB_CARD, "configurations": {"all": {"split": "dev"}}}
    with pytest.raises(CardError, match=r"configurations\.all\.split: unknown split 'dev'"):
        load(tmp_path, card(tmp_path / "c3", **wrong), tmp_path / "data", "hubby")


def test_keyed_json_and_data_file_errors(tmp_path):
    root = tmp_path / "data" / "kj"
    write(root / "qs.json", json.dumps({"a1": {"q": "one?"}, "b2": {"q": "two?"}}))
    kc = dict(name="kj", version="1", source={"local": "kj", "data_files": {"test": "qs.json"}, "records": "keyed"},
              fields={"id": "_key", "text": "q"}, label="benign", configurations={"test": None})
    samples = load(tmp_path, card(tmp_path / "cards", **kc), tmp_path / "data", "kj")
    assert [(s.source_id, s.text, s.modality) for s in samples] == [("a1", "one?", "text"), ("b2", "two?", "text")]
    kc["configurations"] = {"test": {"split": "train"}}
    with pytest.raises(CardError, match=r"configurations\.test\.split: 'train' is not a split of source\.data_files"):
        load(tmp_path, card(tmp_path / "c2", **kc), tmp_path / "data", "kj")
    (root / "qs.json").unlink()
    kc["configurations"] = {"test": None}
    with pytest.raises(TaskDataError, match=r"data file\(s\) missing: .*qs\.json"):
        load(tmp_path, card(tmp_path / "c3", **kc), tmp_path / "data", "kj")


def test_missing_data_directory_says_how_to_get_it(tmp_path):
    task = default_registries().tasks.get("omnibench")(TaskContext(cache_dir=tmp_path, data_root=tmp_path))
    with pytest.raises(TaskDataError) as err:
        task.load()
    assert f"data not found at {tmp_path / 'omnibench'}" in str(err.value)
    assert "harness tasks download omnibench" in str(err.value)
    assert task.size() is None
