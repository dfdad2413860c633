import pytest

from harness.records import ContentPart, GenerationConfig, RunSpec, Sample, TaskRef, Verdict, user_message


def make_spec(**kw):
    base = dict(model="tiny-omni", backend="qwen2.5-omni", defense="none", tasks=(TaskRef("smoke", "1"),))
    base.update(kw)
    return RunSpec(**base)


def test_run_id_is_stable_and_ignores_judge():
    a = make_spec()
    assert a.run_id == make_spec().run_id
    assert a.run_id == make_spec(judge="llm", judge_params={"model": "x"}).run_id
    assert a.run_id != make_spec(defense="regap").run_id
    assert a.run_id != make_spec(generation=GenerationConfig(max_new_tokens=7)).run_id
    assert a.run_id != make_spec(limit=3).run_id
    assert a.run_id.startswith("tiny-omni__none__")
    assert RunSpec.from_dict(a.to_dict()) == a
    # a defense whose answers changed for the same parameters gets new run ids; version 1 keeps the old ones
    assert "defense_version" not in a.to_dict()
    changed = make_spec(defense_version="2")
    assert changed.run_id != a.run_id and RunSpec.from_dict(changed.to_dict()) == changed
    # a model folder's fingerprint is recorded only when there is one (hub ids and built-in names keep their ids)
    assert "model_fingerprint" not in a.to_dict()
    fingered = make_spec(model_fingerprint="0123456789abcdef")
    assert fingered.run_id != a.run_id and RunSpec.from_dict(fingered.to_dict()) == fingered


def test_sample_roundtrip_and_modality():
    s = Sample(id="x/1", task="t", config="t2i", label="harmful",
               messages=(user_message("do the thing in the image", image="/tmp/a.png", audio="/tmp/b.wav"),))
    assert s.modality == "audio+image+text"
    assert [p.type for p in s.parts] == ["image", "audio", "text"]
    assert Sample.from_dict(s.to_dict()) == s
    assert s.text == "do the thing in the image"


def test_invalid_records_are_refused():
    with pytest.raises(ValueError):
        ContentPart(type="image", text="no path")
    with pytest.raises(ValueError):
        Sample(id="a", task="t", config="c", label="evil", messages=(user_message("hi"),))
    with pytest.raises(ValueError):
        Verdict(sample_id="a", judge="j", label="maybe")
