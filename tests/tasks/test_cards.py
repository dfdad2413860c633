"""Card schema: the built-in cards parse; every kind of mistake fails naming the card file and the field."""

import copy
from pathlib import Path

import pytest
import yaml

from tasks.advbench_omni.layout import CONFIG_MODALITIES, HARMFUL_CONFIGS
from tasks.card import JUDGE_TEMPLATES, METRICS, CardError
from tasks.card_parse import load_card, parse_card
from tasks.loaders.omni_safetybench import meta_file
from tasks.manager import BUILTIN_CARD_DIR, TaskManager
from tests.support.task_data import omni_safetybench_variants

BUILTIN = ("advbench-omni", "advbench-omni-benign", "omni-safetybench", "mm-safetybench", "vlguard",
           "jailbreakv-28k", "figstep", "holisafe", "mm-vet", "omnibench", "omnisteer-eval")

MINIMAL = {
    "name": "mini", "version": 2,
    "source": {"local": "mini", "data_files": "rows.jsonl"},
    "fields": {"id": "qid", "text": "question", "image": "img"},
    "label": "harmful",
    "configurations": {"all": None},
}


def test_every_builtin_card_parses_with_known_templates_and_metrics():
    files = TaskManager().card_files()
    assert sorted(cf.name for cf in files) == sorted(BUILTIN)
    for cf in files:
        assert cf.error is None, cf.error
        card = cf.card
        assert set(card.judge_templates.values()) <= set(JUDGE_TEMPLATES)
        assert set(card.metrics) <= set(METRICS) and card.metrics
        # a card without a hub id (omnisteer-eval: files of a GitHub repository) has no status to give
        assert card.source.hub_status in ("confirmed", "seen", "unverified") or card.source.hub is None
        if card.source.hub_status != "confirmed":
            assert card.source.route == "local"  # the local path is the documented route


def test_advbench_card_matches_the_shared_layout():
    card = load_card(BUILTIN_CARD_DIR / "advbench-omni.yaml")
    assert tuple(card.configurations) == HARMFUL_CONFIGS
    assert {c: cfg.modalities for c, cfg in card.configurations.items()} == CONFIG_MODALITIES
    assert card.expand(["cross-modal"]) == ["t2i", "t2a", "t2v", "t2ia", "t2va", "a2i", "a2v"]
    assert card.expand([]) == list(HARMFUL_CONFIGS)
    benign = load_card(BUILTIN_CARD_DIR / "advbench-omni-benign.yaml")  # via `include:`
    assert benign.options["labels"] == ["benign"] and benign.configurations == card.configurations
    assert benign.metrics == ("bar",) and benign.source == card.source


def test_omni_safetybench_card_has_the_24_upstream_files():
    card = load_card(BUILTIN_CARD_DIR / "omni-safetybench.yaml")
    assert [(c, meta_file(cfg)) for c, cfg in card.configurations.items()] == omni_safetybench_variants()
    assert card.judge_template("harmful") == "omni_safetybench"
    assert len(card.groups["iat"]) == len(card.groups["vat"]) == 3


def test_minimal_card_defaults():
    card = parse_card(copy.deepcopy(MINIMAL), Path("/cards/mini.yaml"))
    assert card.version == "2" and card.loader == "records"
    assert card.configurations["all"].modalities == ("image+text",)  # inferred from the mapped fields
    assert card.source.route == "local" and card.judge_templates == {}


def mutate(path: str, value):
    data = copy.deepcopy(MINIMAL)
    *parents, last = path.split(".")
    node = data
    for p in parents:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    if value is KeyError:
        node.pop(last)
    else:
        node[last] = value
    return data


@pytest.mark.parametrize("path,value,message", [
    ("feilds", {}, "unknown key(s) 'feilds' (did you mean 'fields'?)"),
    ("judge_template", "safty", "judge_template: unknown judge template 'safty'"),
    ("judge_template", {"harmful": "mcqq"}, "judge_template.harmful: unknown judge template 'mcqq'"),
    ("metrics", ["rsr", "accurracy"], "metrics.1: unknown metric 'accurracy'"),
    ("configurations.all", {"modality": "img+text"}, "configurations.all.modality: bad modality 'img+text'"),
    ("groups", {"g": ["all", "nope"]}, "groups.g: unknown configuration(s) ['nope']"),
    ("groups", {"all": ["all"]}, "groups.all: a group cannot have the name of a configuration"),
    ("label", "malicious", "label: unknown label 'malicious'"),
    ("label", KeyError, "configurations.all.label: no label"),
    ("fields.text", {"column": "q", "const": "x"}, "fields.text: give exactly one of"),
    ("fields.text", {"template": "{{ question "}, "fields.text.template: bad template"),
    ("fields.image", {"const": "x.png"}, "fields.image: a medium cannot be a constant"),
    ("source", KeyError, "source: is required"),
    ("source.hub", "someone/set", "source.hub_status: is required with a hub id"),
    ("source.route", "hub", "source.route: `hub` is only allowed for a confirmed hub id"),
    ("name", "Bad Name", "name: bad task name 'Bad Name'"),
    ("configurations", {}, "configurations: at least one configuration is required"),
    ("configurations.all", {"spilt": "test"}, "configurations.all: unknown key(s) 'spilt' (did you mean 'split'?)"),
])
def test_schema_errors_name_file_and_field(path, value, message):
    with pytest.raises(CardError) as err:
        parse_card(mutate(path, value), Path("/cards/mini.yaml"))
    assert message in str(err.value)
    assert "/cards/mini.yaml" in str(err.value)


def test_hook_cards_must_declare_modalities():
    data = mutate("loader", "tasks.loaders.vlguard")
    with pytest.raises(CardError, match=r"configurations\.all\.modality: is required"):
        parse_card(data)


def test_include_merges_and_detects_cycles(tmp_path):
    (tmp_path / "_base.yaml").write_text(yaml.safe_dump(MINIMAL))
    (tmp_path / "child.yaml").write_text("include: _base.yaml\nname: child\nsource: {local: elsewhere}\n")
    child = load_card(tmp_path / "child.yaml")
    assert child.name == "child" and child.source.local == "elsewhere"
    assert child.source.data_files == {"train": ("rows.jsonl",)}  # merged from the base
    (tmp_path / "a.yaml").write_text("include: b.yaml\n")
    (tmp_path / "b.yaml").write_text("include: a.yaml\n")
    with pytest.raises(CardError, match="include cycle"):
        load_card(tmp_path / "a.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(CardError, match=r"bad\.yaml: not valid YAML"):
        load_card(tmp_path / "bad.yaml")
