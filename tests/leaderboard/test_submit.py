"""`harness submit` end to end on the tiny text model, with the contract step injected."""

from __future__ import annotations

import json
import sys
import zipfile
from dataclasses import dataclass, field

import pytest

from leaderboard.bundle import add_bundle
from leaderboard.standard import parse_standard
from leaderboard.submit import SubmitError, SubmitOptions, report_dict, run_contract_checks, submit
from tests.leaderboard.conftest import STANDARD

SLOW = "tests.support.slow_defense:SlowNoDefense"  # a `module:Class` defense that is not registered


@pytest.fixture
def tiny_standard():
    data = json.loads(json.dumps(STANDARD))
    data["suites"] = {"tiny": {"models": ["tiny-*"], "tasks": ["smoke:text"], "limit": 2, "max_new_tokens": 4,
                               "seed": 0, "batch_size": 2}}
    return parse_standard(data, "test")


class FakeContract:
    def __init__(self, passed: bool = True) -> None:
        self.passed = passed
        self.calls: list[tuple] = []

    def __call__(self, defense, *, model, params, cache_dir):
        self.calls.append((defense, model, dict(params)))
        return {"passed": self.passed, "checks": [{"name": "hooks-removed", "passed": True},
                                                  {"name": "batch-invariance", "passed": self.passed,
                                                   "message": "row 1 differs"}]}


def options(tmp_path, cache_dir, **kw) -> SubmitOptions:
    return SubmitOptions(defense=kw.pop("defense", SLOW), model="tiny-text", runs_dir=tmp_path / "runs",
                         out=tmp_path / "sub.zip", cache_dir=cache_dir, show_progress=False, echo=lambda _: None, **kw)


def test_submit_runs_checks_suite_and_baseline_and_the_bundle_is_accepted(
        tmp_path, cache_dir, tiny_text_path, tiny_standard, registries, build):
    contract = FakeContract()
    result = submit(options(tmp_path, cache_dir), standard=tiny_standard, registries=registries,
                    contract_check=contract)
    assert contract.calls == [(SLOW, "tiny-omni", {})]
    assert result.suite == "tiny" and len(result.run_dirs) == 2
    with zipfile.ZipFile(result.bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert json.loads(zf.read("contract.json"))["passed"] is True
    assert [(r["role"], r["defense"]) for r in manifest["runs"]] == [("defense", SLOW), ("baseline", "none")]
    assert manifest["judges"] == {"smoke": registries.judges.get("keyword")().id}
    assert manifest["task_versions"] == {"smoke": "1"} and manifest["standard"]["suite"] == "tiny"
    from defenses.base import source_hash
    from tests.support.slow_defense import SlowNoDefense

    assert manifest["defense"]["source_hash"] == source_hash(SlowNoDefense)

    from tasks.base import TaskContext

    ingested = add_bundle(result.bundle, tmp_path / "board", standard=tiny_standard, registries=registries,
                          sample_context=TaskContext(cache_dir=cache_dir))
    assert sorted(ingested.run_ids) == sorted(p.name for p in result.run_dirs)
    site = build(tmp_path / "board")
    table = json.loads((site.index.parent / "leaderboard.json").read_text())
    by_defense = {r["defense"]: r for r in table["rows"]}
    assert set(by_defense) == {SLOW, "none"} and all(r["table"] == "main" for r in table["rows"])
    # The baseline pairs with the defense run (same samples, batch size, device). Its value depends on the load of
    # the machine (timings on shared CPUs are noisy); the arithmetic is tested in test_table.py.
    assert by_defense[SLOW]["overhead"]["ratio"] > 0 and by_defense["none"]["overhead"]["ratio"] == 1.0


def test_failing_contract_stops_before_any_run(tmp_path, cache_dir, tiny_standard, registries):
    with pytest.raises(SubmitError, match="fails its contract checks: batch-invariance: row 1 differs"):
        submit(options(tmp_path, cache_dir), standard=tiny_standard, registries=registries,
               contract_check=FakeContract(passed=False))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "sub.zip").exists()


def test_missing_contract_module_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "defenses.contract", None)  # import fails as if the file were absent
    with pytest.raises(SubmitError, match="defenses/contract.py is missing"):
        run_contract_checks("none", model="tiny-omni", params={}, cache_dir=tmp_path)


def test_contract_reports_of_several_shapes():
    @dataclass
    class Report:
        passed: bool
        checks: list = field(default_factory=list)

    assert report_dict(Report(True, [{"name": "a", "passed": True}])) == {"passed": True,
                                                                          "checks": [{"name": "a", "passed": True}]}

    class WithToDict:
        passed = False

        def to_dict(self):
            return {"checks": []}

    assert report_dict(WithToDict()) == {"checks": [], "passed": False}
    with pytest.raises(SubmitError, match="no boolean `passed`"):
        report_dict({"checks": []})


def test_unknown_defense_and_suite_fail_before_any_work(tmp_path, cache_dir, tiny_standard, registries):
    from harness.registry import UnknownNameError

    with pytest.raises(UnknownNameError):
        submit(options(tmp_path, cache_dir, defense="no-such-defense"), standard=tiny_standard,
               registries=registries, contract_check=FakeContract())
    with pytest.raises(UnknownNameError):
        submit(options(tmp_path, cache_dir, suite="nope"), standard=tiny_standard, registries=registries,
               contract_check=FakeContract())
    assert not (tmp_path / "runs").exists()


def test_judge_options_that_change_the_pinned_judge_are_refused(tmp_path, cache_dir, registries):
    data = json.loads(json.dumps(STANDARD))
    data["judges"]["llm"] = {"judge": "llm", "params": {"model": "judge-model", "api_key_env": ""}}
    data["pinned_judges"]["smoke"] = "llm"
    std = parse_standard(data, "test")
    with pytest.raises(SubmitError, match="only endpoint settings"):
        submit(options(tmp_path, cache_dir, judge_endpoint={"model": "another-model"}), standard=std,
               registries=registries, contract_check=FakeContract())
    from leaderboard.submit import _check_endpoint

    _check_endpoint(std, "llm", {"base_url": "http://127.0.0.1:9/v1", "concurrency": 4}, registries)  # allowed


def test_a_submission_without_parameters_runs_the_standards_tuned_settings(tmp_path, cache_dir, tiny_text_path,
                                                                           registries):
    data = json.loads(json.dumps(STANDARD))
    data["suites"] = {"tiny": {"models": ["tiny-*"], "tasks": ["smoke:text"], "limit": 1, "max_new_tokens": 2,
                               "seed": 0, "batch_size": 2,
                               "tuned": {"tiny-text": {"self-reminder": {"media_only": "wrap"}}}}}
    standard = parse_standard(data, "test")
    assert standard.suite("tiny").tuned_params("tiny-text", "self-reminder") == {"media_only": "wrap"}
    assert standard.suite("tiny").tuned_params("tiny-omni", "self-reminder") == {}
    result = submit(options(tmp_path, cache_dir, defense="self-reminder", baseline=False), standard=standard,
                    registries=registries, contract_check=FakeContract())
    with zipfile.ZipFile(result.bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["defense"]["params"] == {"media_only": "wrap"}
    spec = json.loads((result.run_dirs[0] / "spec.json").read_text())
    assert spec["defense_params"] == {"media_only": "wrap"}
    # parameters the submitter names win over the tuned ones
    other = submit(options(tmp_path / "own", cache_dir, defense="self-reminder", baseline=False,
                           defense_params={"media_only": "skip"}),
                   standard=standard, registries=registries, contract_check=FakeContract())
    with zipfile.ZipFile(other.bundle) as zf:
        assert json.loads(zf.read("manifest.json"))["defense"]["params"] == {"media_only": "skip"}
