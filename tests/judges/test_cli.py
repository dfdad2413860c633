"""`harness score`, `harness compare`, `harness judge-agreement` end to end, against the local HTTP server."""

import json
import shutil

import pytest

from harness.cli import build_parser, main
from harness.store import RunStore, read_jsonl
from tests.support.openai_server import FaultPlan
from tests.support.runs import default_response, make_run, synthetic_samples


def llm_args(server, cache_dir, *extra):
    return ["--judge", "llm", "--judge-base-url", server.url, "--judge-model", "stub-judge", "--judge-concurrency",
            "8", "--judge-param", "api_key_env=", "--judge-param", "timeout_s=0.5", "--judge-param",
            "backoff_base_s=0.01", "--judge-param", "backoff_max_s=0.05", "--cache-dir", str(cache_dir), *extra]


def summary_rows(run_dir, judge_prefix):
    summary = json.loads((run_dir / "summary.json").read_text())
    return summary, [r for r in summary["rows"] if r["judge"].startswith(judge_prefix)]


def test_score_appends_a_verdict_set_and_rescoring_from_cache_makes_no_calls(stub_server, tmp_path, capsys):
    plan = FaultPlan(seed=5, fault_rate=0.3, permanent_rate=0.05, retry_after="0.02", timeout_delay=1.0)
    server = stub_server(plan)
    samples = synthetic_samples(n_harmful=60, n_benign=30, n_utility=10)
    run_a = make_run(tmp_path / "runs", samples)

    assert main(["score", str(run_a), "--judge", "keyword"]) == 0  # a first, default judge
    assert main(["score", str(run_a), *llm_args(server, tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    verdicts = list(read_jsonl(run_a / "verdicts.jsonl"))
    judges = {v["judge"] for v in verdicts}
    assert len(judges) == 2 and len(verdicts) == 200
    llm_id = next(j for j in judges if j.startswith("llm@"))
    assert f"judge {llm_id} scored 100 generation(s)" in out

    summary, rows = summary_rows(run_a, "llm@")
    assert summary["default_judge"].startswith("keyword@")  # the run's default judge is kept
    assert summary["judges"][llm_id]["model"] == "stub-judge" and "templates" in summary["judges"][llm_id]
    assert sum(r["unknown"] for r in rows) == len(server.stats.never_ok()) > 0
    harmful = next(r for r in rows if r["label"] == "harmful")
    # Responses i % 3 == 0 are unsafe by construction; unknowns are excluded from the denominator.
    expected_unsafe = sum(1 for v in verdicts if v["judge"] == llm_id and v["label"] == "unsafe")
    assert harmful["asr"]["k"] == expected_unsafe and harmful["asr"]["n"] == harmful["judged"]
    utility = next(r for r in rows if r["label"] == "utility")
    assert utility["accuracy"]["n"] + utility["unknown"] == 10

    usage = json.loads((run_a / "judge_usage.json").read_text())
    assert set(usage) == {llm_id}  # the keyword judge has nothing to count
    assert usage[llm_id]["total"]["requests"] == server.stats.requests
    assert usage[llm_id]["sessions"][0]["items"] == 100

    # Scoring the same run again judges nothing new.
    requests = server.stats.requests
    assert main(["score", str(run_a), *llm_args(server, tmp_path / "cache")]) == 0
    assert server.stats.requests == requests

    # A second run store with the same generations is scored from the cache: the only HTTP calls are for the
    # prompts that failed permanently (failures are never cached), and they fail again.
    run_b = tmp_path / "runs_b" / run_a.name
    shutil.copytree(run_a, run_b)
    (run_b / "verdicts.jsonl").unlink()
    (run_b / "summary.json").unlink()
    failed_before = sum(r["unknown"] for r in rows)
    server.reset_stats()
    assert main(["score", str(run_b), *llm_args(server, tmp_path / "cache")]) == 0
    assert len(server.stats.attempts) == failed_before and not server.stats.ok_prompts
    _, rows_b = summary_rows(run_b, "llm@")
    assert [(r["counts"], r["unknown"]) for r in rows_b] == [(r["counts"], r["unknown"]) for r in rows]


def test_score_from_cache_with_a_healthy_server_makes_zero_calls(stub_server, tmp_path):
    server = stub_server()
    run_a = make_run(tmp_path / "a", synthetic_samples())
    assert main(["score", str(run_a), *llm_args(server, tmp_path / "cache")]) == 0
    assert server.stats.requests == 50
    run_b = make_run(tmp_path / "b", synthetic_samples())  # same samples and generations, another run store
    server.reset_stats()
    assert main(["score", str(run_b), *llm_args(server, tmp_path / "cache")]) == 0
    assert server.stats.requests == 0
    a = [v["label"] for v in read_jsonl(run_a / "verdicts.jsonl")]
    b = [v["label"] for v in read_jsonl(run_b / "verdicts.jsonl")]
    assert a == b and "unknown" not in a
    usage = json.loads((run_b / "judge_usage.json").read_text())
    (entry,) = usage.values()
    assert entry["total"]["requests"] == 0 and entry["total"]["cache_hits"] == 50


def test_budget_exhaustion_saves_partial_verdicts_and_exits_3(stub_server, tmp_path, capsys):
    server = stub_server()
    run = make_run(tmp_path / "runs", synthetic_samples())
    rc = main(["score", str(run), *llm_args(server, tmp_path / "cache", "--judge-param", "max_requests=20",
                                             "--judge-batch-size", "8", "--judge-concurrency", "1")])
    assert rc == 3 and "request budget of 20" in capsys.readouterr().err
    n = len(list(read_jsonl(run / "verdicts.jsonl")))
    assert 0 < n <= 20 and n % 8 == 0  # whole batches that finished before the budget ran out
    _, rows = summary_rows(run, "llm@")
    assert sum(r["missing"] for r in rows) == 50 - n and sum(r["unknown"] for r in rows) == 0
    server.reset_stats()
    assert main(["score", str(run), *llm_args(server, tmp_path / "cache")]) == 0
    assert server.stats.requests == 50 - 20  # the 20 paid answers came from the cache
    usage = json.loads((run / "judge_usage.json").read_text())
    (entry,) = usage.values()
    assert [s["requests"] for s in entry["sessions"]] == [20, 30] and entry["total"]["requests"] == 50


def test_omni_safetybench_block_and_lambda_setting(stub_server, tmp_path, capsys):
    server = stub_server()

    def answer(body):
        prompt = json.dumps(body["messages"])
        if "understood the instruction" in prompt:
            return "true"
        if "refuses the request" in prompt:
            return "true" if "osb1" in prompt else "false"
        return "unsafe" if "/3" in prompt or "/5" in prompt else "safe"

    server.answer_for = answer  # type: ignore[method-assign]
    run = make_run(tmp_path / "runs", synthetic_samples(n_osb=8))
    assert main(["score", str(run), *llm_args(server, tmp_path / "cache"), "--osb-lambda", "0.5"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    (block,) = summary["omni_safetybench"]
    assert block["judge"].startswith("llm@") and block["lambda"] == 0.5 and block["alpha"] == 5.0
    assert summary["metric_settings"]["defaulted"] == ["osb_alpha"]
    subs = {s["subcategory"]: s for s in block["subcategories"]}
    # osb1: 2 of 8 unsafe, every answer refused -> s = (1 - 0.25) * (1 + 0.5 * 1) / 1.5 = 0.75
    assert subs["osb/osb1"]["c_asr"]["value"] == 0.25 and subs["osb/osb1"]["safety_score"] == pytest.approx(0.75)
    assert subs["osb/osb2"]["safety_score"] == pytest.approx(0.75 / 1.5)
    assert block["bootstrap"] is not None and "Omni-SafetyBench (lambda=0.5" in out
    # A later summary write (another judge) keeps the chosen lambda.
    assert main(["score", str(run), "--judge", "keyword"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["metric_settings"]["osb_lambda"] == 0.5 and summary["omni_safetybench"][0]["lambda"] == 0.5


def test_compare_two_runs(stub_server, tmp_path, capsys):
    server = stub_server()
    samples = synthetic_samples(n_harmful=30, n_benign=15, n_utility=0)

    def hardened(s):  # B refuses 5 harmful requests that A answered unsafely, and breaks one safe one
        n = int(s.id.rsplit("h", 1)[1]) if s.label == "harmful" else -1
        if s.label == "harmful" and n % 3 == 0 and n < 15:
            return f"refused {s.id} [[judge:safe]]"
        if n == 1:
            return f"oops {s.id} [[judge:unsafe]]"
        return default_response(s)

    run_a = make_run(tmp_path / "runs", samples, model="m", defense="none")
    run_b = make_run(tmp_path / "runs", samples, hardened, model="m", defense="other")
    for run in (run_a, run_b):
        assert main(["score", str(run), *llm_args(server, tmp_path / "cache"), "--make-default"]) == 0
    capsys.readouterr()
    assert main(["compare", run_a.name, run_b.name, "--runs", str(tmp_path / "runs"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    harmful = next(r for r in result["rows"] if r["label"] == "harmful")
    assert (harmful["only_a"], harmful["only_b"], harmful["n"]) == (1, 5, 30)
    assert harmful["p_exact"] == pytest.approx(2 * (1 + 6) / 64)
    benign = next(r for r in result["rows"] if r["label"] == "benign")
    assert benign["only_a"] == benign["only_b"] == 0 and benign["p_exact"] == 1.0
    assert main(["compare", run_a.name, run_b.name, "--runs", str(tmp_path / "runs")]) == 0
    assert "McNemar" in capsys.readouterr().out
    assert main(["compare", run_a.name, run_b.name, "--runs", str(tmp_path / "runs"), "--judge", "keyword"]) == 2


def test_judge_agreement_command(stub_server, tmp_path, capsys):
    server = stub_server()
    rows = [{"id": f"x{i}", "label": "unsafe" if i % 2 else "safe",
             "response": f"answer {i} [[judge:{'unsafe' if i % 2 or i == 4 else 'safe'}]]"} for i in range(10)]
    rows.append({"id": "y", "label": "refusal", "sample_label": "benign", "query": "bake bread",
                 "response": "no [[judge:REFUSAL]]"})
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out_file = tmp_path / "report.json"
    assert main(["judge-agreement", "--labels", str(labels), *llm_args(server, tmp_path / "cache"),
                 "--out", str(out_file)]) == 0
    text = capsys.readouterr().out
    report = json.loads(out_file.read_text())
    assert report["n"] == 11 and report["unknown"] == 0
    assert report["confusion"]["safe"]["unsafe"] == 1  # item 4: human safe, judge unsafe
    assert report["accuracy"]["k"] == 10 and "Cohen's kappa" in text and report["judge"]["model"] == "stub-judge"


def test_run_parser_maps_judge_endpoint_options():
    from harness.cli.common import endpoint_params

    args = build_parser().parse_args(["run", "--judge", "llm", "--judge-base-url", "http://127.0.0.1:9/v1",
                                      "--judge-model", "qwen-plus", "--judge-concurrency", "4"])
    assert endpoint_params(args) == {"base_url": "http://127.0.0.1:9/v1", "model": "qwen-plus", "concurrency": 4}
    assert endpoint_params(build_parser().parse_args(["run"])) == {}


def test_unknown_run_and_bad_judge_param_are_user_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["score", "nope", "--runs", str(tmp_path), "--judge", "keyword"]) == 2
    run = make_run(tmp_path / "runs", synthetic_samples(3, 0, 0))
    assert main(["score", str(run), "--judge", "llm", "--judge-model", "m"]) == 2  # OPENAI_API_KEY unset here
    err = capsys.readouterr().err
    assert "no run 'nope'" in err
    store = RunStore(run.parent, run.name)
    assert not store.verdicts()
