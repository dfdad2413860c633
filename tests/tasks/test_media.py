"""Media resolution, content-addressed materialisation and tar extraction."""

import io
import tarfile

import pytest

from tasks.media import ArchiveError, extract_archive, materialize, resolve_path, sniff_suffix
from tests.support.task_data import audio_bytes, png_bytes, write


def test_resolve_relative_absolute_and_authors_paths(tmp_path):
    target = write(tmp_path / "data" / "adv_i" / "3.png", png_bytes())
    assert resolve_path("data/adv_i/3.png", tmp_path) == target
    assert resolve_path(str(target), tmp_path / "elsewhere") == target  # existing absolute path kept
    assert resolve_path("/mnt/author/proj/data/adv_i/3.png", tmp_path) == target  # re-rooted (D15)
    missing = resolve_path("/mnt/author/proj/data/adv_i/404.png", tmp_path)
    assert str(missing) == "/mnt/author/proj/data/adv_i/404.png"  # reported as missing by validation
    assert resolve_path("x.png", tmp_path, tmp_path / "pics") == tmp_path / "pics" / "x.png"


def test_materialize_is_content_addressed(tmp_path):
    a = materialize(png_bytes("red"), "image", tmp_path)
    b = materialize(png_bytes("red"), "image", tmp_path)
    c = materialize(png_bytes("blue"), "image", tmp_path)
    assert a == b != c and a.suffix == ".png"
    assert materialize(audio_bytes("MP3"), "audio", tmp_path).suffix == ".mp3"
    assert materialize(b"\x00" * 10, "audio", tmp_path, "clip.flac").suffix == ".flac"
    assert sniff_suffix(png_bytes(fmt="JPEG"), "image") == ".jpg"
    assert sniff_suffix(audio_bytes("WAV"), "audio") == ".wav"


def make_tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_once_keyed_by_hash_and_resumable(tmp_path):
    archive = make_tar(tmp_path / "data.tar", {"a.png": png_bytes(), "b.png": png_bytes("blue")})
    cache = tmp_path / "cache"
    out = extract_archive(archive, cache)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.png", "b.png"]
    assert (out / ".complete").exists() and len(out.name) == 64  # sha256 of the archive
    mtime = (out / "a.png").stat().st_mtime_ns
    assert extract_archive(archive, cache) == out and (out / "a.png").stat().st_mtime_ns == mtime
    # a killed extraction leaves a .partial folder; the next call completes it, keeping finished members
    archive2 = make_tar(tmp_path / "other.tar", {"x.wav": audio_bytes(), "y.wav": audio_bytes(seconds=0.3)})
    from tasks.media import archive_hash

    partial = cache / f"{archive_hash(archive2, cache)}.partial"
    write(partial / "x.wav", audio_bytes())
    kept = (partial / "x.wav").stat().st_mtime_ns
    out2 = extract_archive(archive2, cache)
    assert (out2 / "x.wav").stat().st_mtime_ns == kept and (out2 / "y.wav").exists() and not partial.exists()


def test_extract_refuses_unsafe_members(tmp_path):
    archive = make_tar(tmp_path / "evil.tar", {"../escape.png": b"x"})
    with pytest.raises(ArchiveError, match="refusing to extract member '../escape.png'"):
        extract_archive(archive, tmp_path / "cache")
    (tmp_path / "notatar.tar").write_bytes(b"garbage" * 100)
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        extract_archive(tmp_path / "notatar.tar", tmp_path / "cache")

