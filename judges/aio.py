"""A private event loop in a background thread, so an async judge can offer the synchronous `score()` contract.

One loop lives as long as the judge: the HTTP connection pool stays warm across `score()` calls, and `score()`
works even when the caller already runs an event loop (a notebook), where `asyncio.run` would fail.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "judge-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    def run(self, factory: Callable[[], Awaitable[T]]) -> T:
        """Run `factory()` on the loop and wait for its result (exceptions propagate)."""
        loop = self._ensure()

        async def wrapper() -> T:
            return await factory()

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result()

    def close(self, finalizer: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run `finalizer` (e.g. closing HTTP clients), cancel what is left and stop the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            try:
                if finalizer is not None:
                    await finalizer()
            finally:
                me = asyncio.current_task()
                for task in asyncio.all_tasks():
                    if task is not me:
                        task.cancel()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None
