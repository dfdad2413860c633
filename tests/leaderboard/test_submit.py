"""`harness submit` on the tiny text model with a small test standard: the real contract checks on tiny-omni, the
suite, the bundle, `add_bundle` and the site. The end-to-end flow through the command line with the example plugin
is in test_submit_e2e.py."""

from __future__ import annotations

import json
import zipfile

import pytest

from leaderboard.bundle import add_bundle
from leaderboard.standard import parse_standard
from harness.run.submit import SubmitError, SubmitOptions, submit
from tests.leaderboard.conftest import STANDARD

SLOW = "tests.support.slow_defense:SlowNoDefense"  # a `module:Class` defense that is not registered
LEAKY = "tests.support.broken_defense:LeakyHookDefense"  # leaves a hook on the model: fails the contract


@pytest.fixture
def tiny_standard():
    data = json.loads(json.dumps(STANDARD))
    data["suites"] = {"tiny": {"models": ["tiny-*"], "tasks": ["smoke:text"], "limit": 2, "max_new_tokens": 4,
                               "seed": 0, "batch_size": 2}}
    return parse_standard(data, "test")


def options(tmp_path, cache_dir, **kw) -> SubmitOptions:
    return SubmitOptions(defense=kw.pop("defense", SLOW), model="tiny-text", runs_dir=tmp_path / "runs",
                         out=tmp_path / "sub.zip", cache_dir=cache_dir, show_progress=False, echo=lambda _: None, **kw)


def test_submit_runs_checks_suite_and_baseline_and_the_bundle_is_accepted(
        tmp_path, cache_dir, tiny_text_path, tiny_standard, registries, build):
    result = submit(options(tmp_path, cache_dir), standard=tiny_standard, registries=registries)
    assert result.contract["passed"] is True and result.contract["model"] == "tiny-omni"
    statuses = {c["name"]: c["status"] for c in result.contract["checks"]}
    # Not a steering defense: the two steering-only checks are skipped, the others ran and passed.
    assert statuses == {"setup": "pass", "strength-zero-identical": "skip", "hooks-removed": "pass",
                        "hooks-removed-on-error": "pass", "positions": "skip", "batched-equals-single": "pass"}
    assert result.suite == "tiny" and len(result.run_dirs) == 2
    with zipfile.ZipFile(result.bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert json.loads(zf.read("contract.json")) == result.contract
    assert [(r["role"], r["defense"]) for r in manifest["runs"]] == [("defense", SLOW), ("baseline", "none")]
    assert manifest["judges"] == {"smoke": registries.judges.get("keyword")().id}
    assert manifest["task_versions"] == {"smoke": "1"} and manifest["standard"]["suite"] == "tiny"
    from defenses.base import source_hash
    from tests.support.slow_defense import SlowNoDefense

    assert manifest["defense"]["source_hash"] == source_hash(SlowNoDefense)

    from harness.run import load_samples
    from tasks.base import TaskContext

    ingested = add_bundle(result.bundle, tmp_path / "board", standard=tiny_standard, registries=registries,
                          select_samples=lambda spec: load_samples(spec, registries, TaskContext(cache_dir=cache_dir)))
    assert sorted(ingested.run_ids) == sorted(p.name for p in result.run_dirs)
    site = build(tmp_path / "board")
    table = json.loads((site.index.parent / "leaderboard.json").read_text())
    by_defense = {r["defense"]: r for r in table["rows"]}
    assert set(by_defense) == {SLOW, "none"} and all(r["table"] == "main" for r in table["rows"])
    # The baseline pairs with the defense run (same samples, batch size, device). Its value depends on the load of
    # the machine (timings on shared CPUs are noisy); the arithmetic is tested in test_table.py.
    assert by_defense[SLOW]["overhead"]["ratio"] > 0 and by_defense["none"]["overhead"]["ratio"] == 1.0


def test_failing_contract_stops_before_any_run(tmp_path, cache_dir, tiny_standard, registries):
    with pytest.raises(SubmitError, match=r"fails its contract checks: hooks-removed: 1 hook\(s\) left on the "
                                          r"model; hooks-removed-on-error: 1 hook\(s\) left"):
        submit(options(tmp_path, cache_dir, defense=LEAKY), standard=tiny_standard, registries=registries)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "sub.zip").exists()


def test_submit_cli_before_the_fix_would_exit_2_now_makes_a_bundle(tmp_path, cache_dir, capsys):
    """The reported failure: `harness submit --defense self-reminder ... --no-baseline` printed "contract checks are
    not available" and exited 2. Through the command line, with the packaged standard and its tiny-model suite."""
    from harness.cli import main

    out = tmp_path / "sub.zip"
    assert main(["submit", "--defense", "self-reminder", "--model", "tiny-omni", "--limit", "1", "--no-baseline",
                 "--runs", str(tmp_path / "runs"), "--out", str(out), "--cache-dir", str(cache_dir),
                 "--no-progress"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "contract checks of self-reminder on tiny-omni" in printed and f"wrote {out}" in printed
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["contract"]["passed"] is True and manifest["nonstandard"] == {"limit": 1}
    assert [r["role"] for r in manifest["runs"]] == ["defense"]


def test_contract_failure_through_the_cli_is_one_line_and_exit_2(tmp_path, cache_dir, capsys):
    from harness.cli import main

    assert main(["submit", "--defense", LEAKY, "--model", "tiny-omni", "--runs", str(tmp_path / "runs"),
                 "--cache-dir", str(cache_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # earlier lines: the weight-loading progress of transformers
    assert last.startswith("harness: error: defense tests.support.broken_defense:LeakyHookDefense fails its "
                          "contract checks: hooks-removed") and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_unknown_defense_and_suite_fail_before_any_work(tmp_path, cache_dir, tiny_standard, registries):
    from harness.registry import UnknownNameError

    with pytest.raises(UnknownNameError):
        submit(options(tmp_path, cache_dir, defense="no-such-defense"), standard=tiny_standard,
               registries=registries)
    with pytest.raises(UnknownNameError):
        submit(options(tmp_path, cache_dir, suite="nope"), standard=tiny_standard, registries=registries)
    assert not (tmp_path / "runs").exists()


def test_judge_options_that_change_the_pinned_judge_are_refused(tmp_path, cache_dir, registries):
    data = json.loads(json.dumps(STANDARD))
    data["judges"]["llm"] = {"judge": "llm", "params": {"model": "judge-model", "api_key_env": ""}}
    data["pinned_judges"]["smoke"] = "llm"
    std = parse_standard(data, "test")
    with pytest.raises(SubmitError, match="only endpoint settings"):
        submit(options(tmp_path, cache_dir, judge_endpoint={"model": "another-model"}), standard=std,
               registries=registries)
    from harness.run.submit import _check_endpoint

    _check_endpoint(std, "llm", {"base_url": "http://127.0.0.1:9/v1", "concurrency": 4}, registries)  # allowed


def test_a_suite_the_model_cannot_take_stops_before_any_model_loads(tmp_path, capsys):
    """The packaged `smoke` suite has image and audio samples; tiny-text reads text only. Found out before the
    contract checks load a model (the cache stays empty), not after them."""
    from harness.cli import main

    cache = tmp_path / "cache"
    assert main(["submit", "--defense", "none", "--model", "tiny-text", "--limit", "1", "--runs",
                 str(tmp_path / "runs"), "--cache-dir", str(cache), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "which backend 'hf-text' does not accept (it accepts text)" in err[0]
    assert not (cache / "models").exists() and not (tmp_path / "runs").exists()


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
                    registries=registries)
    with zipfile.ZipFile(result.bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["defense"]["params"] == {"media_only": "wrap"}
    spec = json.loads((result.run_dirs[0] / "spec.json").read_text())
    assert spec["defense_params"] == {"media_only": "wrap"}
    # parameters the submitter names win over the tuned ones
    other = submit(options(tmp_path / "own", cache_dir, defense="self-reminder", baseline=False,
                           defense_params={"media_only": "skip"}),
                   standard=standard, registries=registries)
    with zipfile.ZipFile(other.bundle) as zf:
        assert json.loads(zf.read("manifest.json"))["defense"]["params"] == {"media_only": "skip"}
