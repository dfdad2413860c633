"""What `harness analyze` costs: the analysis pass over N samples against a generation-free forward pass over the
same samples (same batches, same backend), and its peak memory at two sample counts.

- time: both passes run round by round, interleaved (so load from other processes hits both alike); the ratio
  is median(analysis) / median(forward). The analysis pass includes everything the command does per batch
  (templating, media processing, the read-out hooks, the statistics, the held-out summaries, checkpoints);
  the forward pass is `backend.prefill` of the same prepared batches with no hooks.
- memory: each sample count runs in a fresh process, which reports its peak resident memory before and after
  the analysis pass (model and samples already loaded); the growth during the pass must not grow with N.

    python -m benchmarks.analyze_cost --model organism --samples 1000 --memory-samples 250,1000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TASKS = "organism-safety,organism-calibration,organism-validation"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.analyze_cost", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    p.add_argument("--model", default="organism")
    p.add_argument("--tasks", default=TASKS)
    p.add_argument("--samples", type=int, default=1000, help="samples timed (the first N of the tasks)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--layers", default="embed,all")
    p.add_argument("--positions", default="last")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--memory-samples", default="250,1000", help="sample counts for the memory check ('' = skip)")
    p.add_argument("--memory-probe", type=int, default=None, help=argparse.SUPPRESS)  # child process mode
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p.parse_args(argv)


def _setup(args: argparse.Namespace, n: int) -> tuple[Any, list[Any], Any, Any]:
    from harness import config
    from harness.run import default_registries, load_backend, samples_loader
    from harness.run.analysis_plan import AnalysisSettings, resolve_layers
    from tasks.base import TaskContext, parse_task_list

    cache = config.cache_dir(args.cache_dir)
    registries = default_registries()
    loader = samples_loader(registries, TaskContext(cache_dir=cache))
    samples = [s for sel in parse_task_list(args.tasks) for s in loader(str(sel))]
    if len(samples) < n:
        raise SystemExit(f"--tasks {args.tasks} hold {len(samples)} samples, fewer than {n}")
    # A fixed selection that mixes tasks, configurations and labels at every N.
    samples = sorted(samples, key=lambda s: hashlib.sha256(s.id.encode()).hexdigest())[:n]
    backend = load_backend(registries, args.model, cache, device=args.device)
    settings = AnalysisSettings(layers=args.layers, positions=tuple(args.positions.split(",")))
    return backend, samples, settings, resolve_layers(args.layers, backend.num_layers)


def _analysis(backend: Any, samples: list[Any], settings: Any, layers: Any, batch_size: int) -> float:
    from harness.run.analysis_pass import run_pass
    from harness.run.analysis_plan import plan

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_pass(backend, plan(samples, settings), settings, layers, batch_size=batch_size,
                 state_path=Path(tmp) / "state.pt")
        return time.perf_counter() - t0


def _forward(backend: Any, parts: Sequence[Sequence[Any]], batch_size: int) -> float:
    import torch

    t0 = time.perf_counter()
    for part in parts:
        for start in range(0, len(part), batch_size):
            with torch.no_grad():
                backend.prefill(backend.prepare(part[start:start + batch_size]), ())
    return time.perf_counter() - t0


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def memory_probe(args: argparse.Namespace) -> dict[str, Any]:
    backend, samples, settings, layers = _setup(args, args.memory_probe)
    _forward(backend, [samples[:args.batch_size * 4]], args.batch_size)  # warm-up allocations
    before = _peak_mb()
    seconds = _analysis(backend, samples, settings, layers, args.batch_size)
    after = _peak_mb()
    return {"samples": len(samples), "peak_before_mb": before, "peak_after_mb": after,
            "growth_mb": after - before, "seconds": seconds}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_probe is not None:
        print(json.dumps(memory_probe(args)))
        return 0
    from harness.run.analysis_plan import plan

    backend, samples, settings, layers = _setup(args, args.samples)
    the_plan = plan(samples, settings)
    _forward(backend, [samples[:args.batch_size * 4]], args.batch_size)  # warm-up
    forward, analysis = [], []
    for _ in range(args.rounds):
        forward.append(_forward(backend, [the_plan.fit, the_plan.held_out], args.batch_size))  # the same batches
        analysis.append(_analysis(backend, samples, settings, layers, args.batch_size))
    result: dict[str, Any] = {
        "model": args.model, "device": args.device, "samples": len(samples), "batch_size": args.batch_size,
        "layers": list(layers), "positions": list(settings.positions), "hidden_size": backend.hidden_size,
        "rounds": args.rounds, "forward_s": forward, "analysis_s": analysis,
        "ratio": statistics.median(analysis) / statistics.median(forward),
        "command": "python -m benchmarks.analyze_cost " + " ".join(sys.argv[1:] if argv is None else argv),
        "memory": []}
    for n in [int(x) for x in args.memory_samples.split(",") if x.strip()]:
        cmd = [sys.executable, "-m", "benchmarks.analyze_cost", "--model", args.model, "--tasks", args.tasks,
               "--batch-size", str(args.batch_size), "--layers", args.layers, "--positions", args.positions,
               "--device", args.device, "--memory-probe", str(n)] + (
            ["--cache-dir", args.cache_dir] if args.cache_dir else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        result["memory"].append(json.loads(out.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{args.model}: {len(samples)} samples, batch {args.batch_size}, layers {layers[0]}..{layers[-1]}, "
              f"read-outs {','.join(settings.positions)} (median of {args.rounds} rounds)")
        print(f"  forward pass (no generation) {statistics.median(forward):8.2f} s")
        print(f"  analysis pass                {statistics.median(analysis):8.2f} s   ratio {result['ratio']:.3f}")
        for m in result["memory"]:
            print(f"  memory, {m['samples']:5d} samples: peak {m['peak_after_mb']:.0f} MB, "
                  f"growth during the pass {m['growth_mb']:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
