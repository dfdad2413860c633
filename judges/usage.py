"""Token, call and cost accounting of a judge, and the per-run budget that bounds it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ERROR_KINDS = ("rate_limit", "server", "timeout", "connection", "malformed", "client")


@dataclass
class Usage:
    """What one scoring session cost. `requests` counts every HTTP request, retries included."""

    requests: int = 0
    completions: int = 0  # requests that returned a completion (parseable or not)
    retries: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    failed_calls: int = 0  # judge calls that ended without a parseable answer after all retries
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    retry_wait_s: float = 0.0  # time spent sleeping before retries (backoff and Retry-After)
    wall_s: float = 0.0
    cost_usd: float | None = None  # None when no prices were given

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def priced(self, input_per_mtok: float | None, output_per_mtok: float | None) -> Usage:
        if input_per_mtok is None and output_per_mtok is None:
            return self
        cost = (self.prompt_tokens * (input_per_mtok or 0.0) + self.completion_tokens * (output_per_mtok or 0.0)) / 1e6
        return dataclasses.replace(self, errors=dict(self.errors), cost_usd=cost)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["total_tokens"] = self.total_tokens
        return d


def accumulate(total: Mapping[str, Any] | None, session: Mapping[str, Any]) -> dict[str, Any]:
    """Add one session's usage dict into a running total (numbers summed, nested dicts summed per key)."""
    out: dict[str, Any] = dict(total or {})
    for key, value in session.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[key] = (out.get(key) or 0) + value
        elif isinstance(value, Mapping):
            out[key] = accumulate(out.get(key) if isinstance(out.get(key), Mapping) else None, value)
        elif value is None:
            out.setdefault(key, None)
    return out


@dataclass(frozen=True)
class Budget:
    """Upper bounds for one scoring session; 0 means unbounded. Checked before every request, so in-flight
    requests may overshoot the token bound by at most `concurrency` answers."""

    max_requests: int = 0
    max_tokens: int = 0

    def exceeded(self, usage: Usage) -> str | None:
        if self.max_requests and usage.requests >= self.max_requests:
            return f"request budget of {self.max_requests} used up"
        if self.max_tokens and usage.total_tokens >= self.max_tokens:
            return f"token budget of {self.max_tokens} used up ({usage.total_tokens} tokens)"
        return None


def difference(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """`after - before` for the numbers (nested dicts too); other values are taken from `after`."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float, Mapping)):
            out[key] = value
        elif isinstance(value, Mapping):
            out[key] = difference(value, old if isinstance(old, Mapping) else {})
        else:
            out[key] = value - (old if isinstance(old, (int, float)) and not isinstance(old, bool) else 0)
    return out


USAGE_FILE = "judge_usage.json"


def record_session(store: Any, judge_id: str, before: Mapping[str, Any], after: Mapping[str, Any], *,
                   items: int) -> None:
    """Append one scoring session to `<run>/judge_usage.json` ({judge id: {"total", "sessions"}})."""
    if not after:
        return  # a judge with nothing to count (keyword)
    import time

    session = {"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "items": items, **difference(after, before)}
    data = dict(store.read_json(USAGE_FILE) or {})
    entry = dict(data.get(judge_id) or {})
    entry["sessions"] = [*entry.get("sessions", []), session]
    entry["total"] = accumulate(entry.get("total"), {k: v for k, v in session.items() if k != "finished"})
    data[judge_id] = entry
    store.write_json(USAGE_FILE, data)
