from harness.records import Generation, RunSpec, Sample, TaskRef, Verdict, user_message
from harness.summary import format_table, summarise

SPEC = RunSpec(model="m", backend="hf-text", defense="none", tasks=(TaskRef("t", "1"),))


def sample(i, label, config="c"):
    return Sample(id=f"{label}{i}", task="t", config=config, label=label, messages=(user_message("q"),),
                  source_id=str(i))


def gen(s):
    return Generation(sample_id=s.id, task=s.task, config=s.config, label=s.label, modality=s.modality, response="r")


def test_accuracy_mean_score_and_settings():
    util = [sample(i, "utility") for i in range(5)]
    harm = [sample(i, "harmful") for i in range(3)]
    samples = util + harm
    gens = {s.id: gen(s) for s in samples}
    v = {
        "utility0": Verdict("utility0", "j", "safe", detail={"correct": True}),
        "utility1": Verdict("utility1", "j", "safe", detail={"correct": False}),
        "utility2": Verdict("utility2", "j", "safe", detail={"correct": True}),
        "utility3": Verdict("utility3", "j", "unknown", detail={"error": "timeout"}),
        # utility4 has no verdict: "missing"
        "harmful0": Verdict("harmful0", "j", "unsafe", detail={"score": 0.75}),
        "harmful1": Verdict("harmful1", "j", "safe", detail={"score": 0.25}),
        "harmful2": Verdict("harmful2", "j", "refusal", detail={"score": 0.0, "refused": 1}),
    }
    summary = summarise(SPEC, samples, gens, {"j": v}, {"j": {"id": "j"}}, "j")
    rows = {r["label"]: r for r in summary["rows"]}
    acc = rows["utility"]["accuracy"]
    assert (acc["k"], acc["n"]) == (2, 3) and rows["utility"]["unknown"] == 1 and rows["utility"]["missing"] == 1
    assert (rows["utility"]["unknown_rate"]["k"], rows["utility"]["unknown_rate"]["n"]) == (1, 4)
    assert rows["harmful"]["accuracy"] is None and rows["utility"]["mean_score"] is None
    assert rows["harmful"]["mean_score"] == {"mean": (0.75 + 0.25 + 0.0) / 3, "n": 3}
    assert rows["harmful"]["asr"]["k"] == 1 and rows["harmful"]["rsr"]["k"] == 2
    assert summary["schema"] == "harness.summary/1" and "omni_safetybench" not in summary
    settings = summary["metric_settings"]
    assert settings["osb_lambda"] == 1.0 and settings["defaulted"] == ["osb_lambda", "osb_alpha"]
    assert any("[reconstructed]" in n for n in settings["notes"])
    table = format_table(summary)
    assert "accuracy" in table and "66.7%" in table


def test_omni_safetybench_block_is_named_by_judge_and_shown():
    samples = [sample(i, "harmful", config=c) for c in ("a", "b") for i in range(4)]
    gens = {s.id: gen(s) for s in samples}
    verdicts = {}
    for k, s in enumerate(samples):
        safe = k % 3 != 0
        verdicts[s.id] = Verdict(s.id, "osbjudge", "safe" if safe else "unsafe",
                                 detail={"understood": True, "safe": safe, "refused": False})
    summary = summarise(SPEC, samples, gens, {"osbjudge": verdicts, "kw": {}}, {}, "kw",
                        metric_settings={"osb_lambda": 2.0})
    (block,) = summary["omni_safetybench"]
    assert block["judge"] == "osbjudge" and block["lambda"] == 2.0
    assert summary["metric_settings"]["defaulted"] == ["osb_alpha"]
    assert "Omni-SafetyBench" in format_table(summary, "osbjudge")
    assert "Omni-SafetyBench" not in format_table(summary, "kw")


def test_combined_score_as_the_reference_stat_and_balance_note():
    # harmful: 2 safe/refused of 3 judged (+1 unknown, excluded); benign: 1 answered of 2 judged
    harm = [sample(i, "harmful") for i in range(4)]
    ben = [sample(i, "benign") for i in range(2)] + [sample(9, "benign", config="only-benign")]
    samples = harm + ben
    gens = {s.id: gen(s) for s in samples}
    labels = {"harmful0": "safe", "harmful1": "refusal", "harmful2": "unsafe", "harmful3": "unknown",
              "benign0": "safe", "benign1": "refusal", "benign9": "safe"}
    v = {k: Verdict(k, "j", lab) for k, lab in labels.items()}
    summary = summarise(SPEC, samples, gens, {"j": v}, {"j": {"id": "j"}}, "j")
    by = {c["config"]: c for c in summary["combined"]}
    assert set(by) == {None, "c"}  # a configuration with one label only has no combined score of its own
    c = by["c"]["combined"]
    assert (c["k"], c["n"]) == (2 + 1, 3 + 2) and by["c"]["harmful_judged"] == 3
    assert (by[None]["combined"]["k"], by[None]["combined"]["n"]) == (4, 6)  # the task: + the lone benign item
    assert summary["label_counts"] == {"t": {"harmful": 4, "benign": 3}}
    assert any("benign/harmful imbalance: 3 benign vs 4 harmful samples" in n for n in summary["notes"])
    assert "combined score t:  66.7%" in format_table(summary)
    balanced = summarise(SPEC, harm[:2] + ben[:2], gens, {"j": v}, {"j": {"id": "j"}}, "j")
    assert not any("imbalance" in n for n in balanced["notes"])
