"""TaskManager: cards become registry entries; user cards via --include-path; broken cards stay visible."""

import copy

import pytest
import yaml

from harness.run.registries import default_registries
from harness.registry import UnknownNameError
from tasks.base import TaskContext
from tasks.card import CardError
from tasks.card_task import CardTask
from tasks.manager import TaskManager
from tests.tasks.test_cards import MINIMAL


def write_card(folder, name, **changes):
    data = copy.deepcopy(MINIMAL)
    data.update(name=name, **changes)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_builtin_cards_and_smoke_are_registered():
    reg = default_registries().tasks
    assert {"smoke", "advbench-omni", "omnibench", "vlguard"} <= set(reg.names())
    assert reg.origin("advbench-omni") == "card:builtin" and reg.origin("smoke") == "builtin"
    cls = reg.get("advbench-omni")
    assert issubclass(cls, CardTask) and cls.name == "advbench-omni" and cls.version == "1"


def test_include_path_adds_user_cards_and_skips_templates(tmp_path):
    cards = tmp_path / "cards"
    (cards / "nested").mkdir(parents=True)
    write_card(cards / "nested", "my-bench")
    write_card(cards, "_template")  # include-only
    reg = default_registries([cards]).tasks
    assert "my-bench" in reg.names() and "_template" not in reg.names()
    assert reg.origin("my-bench") == f"card:{cards}"
    task = reg.get("my-bench")(TaskContext(cache_dir=tmp_path / "c"))
    assert task.configurations() == ["all"]
    assert "my-bench" not in default_registries().tasks.names()  # nothing leaks between registries


def test_a_card_cannot_silently_replace_another(tmp_path):
    write_card(tmp_path, "vlguard")
    with pytest.raises(CardError, match="already used by .*vlguard.yaml"):
        default_registries([tmp_path])


def test_broken_card_is_listed_and_fails_when_used(tmp_path):
    write_card(tmp_path, "broken", judge_template="nonsense")
    write_card(tmp_path, "fine")
    reg = default_registries([tmp_path]).tasks
    assert {"broken", "fine"} <= set(reg.names())
    task = reg.get("broken")(TaskContext(cache_dir=tmp_path / "c"))
    with pytest.raises(CardError, match="judge_template: unknown judge template 'nonsense'"):
        task.configurations()


def test_missing_include_path_is_an_error(tmp_path):
    with pytest.raises(CardError, match="not a file or directory"):
        TaskManager([tmp_path / "nope"]).card_files()


def test_unknown_configuration_suggests_close_names(tmp_path):
    task = default_registries().tasks.get("advbench-omni")(TaskContext(cache_dir=tmp_path))
    with pytest.raises(UnknownNameError, match="Did you mean 'spoken'"):
        task.load(["spokn"])  # groups are selectable like configurations
    with pytest.raises(UnknownNameError, match="Did you mean 't2i'"):
        task.load(["t2ii"])
