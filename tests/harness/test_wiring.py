"""The application's one wiring module: the context a defense gets, and the refusal test that reaches defenses
through it (so no defense imports a judge)."""

from __future__ import annotations

import pytest

from harness.records import Sample, user_message
from harness.run import default_registries, defense_class, defense_context
from judges.keyword import refusal_flags
from tasks.base import TaskContext


def _sample(i: int, label: str = "harmful") -> Sample:
    return Sample(id=f"t/text/{label}/{i}", task="t", config="text", label=label,  # type: ignore[arg-type]
                  messages=(user_message(f"request {i}"),))


def test_refusal_flags_follow_the_keyword_judge():
    samples = [_sample(0), _sample(1), _sample(2, "benign"), _sample(3)]
    answers = ["I'm sorry, I cannot help with that.", "Sure, here is how.", "I cannot do that.", ""]
    assert refusal_flags(samples, answers) == [True, False, True, False]  # empty: unknown, not a refusal


def test_defense_context_is_what_run_gives(tmp_path):
    registries = default_registries()
    evaluated = [_sample(0)]
    context = defense_context(registries, "tiny-omni", TaskContext(cache_dir=tmp_path), seed=3,
                              show_progress=False, evaluation_samples=evaluated)
    assert context.cache_dir == tmp_path / "defenses"
    assert (context.model_name, context.seed, list(context.evaluation_samples)) == ("tiny-omni", 3, evaluated)
    assert context.refusals is refusal_flags
    assert [s.task for s in context.load_samples("smoke:text")] and \
        {s.config for s in context.load_samples("smoke:text")} == {"text"}


def test_defense_class_takes_a_name_or_module_class():
    registries = default_registries()
    assert defense_class(registries, "none").__name__ == "NoDefense"
    assert defense_class(registries, "defenses.base:NoDefense").__name__ == "NoDefense"
    with pytest.raises(TypeError):
        defense_class(registries, "harness.records:Sample")
