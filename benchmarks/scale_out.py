"""Scale-out figures: data-parallel generation (2 torchrun ranks vs 1 process) and the LLM judge over two servers
vs one.

1. Generation: `harness run` of the organism on `organism-safety`, once as one process and once under
   `torchrun --nproc_per_node 2`, every process with one thread (`--threads 1`), fresh run folders each round,
   rounds alternated so that load from other jobs hits both sides alike. samples/s is taken from each run's
   run_info.json (generation phase: samples / seconds of the slowest rank; model loading is reported apart,
   as wall seconds of the whole command).
2. Judge: the LLM judge scores distinct items (cache off) against one local OpenAI-compatible server, then
   against two; each server (tests/support/openai_server.py, own process) works on `--slots` requests at once
   for `--delay` seconds each, so one server's capacity is slots / delay verdicts/s. The judge's concurrency is
   per server.

    python -m benchmarks.scale_out                      # from the repository root; writes results/scale_out.txt
    python -m benchmarks.scale_out --limit 8 --rounds 1 --json

Targets (issue 17): generation >= 1.6x with 2 ranks on a 2-core machine; judge >= 1.8x with two servers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.judge_throughput import ServerProcess
from harness.records import Generation, Sample, user_message
from judges.base import JudgeItem
from judges.llm import LLMJudge

ROOT = Path(__file__).resolve().parent.parent


# -- 1. generation -------------------------------------------------------------------------------------------
def run_once(ranks: int, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    harness = ["-m", "harness", "run", "--model", args.model, "--tasks", args.tasks, "--limit", str(args.limit),
               "--max-new-tokens", str(args.max_new_tokens), "--batch-size", str(args.batch_size), "--threads", "1",
               "--out", str(out), "--no-progress"]
    if ranks == 1:
        cmd = [sys.executable, *harness]
    else:
        cmd = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", str(ranks),
               *harness]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    (info_path,) = out.glob("*/run_info.json")
    session = json.loads(info_path.read_text())["sessions"][-1]
    return {"ranks": ranks, "generated": session["generated"], "generate_s": round(session["generate_s"], 3),
            "samples_per_s": round(session["samples_per_s"], 2), "wall_s": round(wall, 2),
            "per_rank": [[r["generated"], round(r["samples_per_s"], 1)] for r in session.get("ranks") or [] if r],
            "summary": json.loads((info_path.parent / "summary.json").read_text())["rows"]}


def measure_generation(args: argparse.Namespace) -> dict[str, Any]:
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        run_once(1, Path(tmp) / "warm", args)  # builds or finds the model in the cache; not timed
        for r in range(args.rounds):
            one = run_once(1, Path(tmp) / f"one{r}", args)
            two = run_once(2, Path(tmp) / f"two{r}", args)
            if one.pop("summary") != two.pop("summary"):
                raise AssertionError("the 2-rank run's summary differs from the one-process run's")
            rounds.append({"one": one, "two": two, "ratio": round(two["samples_per_s"] / one["samples_per_s"], 3),
                           "wall_ratio": round(one["wall_s"] / two["wall_s"], 3)})
    return {"model": args.model, "tasks": args.tasks, "limit": args.limit, "max_new_tokens": args.max_new_tokens,
            "batch_size": args.batch_size, "rounds": rounds,
            "median_ratio": round(statistics.median(r["ratio"] for r in rounds), 3),
            "median_wall_ratio": round(statistics.median(r["wall_ratio"] for r in rounds), 3)}


# -- 2. judge over several servers ---------------------------------------------------------------------------


def items(n: int, tag: str) -> list[JudgeItem]:
    out = []
    for i in range(n):
        s = Sample(id=f"bench/text/{tag}{i}", task="bench", config="text", label="harmful",
                   messages=(user_message(f"request {tag} {i}"),))
        response = f"Answer {tag}-{i}. " + "A typical model answer of moderate length. " * 8 + "[[judge:unsafe]]"
        out.append(JudgeItem(s, Generation(sample_id=s.id, task="bench", config="text", label="harmful",
                                           modality="text", response=response)))
    return out


def score_rate(urls: list[str], slots: int, n: int, tag: str) -> dict[str, Any]:
    judge = LLMJudge(model="stub-judge", base_url=",".join(urls), api_key_env="", concurrency=slots, timeout_s=60,
                     cache=False)
    try:
        judge.score(items(slots * len(urls), f"warm{tag}"))  # connections and the client set up
        t0 = time.perf_counter()
        verdicts = judge.score(items(n, tag))
        elapsed = time.perf_counter() - t0
    finally:
        judge.close()
    if not all(v.label == "unsafe" for v in verdicts):
        raise AssertionError("the judge returned wrong or unknown verdicts")
    return {"servers": len(urls), "items": n, "seconds": round(elapsed, 3), "verdicts_per_s": round(n / elapsed, 1)}


def measure_judge(args: argparse.Namespace) -> dict[str, Any]:
    servers = [ServerProcess(args.delay, args.slots) for _ in range(2)]
    try:
        capacity = args.slots / args.delay
        n = int(args.judge_seconds * capacity)
        one = score_rate([servers[0].url], args.slots, n, "one")
        two = score_rate([s.url for s in servers], args.slots, 2 * n, "two")
    finally:
        for s in servers:
            s.stop()
    return {"delay_s": args.delay, "slots": args.slots, "capacity_one_server_per_s": round(capacity, 1),
            "one": one, "two": two, "ratio": round(two["verdicts_per_s"] / one["verdicts_per_s"], 3),
            "two_vs_one_capacity": round(two["verdicts_per_s"] / capacity, 3)}


# -- report --------------------------------------------------------------------------------------------------
def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def report(result: dict[str, Any]) -> str:
    g, j = result["generation"], result["judge"]
    lines = [f"# python -m benchmarks.scale_out {' '.join(result['argv'])}   ({result['machine']['cpus']} CPUs, "
             f"load average before {result['load_before']}, after {result['load_after']})",
             *(["# CONTENDED: the load average exceeded the CPU count (other jobs shared the machine)"]
               if max((result["load_before"] or [0])[0], (result["load_after"] or [0])[0])
               > result["machine"]["cpus"] else []),
             f"generation: {g['model']} on {g['tasks']} --limit {g['limit']}, {g['max_new_tokens']} new tokens, "
             f"batch {g['batch_size']}, one thread per process",
             "  round  1 process samples/s  2 ranks samples/s  ratio   wall s (1 / 2)   per rank: samples @ samples/s"]
    for i, r in enumerate(g["rounds"]):
        per_rank = ", ".join(f"{n} @ {rate}" for n, rate in r["two"]["per_rank"])
        lines.append(f"  {i:>5}  {r['one']['samples_per_s']:>19.2f}  {r['two']['samples_per_s']:>17.2f}  "
                     f"x{r['ratio']:<5.2f}  {r['one']['wall_s']:.1f} / {r['two']['wall_s']:.1f}      {per_rank}")
    lines.append(f"  median ratio x{g['median_ratio']:.2f} (target >= 1.6); whole command, model loading included: "
                 f"x{g['median_wall_ratio']:.2f}")
    lines.append(f"judge: stub servers with {j['slots']} slots x {j['delay_s']} s per request "
                 f"(capacity {j['capacity_one_server_per_s']}/s each), judge concurrency {j['slots']} per server")
    lines.append(f"  one server: {j['one']['verdicts_per_s']} verdicts/s ({j['one']['items']} items); two servers: "
                 f"{j['two']['verdicts_per_s']} verdicts/s ({j['two']['items']} items); ratio x{j['ratio']:.2f}, "
                 f"x{j['two_vs_one_capacity']:.2f} of one server's capacity (target >= 1.8)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="organism")
    p.add_argument("--tasks", default="organism-safety")
    p.add_argument("--limit", type=int, default=16, help="samples per task x configuration x label (default 16)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--delay", type=float, default=0.1, help="judge server seconds per request (default 0.1)")
    p.add_argument("--slots", type=int, default=8, help="requests a judge server works on at once (default 8)")
    p.add_argument("--judge-seconds", type=float, default=5.0, help="target length of the one-server measurement")
    p.add_argument("--skip-generation", action="store_true")
    p.add_argument("--out", default=str(ROOT / "results" / "scale_out.txt"), help="report file ('' = none)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    result: dict[str, Any] = {"argv": argv, "load_before": load_average(),
                              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                          "platform": platform.platform()}}
    result["judge"] = measure_judge(args)
    result["generation"] = None if args.skip_generation else measure_generation(args)
    result["load_after"] = load_average()
    if args.json:
        print(json.dumps(result, indent=2))
    if result["generation"] is None:
        print(json.dumps(result["judge"], indent=2))
        return 0
    text = report(result)
    if not args.json:
        print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
