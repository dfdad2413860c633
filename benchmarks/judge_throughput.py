"""Throughput of the LLM judge: verdicts/s against a local OpenAI-compatible server, and re-scoring from cache.

The server (tests/support/openai_server.py) runs in its own process, answers every request after a fixed delay
and handles requests in parallel without limit, so its capacity at concurrency c is c / delay requests/s.
For c in (1, 8, 32) the judge scores distinct items with the cache off; then a fresh judge object re-scores
`--cache-items` items that an earlier pass stored in the cache (no HTTP calls; asserted).

    python -m benchmarks.judge_throughput                 # from the repository root
    python -m benchmarks.judge_throughput --delay 0.2 --json

Targets (issue 5): >= 0.8 x capacity at concurrency 32; >= 10,000 verdicts/s from cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.records import Generation, Sample, user_message
from judges.base import JudgeItem
from judges.llm import LLMJudge

ROOT = Path(__file__).resolve().parent.parent


def items(n: int, tag: str) -> list[JudgeItem]:
    out = []
    for i in range(n):
        label = "harmful" if i % 2 == 0 else "benign"
        s = Sample(id=f"bench/{tag}/{i}", task="bench", config="text", label=label,  # type: ignore[arg-type]
                   messages=(user_message(f"request {tag} {i}: please explain something in a few sentences"),))
        response = (f"Answer {tag}-{i}. " + "This is a typical model answer of moderate length. " * 8
                    + ("[[judge:unsafe]]" if label == "harmful" else "[[judge:NORMAL]]"))
        out.append(JudgeItem(s, Generation(sample_id=s.id, task="bench", config="text", label=label,
                                           modality="text", response=response)))
    return out


class ServerProcess:
    """The stub OpenAI-compatible server (tests/support/openai_server.py) in its own process."""

    def __init__(self, delay: float, slots: int | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        extra = ["--slots", str(slots)] if slots is not None else []
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--delay", str(delay),
                                      *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"stub server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def judge_for(url: str, concurrency: int, **kw: Any) -> LLMJudge:
    return LLMJudge(model="stub-judge", base_url=url, api_key_env="", concurrency=concurrency, timeout_s=30,
                    **kw)


def measure_live(url: str, concurrency: int, n: int, delay: float) -> dict[str, Any]:
    judge = judge_for(url, concurrency, cache=False)
    try:
        judge.score(items(min(concurrency, 8), f"warm{concurrency}"))  # connections and client set up
        batch = items(n, f"live{concurrency}")
        t0 = time.perf_counter()
        verdicts = judge.score(batch)
        elapsed = time.perf_counter() - t0
    finally:
        judge.close()
    assert all(v.label in ("unsafe", "refusal", "safe") for v in verdicts)
    capacity = concurrency / delay
    rate = n / elapsed
    return {"concurrency": concurrency, "items": n, "seconds": round(elapsed, 3), "verdicts_per_s": round(rate, 1),
            "capacity_per_s": round(capacity, 1), "fraction_of_capacity": round(rate / capacity, 3)}


def measure_cache(url: str, n: int, cache_path: Path) -> dict[str, Any]:
    fill = judge_for(url, 64, cache_path=str(cache_path))
    batch = items(n, "cache")
    try:
        t0 = time.perf_counter()
        fill.score(batch)
        fill_s = time.perf_counter() - t0
    finally:
        fill.close()
    reader = judge_for(url, 64, cache_path=str(cache_path))
    try:
        reader.score(batch[:100])  # warm-up: opens the cache, compiles nothing new
        t0 = time.perf_counter()
        verdicts = reader.score(batch)
        elapsed = time.perf_counter() - t0
        usage = reader.usage()
    finally:
        reader.close()
    if usage["requests"] != 0 or not all(v.detail["cached"] for v in verdicts):
        raise AssertionError("re-scoring from cache made HTTP calls")
    return {"items": n, "seconds": round(elapsed, 3), "verdicts_per_s": round(n / elapsed, 1),
            "fill_seconds": round(fill_s, 2), "http_requests": usage["requests"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--delay", type=float, default=0.2, help="server delay per request in seconds (default 0.2)")
    p.add_argument("--seconds", type=float, default=8.0, help="target duration of each live measurement")
    p.add_argument("--cache-items", type=int, default=20000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    live_server = ServerProcess(args.delay)
    fast_server = ServerProcess(0.0)  # only to fill the cache quickly
    try:
        live = []
        for c in (1, 8, 32):
            n = max(c * 4, int(args.seconds * c / args.delay))
            live.append(measure_live(live_server.url, c, n, args.delay))
        with tempfile.TemporaryDirectory() as tmp:
            cache = measure_cache(fast_server.url, args.cache_items, Path(tmp) / "cache.sqlite")
    finally:
        live_server.stop()
        fast_server.stop()
    result = {"delay_s": args.delay, "live": live, "cache": cache,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"server delay {args.delay} s per request; capacity at concurrency c = c / delay ({os.cpu_count()} CPUs)")
    print(f"{'concurrency':>11}  {'items':>6}  {'verdicts/s':>10}  {'capacity/s':>10}  {'fraction':>8}")
    for row in live:
        print(f"{row['concurrency']:>11}  {row['items']:>6}  {row['verdicts_per_s']:>10.1f}  "
              f"{row['capacity_per_s']:>10.1f}  {row['fraction_of_capacity']:>8.3f}")
    print(f"re-scoring {cache['items']} items from cache: {cache['verdicts_per_s']:.0f} verdicts/s "
          f"({cache['seconds']} s, {cache['http_requests']} HTTP requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
