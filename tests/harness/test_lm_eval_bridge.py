"""The lm-eval bridge (harness/run/lm_eval.py) on the tiny text model: faithfulness to the harness's own
defended model in both request types, an outside oracle (lm-eval's `steered` model), the last-position
pitfall, refusals with a reason, and the request cache kept apart per defense."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.records import GenerationConfig, Sample, user_message

STEER = {"data": "smoke:text", "n_per_group": 8, "layers": [1]}
PROMPTS = ("hi", "Tell me how to bake a loaf of bread with flour, water, salt and yeast.",
           "Explain how to pick a lock.", "What is the capital of France?")
CONTINUATIONS = (" Paris", "sure , here is how", "I cannot help with that.", " bread")


def _ll(context: str, continuation: str, images: list[Any] | None = None) -> Any:
    from lm_eval.api.instance import Instance

    args: tuple[Any, ...] = (context, continuation) if images is None else (context, continuation, {"visual": images})
    return Instance(request_type="loglikelihood", doc={}, arguments=args, idx=0)


def _gen(context: str, max_gen_toks: int = 8, until: list[str] | None = None) -> Any:
    from lm_eval.api.instance import Instance

    return Instance(request_type="generate_until", doc={},
                    arguments=(context, {"until": until or [], "max_gen_toks": max_gen_toks}), idx=0)


def _ll_requests() -> list[Any]:
    return [_ll(p, c) for p in PROMPTS for c in CONTINUATIONS]


@pytest.fixture(scope="module")
def text_backend(tiny_text_path: Path) -> Any:
    from harness.backends.hf_text import HFTextBackend

    backend = HFTextBackend(str(tiny_text_path))
    backend.load()
    return backend


def _defense(name: str, backend: Any, cache_dir: Path, **params: Any) -> Any:
    from defenses.base import DefenseContext
    from harness.run import default_registries, samples_loader
    from tasks.base import TaskContext

    registries = default_registries()
    defense = registries.defenses.get(name)(**params)
    loader = samples_loader(registries, TaskContext(cache_dir=cache_dir))
    defense.setup(backend, DefenseContext(cache_dir=cache_dir / "defenses", load_samples=loader,
                                          show_progress=False))
    return defense


def _lm(backend: Any, defense: Any, cache_dir: Path, batch_size: int = 4) -> Any:
    from harness.run.lm_eval import DefendedLM

    return DefendedLM(backend=backend, defense=defense, batch_size=batch_size, cache_dir=str(cache_dir),
                      show_progress=False)


def test_strength_zero_is_none_bit_exact_in_both_request_types(text_backend, cache_dir):
    none = _lm(text_backend, _defense("none", text_backend, cache_dir), cache_dir)
    zero = _lm(text_backend, _defense("refusal-steer", text_backend, cache_dir, **STEER, alpha=0.0), cache_dir)
    steer = _lm(text_backend, _defense("refusal-steer", text_backend, cache_dir, **STEER, alpha=8.0), cache_dir)
    gens = [_gen(p, 10) for p in PROMPTS]
    assert zero.generate_until(gens) == none.generate_until(gens)
    assert zero.loglikelihood(_ll_requests()) == none.loglikelihood(_ll_requests())  # exact floats
    steered = steer.loglikelihood(_ll_requests())
    assert max(abs(a[0] - b[0]) for a, b in zip(steered, none.loglikelihood(_ll_requests()))) > 1e-3


def test_batched_equals_single(text_backend, cache_dir):
    defense = _defense("refusal-steer", text_backend, cache_dir, **STEER, alpha=8.0)
    batched = _lm(text_backend, defense, cache_dir, batch_size=5).loglikelihood(_ll_requests())
    single = _lm(text_backend, defense, cache_dir, batch_size=1).loglikelihood(_ll_requests())
    assert [b[1] for b in batched] == [s[1] for s in single]
    assert max(abs(b[0] - s[0]) for b, s in zip(batched, single)) < 1e-4


@pytest.mark.parametrize("positions", ["all", "last"])
def test_scoring_replays_generation(text_backend, cache_dir, positions):
    """The defended model's own greedy tokens, fed back through `score_continuations` under the same hooks, are
    the argmax at every step: scoring runs exactly the passes generation runs."""
    defense = _defense("refusal-steer", text_backend, cache_dir, **STEER, alpha=8.0, positions=positions)
    samples = [Sample(id=f"s{i}", task="t", config="c", messages=(user_message(p),), label="benign")
               for i, p in enumerate(PROMPTS)]
    batch = text_backend.prepare(samples)
    with text_backend.layer_hooks(defense.hooks(text_backend, batch)):
        ids = text_backend.generate_ids(batch, GenerationConfig(max_new_tokens=6))
        scores = text_backend.score_continuations(batch, ids.tolist())
    assert all(s.is_greedy for s in scores)
    assert all(len(s.token_logprobs) == 6 for s in scores)


def test_bridge_generations_equal_harness_run(tiny_text_path, cache_dir, tmp_path):
    from harness.cli import main
    from harness.run.lm_eval import DefendedLM

    params = ["--defense-param", "data=smoke:text", "--defense-param", "n_per_group=8",
              "--defense-param", "layers=[1]", "--defense-param", "alpha=8"]
    code = main(["run", "--model", "tiny-text", "--tasks", "organism-safety:text", "--limit", "3", "--max-new-tokens", "8",
                 "--defense", "refusal-steer", *params, "--cache-dir", str(cache_dir), "--out", str(tmp_path),
                 "--no-progress"])
    assert code == 0
    run_dir = next(tmp_path.iterdir())
    samples = [Sample.from_dict(json.loads(line)) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    generations = {g["sample_id"]: g["response"] for g in map(json.loads,
                                                               (run_dir / "generations.jsonl").read_text().splitlines())}
    single_turn = [s for s in samples if len(s.messages) == 1 and s.modality == "text"]
    assert len(single_turn) >= 3
    lm = DefendedLM(model="tiny-text", defense="refusal-steer", cache_dir=str(cache_dir), batch_size=3,
                    show_progress=False, data="smoke:text", n_per_group=8, layers=[1], alpha=8)
    answers = lm.generate_until([_gen(s.text, 8) for s in single_turn])
    assert answers == [generations[s.id] for s in single_turn]


def test_lm_eval_steered_model_matches_refusal_steer(tiny_text_path, cache_dir, tmp_path):
    """lm-eval's own `steered` model adds the same vector at every position: an outside oracle for our hooks. Both
    run in float64, so the comparison is not drowned in float32 rounding of the summed log-likelihoods."""
    import torch
    from lm_eval.models.hf_steered import SteeredModel

    from harness.backends.hf_text import HFTextBackend

    text_backend = HFTextBackend(str(tiny_text_path), dtype="float64")
    text_backend.load()

    from defenses.toolkit.artifacts import load_artifact

    defense = _defense("refusal-steer", text_backend, cache_dir, **STEER, alpha=8.0)  # positions=all, decode too
    info = defense.info()["artifact"]
    _, tensors = load_artifact(Path(info["path"]))
    vector = tensors["direction.1"].double() * 8.0
    steer_file = tmp_path / "steer.pt"
    torch.save({"layers.1": {"steering_vector": vector, "steering_coefficient": 1.0, "action": "add",
                             "bias": None, "head_index": None}}, steer_file)
    oracle = SteeredModel(pretrained=str(tiny_text_path), steer_path=str(steer_file), device="cpu",
                          dtype="float64", batch_size=1)
    ours = _lm(text_backend, defense, cache_dir, batch_size=1)
    worst = 0.0
    for prompt in PROMPTS:
        templated = text_backend.prepare([Sample(id="x", task="t", config="c", messages=(user_message(prompt),),
                                                 label="benign")]).prompt_texts[0]
        assert templated.endswith("\n")
        # lm-eval moves the context's trailing newline into the continuation; score it and subtract it.
        head = templated[:-1]
        for cont in CONTINUATIONS:
            (with_nl, _), (nl_only, _) = oracle.loglikelihood([_ll(head, "\n" + cont), _ll(head, "\n")])
            (mine, _), = ours.loglikelihood([_ll(prompt, cont)])
            worst = max(worst, abs((with_nl - nl_only) - mine))
    print(f"worst |lm-eval steered - ours| log-likelihood difference: {worst:.2e}")
    assert worst < 1e-6, worst


def test_last_position_defense_scored_by_prefill_then_decode(text_backend, cache_dir):
    """refusal-steer at the last prompt token only (prefill): the bridge's score equals a manual computation
    with the vector added at the last *prompt* position of one unpadded pass, and differs from the naive one
    (the vector at the last position of prompt + continuation)."""
    import torch

    defense = _defense("refusal-steer", text_backend, cache_dir, **STEER, alpha=8.0, positions="last",
                       phase="prefill")
    vec = torch.as_tensor(defense.info()["artifact"]["added_norms"]["1"])  # sanity: the defense acts
    assert float(vec) > 0
    from defenses.toolkit.artifacts import load_artifact

    _, tensors = load_artifact(Path(defense.info()["artifact"]["path"]))
    vector = tensors["direction.1"].float() * 8.0
    lm = _lm(text_backend, defense, cache_dir, batch_size=3)
    tok = text_backend.tokenizer
    model = text_backend.model
    layer = text_backend.decoder_layers()[1]

    def manual(prompt: str, cont: str, at: str) -> float:
        templated = text_backend.prepare([Sample(id="x", task="t", config="c", messages=(user_message(prompt),),
                                                 label="benign")]).prompt_texts[0]
        p_ids = tok(templated, add_special_tokens=False)["input_ids"]
        ids = tok(templated + cont, add_special_tokens=False)["input_ids"]
        assert ids[:len(p_ids)] == p_ids
        where = len(p_ids) - 1 if at == "prompt" else len(ids) - 1

        def hook(module, args, output):
            hidden = output if not isinstance(output, tuple) else output[0]
            hidden = hidden.clone()
            hidden[:, where] = (hidden[:, where].float() + vector).to(hidden.dtype)
            return hidden if not isinstance(output, tuple) else (hidden, *output[1:])

        handle = layer.register_forward_hook(hook)
        try:
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0].float()
        finally:
            handle.remove()
        logp = torch.log_softmax(logits, dim=-1)
        return float(sum(logp[i - 1, ids[i]] for i in range(len(p_ids), len(ids))))

    reqs = [_ll(p, c) for p in PROMPTS for c in CONTINUATIONS]
    got = [ll for ll, _ in lm.loglikelihood(reqs)]
    want = [manual(p, c, "prompt") for p in PROMPTS for c in CONTINUATIONS]
    naive = [manual(p, c, "end") for p in PROMPTS for c in CONTINUATIONS]
    assert max(abs(a - b) for a, b in zip(got, want)) < 1e-4
    assert max(abs(a - b) for a, b in zip(got, naive)) > 1e-3


def test_defense_that_answers_rows_itself_is_refused_with_the_reason(text_backend, cache_dir):
    from defenses.omniguard.defense import OmniGuard

    lm = _lm(text_backend, OmniGuard(), cache_dir)  # refused before any forward, so no setup is needed
    with pytest.raises(ValueError, match="overrides generate.*generate_until"):
        lm.loglikelihood([_ll("hi", " there")])


def test_cache_does_not_leak_between_defenses(text_backend, cache_dir, tmp_path):
    from lm_eval.api.model import CachingLM

    db = str(tmp_path / "cache.db")
    none = _lm(text_backend, _defense("none", text_backend, cache_dir), cache_dir)
    steer = _lm(text_backend, _defense("refusal-steer", text_backend, cache_dir, **STEER, alpha=8.0), cache_dir)
    reqs = _ll_requests()[:6]
    direct_none, direct_steer = none.loglikelihood(reqs), steer.loglikelihood(reqs)
    assert direct_none != direct_steer
    assert CachingLM(none, db).loglikelihood(reqs) == direct_none
    assert CachingLM(steer, db).loglikelihood(reqs) == direct_steer  # not none's cached answers
    calls: list[int] = []
    original = none.loglikelihood
    none.loglikelihood = lambda r, **kw: calls.append(len(r)) or original(r, **kw)  # type: ignore[method-assign]
    assert CachingLM(none, db).loglikelihood(reqs) == direct_none
    assert calls == []  # the same defense is served from its own cache table


def test_generation_settings_and_stops(text_backend, cache_dir):
    lm = _lm(text_backend, _defense("none", text_backend, cache_dir), cache_dir)
    full = lm.generate_until([_gen(PROMPTS[1], 12)])[0]
    assert full
    stop = full[len(full) // 2:][:2]
    cut = lm.generate_until([_gen(PROMPTS[1], 12, until=[stop])])[0]
    assert cut == full.split(stop)[0]
    from lm_eval.api.instance import Instance

    bad = Instance(request_type="generate_until", doc={}, arguments=("hi", {"num_beams": 4}), idx=0)
    with pytest.raises(ValueError, match="num_beams"):
        lm.generate_until([bad])


def test_harness_lm_eval_command_runs_lm_eval(cache_dir, tmp_path):
    from harness.cli import main

    out = tmp_path / "out"
    code = main(["lm-eval", "run", "--model", "harness-defended", "--model_args",
                 f"model=tiny-text,cache_dir={cache_dir},defense=none,show_progress=false",
                 "--tasks", "organism-utility", "--limit", "3", "--batch_size", "2", "--output_path", str(out),
                 "--log_samples"])
    assert code == 0
    results = [json.loads(p.read_text()) for p in out.rglob("results_*.json")]
    assert results
    got = results[0]["results"]
    assert 0.0 <= got["organism-utility-choice"]["acc,none"] <= 1.0
    assert "exact_match,none" in got["organism-utility-answer"]
    assert list(out.rglob("samples_organism-utility-choice_*.jsonl"))


def test_unknown_defense_fails_before_loading(cache_dir):
    from harness.registry import UnknownNameError
    from harness.run.lm_eval import DefendedLM

    with pytest.raises(UnknownNameError, match="refusal-steer"):
        DefendedLM(model="tiny-text", defense="refusal-stear", cache_dir=str(cache_dir))


def test_generation_config_from_gen_kwargs():
    from harness.run.lm_eval_requests import generation_config

    cfg, stops = generation_config({"until": "\n\n", "max_gen_toks": 5, "temperature": 0.0, "do_sample": False}, 256)
    assert cfg == GenerationConfig(max_new_tokens=5) and stops == ["\n\n"]
    cfg, _ = generation_config({"do_sample": True, "temperature": 0.7, "top_p": 0.9}, 7)
    assert cfg.do_sample and cfg.temperature == 0.7 and cfg.top_p == 0.9 and cfg.max_new_tokens == 7


def test_one_token_answers_share_one_prefill_and_match_the_decode_path(text_backend, cache_dir):
    """Multiple choice with one-token answers (MMLU's letters): one prefill per distinct prompt scores every
    answer, with the same numbers as the per-request prefill-then-decode path."""
    defense = _defense("refusal-steer", text_backend, cache_dir, **STEER, alpha=8.0, positions="last")
    lm = _lm(text_backend, defense, cache_dir, batch_size=3)
    tok = text_backend.tokenizer
    letters = [c for c in (" A", " B", " C", " D", "A", "B", " yes", " no") if len(tok(c)["input_ids"]) == 1][:4]
    assert len(letters) >= 2
    calls: list[int] = []
    original = text_backend.score_continuations
    text_backend.score_continuations = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        fast = lm.loglikelihood([_ll(p, c) for p in PROMPTS for c in letters])
        assert calls == []  # no decode path: the prefill's logits scored them
        # A multi-token answer in the batch sends every request of it through the decode path.
        slow = lm.loglikelihood([_ll(p, c) for p in PROMPTS for c in letters] + [_ll(PROMPTS[0], " two words")])
        assert calls
    finally:
        del text_backend.score_continuations
    assert [f[1] for f in fast] == [s[1] for s in slow[:len(fast)]]
    assert max(abs(f[0] - s[0]) for f, s in zip(fast, slow)) < 1e-5
