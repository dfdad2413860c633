"""The contract suite on every registered steering defense (discovered by attribute), on each tiny model its
`contract.models` names; ReGap and plugins join automatically."""

from __future__ import annotations

import pytest

from defenses.contract import CHECKS, contract_samples, run_contract
from defenses.steering import contract_config, is_steering
from harness.run.registries import default_registries


def steering_cases() -> list:
    registries = default_registries()
    cases = []
    for name in registries.defenses.names():
        cls = registries.defenses.get(name)
        if is_steering(cls):
            cases += [pytest.param(name, model, id=f"{name}-{model}") for model in contract_config(cls).models]
    return cases


def test_discovery_finds_the_steering_defenses_and_only_them():
    names = {case.values[0] for case in steering_cases()}
    assert {"omnisteer", "refusal-steer"} <= names
    assert not names & {"none", "self-reminder", "adashield-s", "omniguard"}


@pytest.mark.parametrize(("name", "model"), steering_cases())
def test_registered_steering_defense_meets_the_contract(name, model, tiny_backend, make_context):
    backend = tiny_backend(model)
    report = run_contract(default_registries().defenses.get(name), backend, make_context(model))
    assert [r.check for r in report.results] == list(CHECKS)
    assert report.ok, report.format()
    assert all(r.status == "pass" for r in report.results), report.format()


def test_contract_samples_cover_the_backend_modalities(tiny_backend, cache_dir):
    omni = contract_samples(tiny_backend("tiny-omni"), cache_dir / "media")
    text = contract_samples(tiny_backend("tiny-text"), cache_dir / "media")
    assert {s.modality for s in omni} == {"text", "image+text", "audio"}
    assert {s.modality for s in text} == {"text"}
    assert len({s.source_id for s in omni}) == len(omni)
