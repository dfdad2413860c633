import random
from email.utils import formatdate

import pytest

from judges.client import RetryPolicy, classify_status, parse_retry_after


def test_retry_after_forms():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5  # ms form wins
    assert parse_retry_after({"retry-after": "-4"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None
    now = 1_800_000_000.0
    assert parse_retry_after({"retry-after": formatdate(now + 30, usegmt=True)}, now=now) == pytest.approx(30, abs=1)


def test_backoff_grows_exponentially_with_bounded_jitter():
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=8.0)
    rng = random.Random(0)
    for failures, cap in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)):
        for _ in range(50):
            delay = policy.backoff(failures, rng)
            assert cap / 2 <= delay <= cap


def test_status_classes():
    assert classify_status(429) == "rate_limit"
    assert classify_status(500) == classify_status(503) == classify_status(408) == "server"
    assert classify_status(400) == classify_status(422) == "client"
