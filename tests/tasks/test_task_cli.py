"""`harness list tasks`, `harness tasks download` (refusals and unpacking; no network), option hygiene."""

import json
import zipfile
from pathlib import Path

import pytest

from harness.cli import build_parser, main
from tasks.card import TaskDataError
from tasks.card_parse import load_card
from tasks.download import download, unpack_zip
from tasks.manager import BUILTIN_CARD_DIR
from tests.support import task_data as td


def test_list_tasks_shows_version_size_modalities_source(tmp_path, capsys):
    td.write_vlguard(tmp_path / "vlguard")
    assert main(["list", "tasks", "--data-root", str(tmp_path), "--cache-dir", str(tmp_path / "c")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "version", "size", "modalities", "source"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert {"smoke", "advbench-omni", "omni-safetybench", "mm-safetybench", "vlguard", "jailbreakv-28k", "figstep",
            "holisafe", "mm-vet", "omnibench", "advbench-omni-benign"} <= set(rows)
    assert rows["vlguard"].split()[1:4] == ["1", "3", "image+text"]
    assert "not downloaded" in rows["omnibench"] and "hub:m-a-p/OmniBench@main [confirmed]" in rows["omnibench"]
    assert "hub:lmms-lab/MMVet [unverified]" in rows["mm-vet"] and "route: local" in rows["mm-vet"]
    assert "11 combos of audio/image/text/video" in rows["advbench-omni"]


def test_list_tasks_json_and_include_path(tmp_path, capsys):
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "broken.yaml").write_text("name: broken\nversion: 1\n")
    assert main(["list", "tasks", "--json", "--include-path", str(tmp_path / "cards")]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["omnibench"]["modalities"] == ["audio+image+text"] and rows["omnibench"]["published_size"] == 1142
    assert "source: is required" in rows["broken"]["error"]  # listed, with its error; others unaffected
    assert rows["smoke"]["size"] == 120


def test_download_refuses_unconfirmed_routes_without_network(tmp_path):
    with pytest.raises(TaskDataError, match="is unverified and the documented route is local"):
        download(load_card(BUILTIN_CARD_DIR / "mm-vet.yaml"), tmp_path)
    with pytest.raises(TaskDataError, match="documented route is local"):
        download(load_card(BUILTIN_CARD_DIR / "advbench-omni.yaml"), tmp_path)
    with pytest.raises(TaskDataError, match="downloading ys-zong/VLGuard failed"):  # offline in the tests
        download(load_card(BUILTIN_CARD_DIR / "vlguard.yaml"), tmp_path)


def test_download_cli_needs_a_data_root(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    assert main(["tasks", "download", "vlguard"]) == 2
    assert "give --data-root" in capsys.readouterr().err
    assert main(["tasks", "download", "smoke", "--data-root", str(tmp_path)]) == 2
    assert "has no card" in capsys.readouterr().err


def test_unpack_zip_is_safe_and_resumable(tmp_path):
    archive = tmp_path / "test.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("test/a/1.png", td.png_bytes())
        zf.writestr("test/b/2.png", td.png_bytes("blue"))
    assert unpack_zip(archive, tmp_path) == 2
    assert (tmp_path / "test" / "b" / "2.png").read_bytes() == td.png_bytes("blue")
    assert unpack_zip(archive, tmp_path) == 0  # already there
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../out.txt", "x")
    with pytest.raises(TaskDataError, match="refusing to extract"):
        unpack_zip(evil, tmp_path / "x")


@pytest.mark.parametrize("argv", [
    ["tasks", "check", "smoke", "--limi", "2"],
    ["run", "--include-pat", "x"],
    ["list", "tasks", "--include-pat", "x"],
    ["build", "advbench-omni", "--source", "a", "--ou", "b"],
])
def test_no_abbreviated_options(argv):
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)


def test_run_accepts_include_path():
    args = build_parser().parse_args(["run", "--include-path", "a", "--include-path", "b", "--tasks", "x"])
    assert args.include_path == ["a", "b"]


def test_download_cli_fetches_unpacks_and_the_task_then_checks(tmp_path, capsys, monkeypatch):
    """`harness tasks download vlguard` with the dataset hub (the outside service) replaced by a local snapshot in
    VLGuard's published layout (test.json + test.zip); our download, unpacking and loading code all run."""
    import shutil

    import huggingface_hub

    hub = td.write_vlguard(tmp_path / "hub" / "ys-zong" / "VLGuard")
    with zipfile.ZipFile(hub / "test.zip", "w") as zf:
        for f in sorted((hub / "test").rglob("*.png")):
            zf.write(f, f.relative_to(hub).as_posix())
    shutil.rmtree(hub / "test")
    (hub / "README.md").write_text("not in allow_patterns")
    calls = []

    def snapshot_download(*, repo_id, repo_type, revision, local_dir, allow_patterns):
        calls.append((repo_id, repo_type, allow_patterns))
        for f in (tmp_path / "hub" / repo_id).iterdir():
            if allow_patterns is None or f.name in allow_patterns:
                shutil.copy(f, Path(local_dir) / f.name)
        return local_dir

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    data = tmp_path / "data"
    assert main(["tasks", "download", "vlguard", "--data-root", str(data)]) == 0, capsys.readouterr().err
    assert f"downloaded ys-zong/VLGuard to {data / 'vlguard'}" in capsys.readouterr().out
    assert calls == [("ys-zong/VLGuard", "dataset", ["test.json", "test.zip"])]
    assert (data / "vlguard" / "test" / "bad_ads" / "a1.png").is_file()  # unpacked next to the archive
    assert not (data / "vlguard" / "README.md").exists()
    assert main(["tasks", "check", "vlguard", "--data-root", str(data), "--cache-dir", str(tmp_path / "c")]) == 0
    assert "vlguard" in capsys.readouterr().out
