"""ReGap's cost per batch against `none` (greedy, batch 8 by default), with the probe's two paths forced apart:

- `regap[reuse]`  : every media row keeps lambda_probe (tau = -inf): the probe prefill is the final one;
- `regap[rerun]`  : every media row gets lambda_weak (tau = +inf): the probe stops after the deepest diagnostic
                    layer and one full prefill with the final lambdas follows;
- `regap`         : the calibrated tau (whatever mix the data give);
- `regap-fixed`   : lambda_strong on every media row, no probe.

Each timed call is `defense.generate(backend, batch, config)` (templating and media processing included, as in a
run). Methods are interleaved round by round and the median over rounds is reported, so load from other
processes on a shared machine hits every method alike; still, treat CPU figures as rough.

    python -m benchmarks.regap_overhead --model tiny-omni --calibration smoke --calibration-part 0-40% \\
        --validation smoke --validation-part 40-70% --test smoke --test-part 70-100%
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from benchmarks.defense_table import add_common_args

    p = argparse.ArgumentParser(prog="python -m benchmarks.regap_overhead", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    add_common_args(p, methods=None)
    p.add_argument("--batches", type=int, default=4, help="distinct media batches per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p.parse_args(argv)


def force_tau(defense: Any, tau: float) -> None:
    policy = defense.calibrated.policy
    policy.by_modality = {}
    policy.pooled = dataclasses.replace(policy.pooled, tau=tau)


def main(argv: Sequence[str] | None = None) -> int:
    from defenses.base import NoDefense
    from defenses.toolkit.splits import take_part
    from harness import config
    from harness.records import GenerationConfig
    from harness.run import default_registries, defense_context, load_backend, samples_loader
    from tasks.base import TaskContext

    args = parse_args(argv)
    cache = config.cache_dir(args.cache_dir)
    registries = default_registries(args.include_path)
    task_context = TaskContext(cache_dir=cache, data_root=config.data_root(args.data_root))
    loader = samples_loader(registries, task_context)
    test = take_part(loader(args.test), args.test_part)
    media = sorted((s for s in test if s.modality != "text"), key=lambda s: s.id)
    batches = [media[i:i + args.batch_size] for i in range(0, len(media), args.batch_size)]
    batches = [b for b in batches if len(b) == args.batch_size][:args.batches]
    if not batches:
        raise SystemExit("not enough media test samples for one full batch")
    backend = load_backend(registries, args.model, cache, backend=args.backend, dtype=args.dtype, device=args.device)
    params = {"calibration": args.calibration, "calibration_part": args.calibration_part,
              "validation": args.validation, "validation_part": args.validation_part,
              **config.key_values(args.param, "param")}
    context = defense_context(registries, args.model, task_context, seed=args.seed, evaluation_samples=test,
                              show_progress=False)

    def regap(name: str = "regap", tau: float | None = None) -> Any:
        d = registries.defenses.get(name)(**params)
        d.setup(backend, context)
        if tau is not None:
            force_tau(d, tau)
        return d

    methods = {"none": NoDefense(), "regap[reuse]": regap(tau=float("-inf")),
               "regap[rerun]": regap(tau=float("inf")), "regap": regap(), "regap-fixed": regap("regap-fixed")}
    gen = GenerationConfig(max_new_tokens=args.max_new_tokens)
    times: dict[str, list[float]] = {name: [] for name in methods}
    info: dict[str, list[dict[str, Any]]] = {name: [] for name in methods}
    for batch in batches:  # warm-up (media decoding caches, lazy allocations)
        for d in methods.values():
            d.generate(backend, batch, gen)
    for _ in range(args.rounds):
        for batch in batches:
            for name, d in methods.items():
                t0 = time.perf_counter()
                outputs = d.generate(backend, batch, gen)
                times[name].append(time.perf_counter() - t0)
                info[name].extend(o.info for o in outputs)
    base = statistics.median(times["none"])
    result = {"model": args.model, "device": args.device, "batch_size": args.batch_size,
              "max_new_tokens": args.max_new_tokens, "batches": len(batches), "rounds": args.rounds,
              "command": "python -m benchmarks.regap_overhead " + " ".join(sys.argv[1:] if argv is None else argv),
              "methods": {}}
    for name in methods:
        med = statistics.median(times[name])
        rows = info[name]
        result["methods"][name] = {
            "median_batch_s": med, "ratio_to_none": med / base,
            "cache_reused_share": (sum(bool(r["cache_reused"]) for r in rows) / len(rows))
            if rows and "cache_reused" in rows[0] else None,
            "probe_s_per_row": statistics.median(r["probe_s"] for r in rows) if rows and "probe_s" in rows[0]
            else None,
        }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{args.model}, batch {args.batch_size}, greedy, {args.max_new_tokens} new tokens, "
              f"{len(batches)} batches x {args.rounds} rounds (median)")
        for name, r in result["methods"].items():
            reuse = "" if r["cache_reused_share"] is None else f"  cache reused {r['cache_reused_share']:.0%}"
            print(f"  {name:14s} {r['median_batch_s'] * 1000:8.1f} ms  x{r['ratio_to_none']:.3f}{reuse}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
