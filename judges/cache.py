"""SQLite cache of judge answers, so scoring the same generations twice makes no calls.

Key: sha256 of (schema, judge model, endpoint kind, template name + hash, decoding settings, the rendered
messages, the generation's response). The base URL and the API key are not part of it: the same model name behind
another URL is taken to be the same judge (serve distinct models under distinct names, or set `endpoint_kind`).

Only answers that parsed are stored (transport errors and malformed outputs are never cached), so a later
scoring retries exactly what failed. Rows keep the raw answer, the token usage and the time; the database is
in WAL mode so several processes can share it. A damaged cache file is moved aside and an empty one made (it is
only a cache: the answers are requested again), with a note on stderr (harness/files.py).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.files import open_sqlite_cache, sqlite_damage_named

CACHE_SCHEMA = "judge-cache/1"


@dataclass(frozen=True)
class CachedAnswer:
    raw: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def cache_key(*, model: str, endpoint_kind: str, template: str, template_hash: str, decoding: Mapping[str, Any],
              messages: Sequence[Mapping[str, str]], response: str) -> str:
    payload = json.dumps([CACHE_SCHEMA, model, endpoint_kind, template, template_hash, dict(decoding),
                          list(messages), response], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _setup(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT NOT NULL, template TEXT NOT NULL,"
        " template_hash TEXT NOT NULL, raw TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,"
        " completion_tokens INTEGER NOT NULL, created REAL NOT NULL)"
    )


class JudgeCache:
    """A thread-safe handle on one cache file; `close()` commits and closes."""

    _LOOKUP_CHUNK = 500  # stays under SQLite's host-parameter limit

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # The connection is used from the caller's thread and the judge's event-loop thread, under the lock.
        self._db = open_sqlite_cache(self.path, _setup, what="judge cache")

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        wanted = list(dict.fromkeys(keys))
        out: dict[str, CachedAnswer] = {}
        with self._lock, sqlite_damage_named(self.path, "judge cache"):
            for start in range(0, len(wanted), self._LOOKUP_CHUNK):
                chunk = wanted[start:start + self._LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, raw, prompt_tokens, completion_tokens FROM answers WHERE key IN ({marks})", chunk)
                for key, raw, pt, ct in rows:
                    out[key] = CachedAnswer(raw, pt, ct)
        return out

    def put(self, key: str, answer: CachedAnswer, *, model: str, template: str, template_hash: str) -> None:
        # Autocommit (isolation_level=None): each answer is durable as soon as it is stored, so a killed scoring
        # loses no paid-for call.
        with self._lock, sqlite_damage_named(self.path, "judge cache"):
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, model, template, template_hash, answer.raw, answer.prompt_tokens, answer.completion_tokens,
                 time.time()),
            )

    def __len__(self) -> int:
        with self._lock, sqlite_damage_named(self.path, "judge cache"):
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
