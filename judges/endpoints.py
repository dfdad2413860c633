"""Several OpenAI-compatible servers behind one judge: requests go to the least busy one.

A judge served by vLLM on several GPUs or nodes (one `vllm serve` per GPU) is given all their base URLs, comma
separated (`--judge-base-url http://a:8000/v1,http://b:8000/v1`). Each endpoint gets its own `concurrency` slots,
so capacity grows with the servers; one verdict cache is shared, because the cache key never includes the URL.
A request that failed on one endpoint is retried on another when there is one (a dead server costs one attempt).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def split_urls(base_url: str | Sequence[str] | None) -> list[str]:
    """`a,b` or [a, b] -> [a, b]; empty -> [""] (the openai default endpoint)."""
    if base_url is None:
        return [""]
    parts = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [str(u).strip() for u in parts if str(u).strip()]
    if len(set(urls)) != len(urls):
        raise ValueError(f"judge base URLs list one URL twice: {', '.join(urls)}")
    return urls or [""]


@dataclass
class Endpoint:
    url: str
    client: Any
    slots: asyncio.Semaphore
    load: int = 0  # requests sent here and not yet answered (waiting for a slot included)
    served: int = 0
    failures: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class EndpointPool:
    """Create inside the event loop that will use it (like the clients it holds)."""

    def __init__(self, urls: Sequence[str], make_client: Callable[[str], Any], concurrency: int) -> None:
        self.endpoints = [Endpoint(u, make_client(u), asyncio.Semaphore(max(1, concurrency))) for u in urls]
        self._turn = 0

    def pick(self, avoid: Endpoint | None = None) -> Endpoint:
        """The endpoint with the least load (ties in turn), other than `avoid` when there is a choice."""
        pool = [e for e in self.endpoints if e is not avoid] or self.endpoints
        self._turn += 1
        n = len(pool)
        return min((pool[(self._turn + i) % n] for i in range(n)), key=lambda e: e.load)

    async def close(self) -> None:
        for e in self.endpoints:
            await e.client.close()

    def stats(self) -> list[dict[str, Any]]:
        return [{"url": e.url, "served": e.served, "failures": e.failures} for e in self.endpoints]
