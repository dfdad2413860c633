"""A damaged judge cache is disposable (moved aside, rebuilt, said so); a damaged judge_usage.json stops the score.

Both through `harness score` with the LLM judge against the local OpenAI-compatible server.
"""

import sqlite3

import pytest

from harness.cli import main
from tests.judges.test_cli import llm_args
from tests.support.runs import make_run, synthetic_samples

GARBAGE = bytes((i * 37 + 11) % 256 for i in range(5000))


def page_damage(data: bytes) -> bytes:
    d = bytearray(data)
    d[4096 * 2:4096 * 2 + 300] = GARBAGE[:300]  # inside the table's pages, the header intact
    return bytes(d)


DAMAGES = {
    "binary": lambda data: GARBAGE,
    "truncated": lambda data: data[: len(data) // 2],
    "page": page_damage,
    "header": lambda data: b"SQLite format 2\x00" + data[16:],
}


def cache_file(cache_dir):
    (path,) = (cache_dir / "judges").glob("*.sqlite")
    return path


def checkpoint(path):
    """Fold the WAL into the main file, so damaging the file damages the answers (as on a real disk)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_judge_cache_is_moved_aside_and_rebuilt(damage, stub_server, tmp_path, capsys):
    server = stub_server()
    samples = synthetic_samples(n_harmful=40, n_benign=20, n_utility=0)
    cache = tmp_path / "cache"
    first = make_run(tmp_path / "a", samples)
    assert main(["score", str(first), *llm_args(server, cache)]) == 0
    path = cache_file(cache)
    checkpoint(path)
    assert path.stat().st_size > 4096 * 3  # big enough for page damage to land on the answers
    damaged = DAMAGES[damage](path.read_bytes())
    path.write_bytes(damaged)
    for extra in path.parent.glob(path.name + "-*"):
        extra.unlink()
    capsys.readouterr()

    second = make_run(tmp_path / "b", samples)
    requests = server.stats.requests
    assert main(["score", str(second), *llm_args(server, cache)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "DatabaseError" not in err
    (aside,) = path.parent.glob(path.name + ".corrupt-*")
    assert f"judge cache {path} is corrupt" in err and aside.name in err and "only a cache" in err
    assert aside.read_bytes() == damaged  # moved, not deleted
    assert server.stats.requests > requests  # the answers were asked for again
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 60  # the new cache holds them


@pytest.mark.parametrize("content", [b"", b"{\"llm@x\": {\"total\": ", GARBAGE[:80], b"[1, 2]\n"])
def test_damaged_judge_usage_stops_before_any_call(content, stub_server, tmp_path, capsys):
    server = stub_server()
    run = make_run(tmp_path / "runs", synthetic_samples(n_harmful=6, n_benign=3, n_utility=0))
    usage = run / "judge_usage.json"
    usage.write_bytes(content)
    capsys.readouterr()
    assert main(["score", str(run), *llm_args(server, tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness: error: {usage}") and len(err.strip().splitlines()) == 1
    assert server.stats.requests == 0 and usage.read_bytes() == content
    assert not (run / "verdicts.jsonl").exists()
