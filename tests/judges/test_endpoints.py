"""The LLM judge spread over several OpenAI-compatible servers: least-busy routing, one shared cache, failover."""

import socket

import pytest

from judges.endpoints import split_urls
from judges.llm import LLMJudge
from tests.support.judging import FAST, make_item


def items(n, tag=""):
    return [make_item(i, f"answer {tag}{i} [[judge:{'unsafe' if i % 3 == 0 else 'safe'}]]") for i in range(n)]


def test_split_urls():
    assert split_urls("http://a/v1, http://b/v1") == ["http://a/v1", "http://b/v1"]
    assert split_urls(["http://a/v1"]) == ["http://a/v1"] and split_urls("") == [""]
    with pytest.raises(ValueError, match="twice"):
        split_urls("http://a/v1,http://a/v1")


def test_requests_spread_over_two_servers_and_share_one_cache(stub_server, tmp_path):
    a, b = stub_server(delay=0.02, slots=4), stub_server(delay=0.02, slots=4)
    cache = str(tmp_path / "c.sqlite")
    judge = LLMJudge(model="stub-judge", base_url=f"{a.url},{b.url}", concurrency=4, cache_path=cache, **FAST)
    verdicts = judge.score(items(80))
    judge.close()
    assert [v.label for v in verdicts] == ["unsafe" if i % 3 == 0 else "safe" for i in range(80)]
    assert a.stats.requests + b.stats.requests == 80
    assert min(a.stats.requests, b.stats.requests) >= 30  # both servers did a fair share
    assert "," in judge.describe()["base_url"]

    # one cache for all servers: the same items through either server alone make no request
    for server in (a, b):
        server.reset_stats()
        again = LLMJudge(model="stub-judge", base_url=server.url, concurrency=4, cache_path=cache, **FAST)
        assert [v.label for v in again.score(items(80))] == [v.label for v in verdicts]
        assert again.usage()["requests"] == 0 and server.stats.requests == 0
        assert again.id == judge.id  # the URLs are endpoint settings, not part of the judge id
        again.close()


def test_a_dead_server_costs_retries_not_verdicts(stub_server, tmp_path):
    live = stub_server()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    judge = LLMJudge(model="stub-judge", base_url=f"{dead},{live.url}", concurrency=4, cache=False, **FAST)
    verdicts = judge.score(items(20, "d"))
    usage = judge.usage()
    judge.close()
    assert all(v.label in ("safe", "unsafe") for v in verdicts)
    assert live.stats.requests == 20 and usage["errors"].get("connection", 0) >= 1
