import pytest

from harness.records import Sample, user_message
from harness.registry import UnknownNameError
from tasks.base import TaskContext, TaskSelector, parse_task_list, select
from tasks.smoke import SmokeTask


def samples(n):
    return [Sample(id=f"t/{c}/{lab}/{i}", task="t", config=c, label=lab, messages=(user_message(f"q{i}"),))
            for c in ("a", "b") for lab in ("harmful", "benign") for i in range(n)]


def test_limit_is_per_group_seeded_and_nested():
    all_ = samples(10)
    two = select(all_, 2, seed=0)
    five = select(all_, 5, seed=0)
    assert len(two) == 8 and len(five) == 20
    assert {s.id for s in two} <= {s.id for s in five}
    assert select(all_, 2, seed=0) == two
    assert {s.id for s in select(all_, 2, seed=1)} != {s.id for s in two}
    assert select(all_, None) == all_


def test_parse_task_list():
    assert parse_task_list("smoke,other") == [TaskSelector("smoke"), TaskSelector("other")]
    assert parse_task_list("advbench-omni:t2i,t2a;smoke") == [TaskSelector("advbench-omni", ("t2i", "t2a")),
                                                              TaskSelector("smoke")]


def test_smoke_task_renders_media_once(tmp_path):
    task = SmokeTask(TaskContext(cache_dir=tmp_path))
    first = task.load()
    assert len(first) == 120
    assert {s.config for s in first} == {"text", "image", "audio"}
    assert sum(s.label == "harmful" for s in first) == 60
    images = [s for s in first if s.config == "image"]
    assert images[0].modality == "image" and images[0].media[0].path.endswith(".png")
    audio = [s for s in first if s.config == "audio"]
    assert audio[0].media[0].path.endswith(".wav")
    mtime = {p.path: __import__("os").stat(p.path).st_mtime_ns for s in first for p in s.media}
    again = task.load(["image"])
    assert [s.id for s in again] == [s.id for s in first if s.config == "image"]
    assert all(__import__("os").stat(p.path).st_mtime_ns == mtime[p.path] for s in again for p in s.media)
    with pytest.raises(UnknownNameError, match="Did you mean 'image'"):
        task.load(["imag"])
