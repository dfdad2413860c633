"""A robust async chat-completions client for judges (any OpenAI-compatible endpoint, via `openai.AsyncOpenAI`).

- bounded concurrency (a semaphore; sleeping before a retry does not hold a slot);
- retries with exponential backoff and jitter on 429, 408/409, 5xx, timeouts, connection errors and malformed
  bodies; `Retry-After` / `retry-after-ms` honoured (capped at `max_retry_after_s`);
- answers that do not parse are asked again up to `parse_retries` times, then reported as failed;
- 401 / 403 / 404 abort the scoring (wrong key, model or URL: retrying cannot help); other 4xx fail the call;
- every request, error, retry and token is counted in a `Usage`; a `Budget` stops new requests when used up.

The openai client's own retries are switched off so that every attempt is visible here.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judges.base import JudgeBudgetExceeded, JudgeConfigError
from judges.endpoints import Endpoint, EndpointPool, split_urls
from judges.usage import Budget, Usage


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5  # transport retries per call
    parse_retries: int = 1  # re-asks after an answer that does not parse
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Exponential backoff with equal jitter: half the cap fixed, half random (spreads retry bursts)."""
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, failures - 1))
        return cap / 2 + rng.uniform(0, cap / 2)


@dataclass(frozen=True)
class Answer:
    raw: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int


class CallFailed(Exception):
    """A judge call that ended without a usable answer; `raw` is kept on the verdict."""

    def __init__(self, kind: str, raw: str) -> None:
        super().__init__(raw)
        self.kind, self.raw = kind, raw


class _Malformed(Exception):
    pass


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date; None if absent/bad."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


RETRYABLE_STATUS = {408, 409, 429}
ABORT_STATUS = {401, 403, 404}


def classify_status(status: int) -> str:
    if status == 429:
        return "rate_limit"
    if status >= 500 or status in RETRYABLE_STATUS:
        return "server"
    return "client"


class ChatClient:
    """Create inside the event loop that will use it (the openai client binds its connection pool to it)."""

    def __init__(self, *, base_url: str | None, api_key: str, model: str, timeout_s: float, concurrency: int,
                 policy: RetryPolicy, budget: Budget, usage: Usage, temperature: float = 0.0,
                 seed: int = 0) -> None:
        import openai

        self._openai = openai
        # `base_url` may name several servers (comma separated): each gets `concurrency` slots (judges/endpoints.py)
        self._pool = EndpointPool(split_urls(base_url), lambda url: openai.AsyncOpenAI(
            base_url=url or None, api_key=api_key, timeout=timeout_s, max_retries=0), concurrency)
        self._httpx = _httpx_module(self._pool.endpoints[0].client)
        self.model = model
        self.temperature = temperature
        self.policy = policy
        self.budget = budget
        self.usage = usage
        self._rng = random.Random(seed)  # jitter only; a seed keeps test timings reproducible

    async def close(self) -> None:
        await self._pool.close()

    def endpoint_stats(self) -> list[dict[str, Any]]:
        return self._pool.stats()

    async def complete(self, messages: Sequence[Mapping[str, str]], *, max_tokens: int,
                       valid: Callable[[str], bool]) -> Answer:
        """One judge call with retries. Raises CallFailed, JudgeBudgetExceeded or JudgeConfigError."""
        openai = self._openai
        transport_failures = parse_failures = attempts = 0
        failed_at: Endpoint | None = None  # a retry goes to another server when there is one
        while True:
            attempts += 1
            retry_after: float | None = None
            endpoint = self._pool.pick(avoid=failed_at)
            endpoint.load += 1
            try:
                async with endpoint.slots:
                    reason = self.budget.exceeded(self.usage)  # checked holding a slot: waiting calls see the count
                    if reason:
                        raise JudgeBudgetExceeded(reason)
                    self.usage.requests += 1
                    try:
                        # `post` with a plain body (the openai client's documented way to call any endpoint) skips the
                        # typed-params transform and model construction, ~2 ms of CPU per call that would otherwise cap
                        # throughput at high concurrency; status errors, timeouts and retries behave the same.
                        resp = await endpoint.client.post(
                            "/chat/completions", cast_to=self._httpx.Response,
                            body={"model": self.model, "messages": list(messages), "temperature": self.temperature,
                                  "max_tokens": max_tokens})
                        content, pt, ct = _extract(resp.json())
                    except openai.APIStatusError as exc:
                        status = exc.status_code
                        if status in ABORT_STATUS:
                            raise JudgeConfigError(f"judge endpoint answered HTTP {status} ({_message(exc)}): check "
                                                   "the model name, base URL and API key") from None
                        kind = classify_status(status)
                        self.usage.add_error(kind)
                        error = f"HTTP {status}: {_message(exc)}"
                        if kind == "client":
                            self.usage.failed_calls += 1
                            raise CallFailed(kind, f"error: {error}") from None
                        retry_after = parse_retry_after(exc.response.headers)
                    except openai.APITimeoutError:
                        kind, error = "timeout", "request timed out"
                        self.usage.add_error(kind)
                    except openai.APIConnectionError as exc:
                        kind, error = "connection", f"connection error: {exc}"
                        self.usage.add_error(kind)
                    except (_Malformed, json.JSONDecodeError, openai.APIResponseValidationError) as exc:
                        kind, error = "malformed", f"malformed response body: {str(exc)[:200]}"
                        self.usage.add_error(kind)
                    else:
                        self.usage.completions += 1
                        self.usage.prompt_tokens += pt
                        self.usage.completion_tokens += ct
                        if valid(content):
                            endpoint.served += 1
                            return Answer(content, pt, ct, attempts)
                        self.usage.add_error("malformed")
                        parse_failures += 1
                        if parse_failures > self.policy.parse_retries:
                            self.usage.failed_calls += 1
                            raise CallFailed("malformed", content)
                        self.usage.retries += 1
                        continue  # an unparseable answer is not a load problem: ask again at once
            finally:
                endpoint.load -= 1
            endpoint.failures += 1
            failed_at = endpoint
            transport_failures += 1
            if transport_failures > self.policy.max_retries:
                self.usage.failed_calls += 1
                raise CallFailed(kind, f"error: {error} (after {attempts} attempts)")
            if retry_after is not None:
                # Honour the server's wait; a little jitter on top keeps clients from returning in lockstep.
                delay = min(retry_after, self.policy.max_retry_after_s)
                delay += self._rng.uniform(0, min(0.1 * delay, self.policy.backoff_base_s))
            else:
                delay = self.policy.backoff(transport_failures, self._rng)
            self.usage.retries += 1
            self.usage.retry_wait_s += delay
            await asyncio.sleep(delay)


def _httpx_module(client: Any) -> Any:
    """The HTTP library the installed openai client is built on (httpx, or httpx2 in newer releases)."""
    import importlib

    for cls in type(client._client).__mro__:
        if cls.__name__ == "AsyncClient" and not cls.__module__.startswith("openai"):
            return importlib.import_module(cls.__module__.split(".")[0])
    raise RuntimeError("cannot tell which HTTP library the openai client uses")


def _extract(data: Any) -> tuple[str, int, int]:
    """Content and token counts of a chat-completion JSON body; one without a text answer is malformed."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (IndexError, TypeError, KeyError):
        raise _Malformed("no choices[0].message.content") from None
    if not isinstance(content, str) or not content.strip():
        raise _Malformed("empty answer")
    usage = data.get("usage") if isinstance(data, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    try:
        pt, ct = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    except (TypeError, ValueError):
        pt = ct = 0
    return content, pt, ct


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping) and err.get("message"):
            return str(err["message"])[:200]
    return str(exc)[:200]
