"""generate_until throughput through the lm-eval bridge (`harness-defended`, defense `none`) against lm-eval's
plain `hf` model on the same tiny model and the same prompts.

Both get identical token sequences: the bridge templates each prompt with the backend's chat template and system
prompt; the `hf` model gets the same templated text (lm-eval's `apply_chat_template` with the same tokenizer and
system prompt). Greedy, the same `until` and `max_gen_toks`. The two are timed round by round, alternating which
goes first, on one torch thread, and the median round is reported; the ratio is bridge throughput / hf
throughput (>= 1: the bridge is not slower). Answers are compared too (they should be identical).

    python -m benchmarks.lm_eval_throughput --model tiny-text --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

PROMPTS = (
    "hi", "What is the capital of France?", "Tell me how to bake a loaf of bread with flour, water, salt and yeast.",
    "Explain photosynthesis to a child.", "Write a haiku about the sea.", "List three prime numbers.",
    "How do I sort a list in Python?", "Describe a quiet lake at dawn in two sentences.",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lm_eval_throughput", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    p.add_argument("--model", default="tiny-text", help="a text model alias or directory (hf-text backend)")
    p.add_argument("--requests", type=int, default=32, help="generate_until requests per round")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-gen-toks", type=int, default=32)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache-dir", default=None)
    return p.parse_args(argv)


def requests(contexts: Sequence[str], max_gen_toks: int) -> list[Any]:
    from lm_eval.api.instance import Instance

    kwargs = {"until": ["\n\n\n"], "max_gen_toks": max_gen_toks, "do_sample": False}
    return [Instance(request_type="generate_until", doc={}, arguments=(c, dict(kwargs)), idx=i)
            for i, c in enumerate(contexts)]


def main(argv: Sequence[str] | None = None) -> int:
    import torch
    from lm_eval.models.huggingface import HFLM

    from harness import config
    from harness.run.lm_eval import DefendedLM
    from harness.run import resolve_model

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cache = config.cache_dir(args.cache_dir)
    path = resolve_model(args.model, cache).path
    bridge = DefendedLM(model=args.model, backend="hf-text", defense="none", cache_dir=str(cache),
                        batch_size=args.batch_size, device="cpu", show_progress=False)
    plain = HFLM(pretrained=path, device="cpu", dtype="float32", batch_size=args.batch_size)
    prompts = [PROMPTS[i % len(PROMPTS)] + ("" if i < len(PROMPTS) else f" ({i})") for i in range(args.requests)]
    system = bridge.harness_backend.system_prompt
    templated = [plain.apply_chat_template(([{"role": "system", "content": system}] if system else [])
                                           + [{"role": "user", "content": p}]) for p in prompts]
    ours = requests(prompts, args.max_gen_toks)
    theirs = requests(templated, args.max_gen_toks)
    answers = {"bridge": bridge.generate_until(ours, disable_tqdm=True),  # warm-up, and the answers compared
               "hf": plain.generate_until(theirs, disable_tqdm=True)}
    same = sum(a == b for a, b in zip(answers["bridge"], answers["hf"]))
    times: dict[str, list[float]] = {"bridge": [], "hf": []}
    runs = {"bridge": lambda: bridge.generate_until(ours, disable_tqdm=True),
            "hf": lambda: plain.generate_until(theirs, disable_tqdm=True)}
    for r in range(args.rounds):
        for name in (("bridge", "hf") if r % 2 == 0 else ("hf", "bridge")):
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["hf"] / med["bridge"]
    paired = statistics.median(h / b for h, b in zip(times["hf"], times["bridge"]))
    print(f"# python -m benchmarks.lm_eval_throughput {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"{args.model} on cpu ({args.threads} thread), {args.requests} generate_until requests per round, batch "
          f"{args.batch_size}, greedy, max_gen_toks {args.max_gen_toks}, {args.rounds} rounds (interleaved, median)")
    for name in ("bridge", "hf"):
        print(f"  {name:7s} {med[name]:7.3f} s/round  {args.requests / med[name]:7.1f} requests/s")
    print(f"  throughput ratio bridge/hf: {ratio:.3f} (median of per-round ratios {paired:.3f})")
    print(f"  identical answers: {same}/{len(prompts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
