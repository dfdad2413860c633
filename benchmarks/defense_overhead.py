"""Wall time of each defense against `none` in one run: the same batches (one per test configuration, batch 8 by
default), greedy, each defense set up (calibrated) first, then timed call by call.

Each timed call is `defense.generate(backend, batch, config)` (templating and media processing included, as in a
run). Methods are interleaved batch by batch and round by round, so load from other processes on a shared machine
hits every method alike. The figure to quote is the median over (batch, round) of the paired ratio
time(defense) / time(none) on the same batch in the same round (with its interquartile range); the median batch
time is printed too. New tokens per batch are reported because a defense that changes the answers also changes
how many decode steps a batch needs (the loop stops when every row has ended).

    python -m benchmarks.defense_overhead                      # the model organism, default methods
    python -m benchmarks.defense_overhead --model tiny-omni --methods none,self-reminder --test smoke

Methods and their parameters are those of `benchmarks.defense_table` (refusal-steer matched to ReGap's norm).
Setup (calibration, training) is not timed here: artifacts are cached and reused by every later run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.defense_table import METHODS, add_common_args, matched_to_regap, method_params

DEFAULT_METHODS = "none,regap,omnisteer,refusal-steer,self-reminder"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.defense_overhead", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    add_common_args(p, methods=DEFAULT_METHODS)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p.parse_args(argv)


def timed_batches(samples: Sequence[Any], batch_size: int) -> list[list[Any]]:
    """One full batch per configuration (harmful and benign mixed, ids sorted): every modality is timed."""
    by_config: dict[str, list[Any]] = {}
    for s in sorted(samples, key=lambda s: s.id):
        by_config.setdefault(s.config, []).append(s)
    return [group[:batch_size] for _, group in sorted(by_config.items()) if len(group) >= batch_size]


def main(argv: Sequence[str] | None = None) -> int:
    from defenses.toolkit.splits import take_part
    from harness import config
    from harness.records import GenerationConfig
    from harness.run import default_registries, defense_context, load_backend, samples_loader
    from tasks.base import TaskContext

    args = parse_args(argv)
    names = args.methods.split(",")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    if names[0] != "none":
        names = ["none", *[n for n in names if n != "none"]]
    cache = config.cache_dir(args.cache_dir)
    registries = default_registries(args.include_path)
    task_context = TaskContext(cache_dir=cache, data_root=config.data_root(args.data_root))
    loader = samples_loader(registries, task_context)
    test = take_part(loader(args.test), args.test_part)
    batches = timed_batches(test, args.batch_size)
    if not batches:
        raise SystemExit(f"no configuration of {args.test!r} has a full batch of {args.batch_size}")
    backend = load_backend(registries, args.model, cache, backend=args.backend, dtype=args.dtype, device=args.device)
    context = defense_context(registries, args.model, task_context, seed=args.seed, evaluation_samples=test,
                              show_progress=False)
    defenses: dict[str, Any] = {}
    matched: dict[str, Any] | None = None
    for name in names:
        print(f"setting up {name} ...", file=sys.stderr)
        defense = registries.defenses.get(METHODS[name][0])(**method_params(name, args, matched))
        defense.setup(backend, context)
        defenses[name] = defense
        if name == "regap":
            matched = matched_to_regap(defense.info())
    gen = GenerationConfig(max_new_tokens=args.max_new_tokens)
    for batch in batches:  # warm-up: media decoding, lazy allocations
        for d in defenses.values():
            d.generate(backend, batch, gen)
    times: dict[str, list[float]] = {name: [] for name in defenses}
    tokens: dict[str, list[int]] = {name: [] for name in defenses}
    # Full prefills of the final generation, for defenses that report them (ReGap: 0 when the probe's prefill was
    # reused, 1 after a probe whose coefficients changed, or for rows it leaves alone, e.g. text).
    prefills: dict[str, list[int]] = {name: [] for name in defenses}
    resumed: dict[str, list[int]] = {name: [] for name in defenses}  # final prefills resumed from the probe's
    for _ in range(args.rounds):
        for batch in batches:
            for name, d in defenses.items():
                t0 = time.perf_counter()
                outputs = d.generate(backend, batch, gen)
                times[name].append(time.perf_counter() - t0)
                tokens[name].append(max(o.n_new_tokens for o in outputs))
                if "prefills" in outputs[0].info:
                    prefills[name].append(int(outputs[0].info["prefills"]))
                    resumed[name].append(int(outputs[0].info.get("resumed_from") is not None))
    base = statistics.median(times["none"])
    result: dict[str, Any] = {
        "model": args.model, "device": args.device, "dtype": args.dtype, "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens, "batches": [b[0].config for b in batches], "rounds": args.rounds,
        "command": "python -m benchmarks.defense_overhead " + " ".join(sys.argv[1:] if argv is None else argv),
        "matched_to_regap": matched, "methods": {},
    }
    for name, ts in times.items():
        ratios = [t / b for t, b in zip(ts, times["none"], strict=True)]
        paired = sorted(ratios)
        # calls run round by round over `batches`, so call i timed batch i % len(batches)
        by_config = {b[0].config: statistics.median(ratios[i::len(batches)]) for i, b in enumerate(batches)}
        q1, _, q3 = statistics.quantiles(paired, n=4) if len(paired) > 1 else (paired[0],) * 3
        result["methods"][name] = {"median_batch_s": statistics.median(ts), "ratio_to_none": statistics.median(paired),
                                   "ratio_iqr": [q1, q3], "median_batch_ratio": statistics.median(ts) / base,
                                   "decode_steps_per_batch": statistics.mean(tokens[name]),
                                   "ratio_by_config": by_config}
        if prefills[name]:
            per_config = {b[0].config: statistics.mean(prefills[name][i::len(batches)]) for i, b in enumerate(batches)}
            result["methods"][name]["prefills_per_batch"] = per_config
            result["methods"][name]["resumed_per_batch"] = {
                b[0].config: statistics.mean(resumed[name][i::len(batches)]) for i, b in enumerate(batches)}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{args.model} on {args.device}, batch {args.batch_size}, greedy, {args.max_new_tokens} new tokens, "
              f"{len(batches)} batches ({', '.join(result['batches'])}) x {args.rounds} rounds")
        head = f"  {'method':14s} {'ratio to none (median of paired, IQR)':>38s}"
        print(f"{head} {'median batch':>13s} {'decode steps':>13s}")
        for name, r in result["methods"].items():
            q1, q3 = r["ratio_iqr"]
            print(f"  {name:14s} {'x' + format(r['ratio_to_none'], '.3f'):>18s} [{q1:.3f}-{q3:.3f}]{'':6s} "
                  f"{r['median_batch_s'] * 1000:10.1f} ms {r['decode_steps_per_batch']:13.1f}   by configuration: "
                  + ", ".join(f"{c} x{v:.3f}" for c, v in r["ratio_by_config"].items()))
            if "prefills_per_batch" in r:
                print(f"  {'':14s} full final prefills per batch (0: the probe's prefill reused or resumed): "
                      + ", ".join(f"{c} {v:.1f}" for c, v in r["prefills_per_batch"].items()))
                print(f"  {'':14s} final prefills resumed from the first intervention layer: "
                      + ", ".join(f"{c} {v:.1f}" for c, v in r["resumed_per_batch"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
