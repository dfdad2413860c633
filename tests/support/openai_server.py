"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for judge tests and benchmarks.

It speaks the HTTP protocol (`POST /v1/chat/completions`, JSON in, JSON out with `choices[0].message.content`
and `usage`), so the `openai` client runs unmodified against it. What it answers is decided by the prompt:
the text `[[judge:WORD]]` anywhere in the messages makes it answer `WORD` (e.g. a generation whose response
contains `[[judge:unsafe]]`), otherwise it answers `default_answer`.

Faults are injected from a deterministic, seeded schedule. A decision depends only on (seed, prompt, attempt
number of that prompt), so it does not depend on the order in which concurrent requests arrive:
- with probability `fault_rate` an attempt gets one of `fault_kinds`;
- a fraction `permanent_rate` of prompts fails on every attempt (the permanent failures a client must turn
  into `unknown`).
Fault kinds: `429` (with `Retry-After`), `500`, `timeout` (sleeps `timeout_delay` before answering),
`malformed` (a 200 whose answer is not a label), `badjson` (a 200 whose body is not JSON).

The server counts requests, faults by kind, prompts seen and prompts that were answered correctly at least once
(`ok_prompts`); `never_ok()` is the set of prompts a client could not have judged.

Run standalone (used by benchmarks/judge_throughput.py, so the server does not share the client's GIL):
    python -m tests.support.openai_server --delay 0.2     # prints "PORT <n>" and serves until killed
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER_MARK = re.compile(r"\[\[judge:([^\]]+)\]\]")
FAULT_KINDS = ("429", "500", "timeout", "malformed", "badjson")


@dataclass
class FaultPlan:
    seed: int = 0
    fault_rate: float = 0.0
    permanent_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    retry_after: str = "0.05"  # value of the Retry-After header sent with 429
    timeout_delay: float = 1.0  # how long a `timeout` fault sleeps before answering
    first_attempts_fail: int = 0  # the first N attempts of every prompt get a fault (e.g. one 429, then OK)

    def _unit(self, *parts: object) -> float:
        h = hashlib.sha256("|".join(str(p) for p in (self.seed, *parts)).encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    def is_permanent(self, prompt_key: str) -> bool:
        return self.permanent_rate > 0 and self._unit("permanent", prompt_key) < self.permanent_rate

    def fault(self, prompt_key: str, attempt: int) -> str | None:
        if not self.fault_kinds:
            return None
        pick = self.fault_kinds[int(self._unit("kind", prompt_key, attempt) * len(self.fault_kinds))]
        if self.is_permanent(prompt_key) or attempt < self.first_attempts_fail:
            return pick
        return pick if self._unit("fault", prompt_key, attempt) < self.fault_rate else None


@dataclass
class ServerStats:
    requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)  # prompt key -> requests seen
    ok_prompts: set[str] = field(default_factory=set)
    arrivals: dict[str, list[float]] = field(default_factory=dict)  # prompt key -> monotonic arrival times
    authorization: set[str] = field(default_factory=set)  # Authorization headers seen
    in_flight: int = 0
    max_in_flight: int = 0

    def never_ok(self) -> set[str]:
        return set(self.attempts) - self.ok_prompts


class OpenAIStubServer:
    """Start with `start()`, stop with `stop()`; `url` is the base URL to give the client (ends in /v1)."""

    def __init__(self, plan: FaultPlan | None = None, *, delay: float = 0.0, default_answer: str = "safe",
                 model: str = "stub-judge", port: int = 0, slots: int = 0) -> None:
        self.plan = plan or FaultPlan()
        self.delay = delay
        # slots > 0: at most that many requests are worked on at once, the rest queue (a GPU server's batch), so
        # the server's capacity is slots / delay requests per second
        self.slots = threading.BoundedSemaphore(slots) if slots > 0 else None
        self.default_answer = default_answer
        self.model = model
        self.stats = ServerStats()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIStubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="openai-stub-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = ServerStats()

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling --------------------------------------------------------------------------------------
    def _begin(self, body: dict[str, Any], authorization: str | None) -> tuple[str, str | None]:
        """Count the request and decide its fault now, so the counts are final when the client has its answer."""
        key = prompt_key(body.get("messages"))
        with self._lock:
            self.stats.requests += 1
            self.stats.arrivals.setdefault(key, []).append(time.monotonic())
            if authorization:
                self.stats.authorization.add(authorization)
            attempt = self.stats.attempts.get(key, 0)
            self.stats.attempts[key] = attempt + 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            fault = self.plan.fault(key, attempt)
            if fault is not None:
                self.stats.faults[fault] = self.stats.faults.get(fault, 0) + 1
        return key, fault

    def _mark_ok(self, key: str) -> None:
        with self._lock:
            self.stats.ok_prompts.add(key)

    def _end(self) -> None:
        with self._lock:
            self.stats.in_flight -= 1

    def answer_for(self, body: dict[str, Any]) -> str:
        text = json.dumps(body.get("messages"))
        m = ANSWER_MARK.search(text)
        return m.group(1) if m else self.default_answer


def prompt_key(messages: Any) -> str:
    """How the server identifies a prompt (the same messages -> the same key, whatever the request order)."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog (5) stalls connection bursts at high concurrency


def _handler_for(server: OpenAIStubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint offers
        # Headers and body go out as two writes; with Nagle's algorithm the second waits for the client's delayed
        # ACK (~40 ms), which would be an artefact of this server, not a property of the client under test.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): nothing to do

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            body = json.loads(raw)
            key, fault = server._begin(body, self.headers.get("Authorization"))
            try:
                if fault == "timeout":
                    time.sleep(server.plan.timeout_delay)
                elif server.delay and server.slots is not None:
                    with server.slots:
                        time.sleep(server.delay)
                elif server.delay:
                    time.sleep(server.delay)
                if fault == "429":
                    self._send(429, json.dumps({"error": {"message": "rate limited", "type": "rate_limit"}}).encode(),
                               {"Retry-After": server.plan.retry_after})
                elif fault == "500":
                    self._send(500, b'{"error": {"message": "internal error"}}')
                elif fault == "badjson":
                    self._send(200, b'{"id": "x", "choices": [{"message": {"content": "saf')
                elif fault == "malformed":
                    self._send(200, json.dumps(_completion(body, "Let me think about this answer.",
                                                           server.model)).encode())
                elif fault == "timeout":
                    self._send(200, json.dumps(_completion(body, server.answer_for(body), server.model)).encode())
                else:
                    server._mark_ok(key)  # before sending: the client may finish as soon as it has the answer
                    self._send(200, json.dumps(_completion(body, server.answer_for(body), server.model)).encode())
            finally:
                server._end()

    return Handler


def _completion(body: dict[str, Any], content: str, model: str) -> dict[str, Any]:
    prompt_chars = sum(len(json.dumps(m.get("content"))) for m in body.get("messages") or [])
    prompt_tokens, completion_tokens = max(1, prompt_chars // 4), max(1, len(content) // 4)
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--delay", type=float, default=0.0, help="seconds each request sleeps before answering")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--slots", type=int, default=0, help="requests worked on at once (0: unlimited)")
    args = p.parse_args(argv)
    server = OpenAIStubServer(delay=args.delay, port=args.port, slots=args.slots)
    print(f"PORT {server.port}", flush=True)
    try:
        server._httpd.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
