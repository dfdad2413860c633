import sqlite3

from judges.cache import CachedAnswer, JudgeCache, cache_key

BASE = dict(model="m", endpoint_kind="openai-chat", template="safety", template_hash="h1",
            decoding={"temperature": 0.0, "max_tokens": 0}, messages=[{"role": "user", "content": "p"}],
            response="r")


def test_key_depends_on_every_component():
    k = cache_key(**BASE)
    assert k == cache_key(**{**BASE, "decoding": {"max_tokens": 0, "temperature": 0.0}})  # order-free
    for change in ({"model": "m2"}, {"endpoint_kind": "x"}, {"template": "mcq"}, {"template_hash": "h2"},
                   {"decoding": {"temperature": 0.0, "max_tokens": 5}}, {"response": "r2"},
                   {"messages": [{"role": "user", "content": "p2"}]}):
        assert cache_key(**{**BASE, **change}) != k, change


def test_persists_across_handles_and_is_shared(tmp_path):
    path = tmp_path / "sub" / "cache.sqlite"
    a = JudgeCache(path)
    a.put("k1", CachedAnswer("safe", 10, 1), model="m", template="safety", template_hash="h")
    b = JudgeCache(path)  # a second handle (another process would do the same) sees it at once
    assert b.get_many(["k1", "k2"]) == {"k1": CachedAnswer("safe", 10, 1)}
    a.close()
    b.close()
    c = JudgeCache(path)
    assert len(c) == 1
    keys = [f"x{i}" for i in range(1200)]  # more than one IN (...) chunk
    for key in keys:
        c.put(key, CachedAnswer(key), model="m", template="safety", template_hash="h")
    assert len(c.get_many(keys)) == 1200
    c.close()
    rows = sqlite3.connect(path).execute("SELECT model, template, template_hash FROM answers LIMIT 1").fetchall()
    assert rows == [("m", "safety", "h")]
