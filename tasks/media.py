"""Media resolution for loaders: relative paths, authors' absolute paths, embedded bytes and tar archives.

Every medium a Sample references is a local file. Loaders get one of three things from a dataset:
- a path: relative to the dataset directory (or a media root inside it); an absolute path that exists; or an
  absolute path from the authors' machines (docs/reference.md, defect D15), which is re-rooted by
  looking for its longest tail under the dataset directory;
- embedded bytes (parquet Image / Audio columns): written once to the cache, named by content hash;
- a member of a tar archive (Omni-SafetyBench `data.tar`): the archive is extracted once into the cache,
  keyed by the archive's content hash, member by member (a killed extraction resumes), then renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from harness.files import read_json

IMAGE_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"))
AUDIO_SIGNATURES = ((b"RIFF", ".wav"), (b"fLaC", ".flac"), (b"OggS", ".ogg"), (b"ID3", ".mp3"))


def resolve_path(ref: str, root: Path, base: Path | None = None) -> Path:
    """A dataset's path reference -> an absolute local path (which may not exist; validation reports it)."""
    p = Path(ref).expanduser()
    if p.is_absolute():
        if p.exists():
            return p
        parts = PurePosixPath(ref.replace("\\", "/")).parts[1:]
        for start in range(len(parts)):  # longest tail first
            candidate = root.joinpath(*parts[start:])
            if candidate.exists():
                return candidate
        return p
    return ((base or root) / p).resolve() if ".." in p.parts else (base or root) / p


def sniff_suffix(data: bytes, kind: str) -> str:
    for sig, ext in (IMAGE_SIGNATURES if kind == "image" else AUDIO_SIGNATURES if kind == "audio" else ()):
        if data.startswith(sig):
            return ext
    if kind == "audio" and len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return ".mp3"  # MPEG audio frame sync
    if kind == "video" and data[4:8] == b"ftyp":
        return ".mp4"
    return {"image": ".png", "audio": ".wav", "video": ".mp4"}.get(kind, ".bin")


def materialize(data: bytes, kind: str, out_dir: Path, name_hint: str | None = None) -> Path:
    """Write embedded media bytes to `out_dir/<sha256[:24]><ext>` once (atomically) and return the path."""
    suffix = Path(name_hint).suffix.lower() if name_hint and Path(name_hint).suffix else sniff_suffix(data, kind)
    path = out_dir / f"{hashlib.sha256(data).hexdigest()[:24]}{suffix}"
    if not path.exists():
        atomic_write_bytes(path, data)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def archive_hash(archive: Path, cache_root: Path) -> str:
    """Content hash of an archive, remembered per (path, size, mtime) so big archives are hashed once."""
    st = archive.stat()
    stamp_key = hashlib.sha256(f"{archive.resolve()}\x1f{st.st_size}\x1f{st.st_mtime_ns}".encode()).hexdigest()[:24]
    stamp = cache_root / "stamps" / f"{stamp_key}.json"
    if stamp.exists():
        try:
            return str(read_json(stamp)["sha256"])
        except (ValueError, KeyError):  # CorruptFile included: a stamp is only a cache, hash again
            pass
    digest = file_sha256(archive)
    atomic_write_bytes(stamp, json.dumps({"archive": str(archive.resolve()), "sha256": digest}).encode())
    return digest


class ArchiveError(ValueError):
    pass


def extract_archive(archive: Path, cache_root: Path) -> Path:
    """Extract a tar archive once into `cache_root/<sha256>/` and return that directory.

    Members are written into `<sha256>.partial/` (existing members of the right size are kept, so a killed
    extraction resumes), then the directory is renamed into place. Only regular files with relative, clean
    names are extracted; anything else (links, devices, `..`) is refused.
    """
    digest = archive_hash(archive, cache_root)
    final = cache_root / digest
    if (final / ".complete").exists():
        return final
    partial = cache_root / f"{digest}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                name = PurePosixPath(member.name)
                if not member.isfile() or name.is_absolute() or ".." in name.parts:
                    raise ArchiveError(f"{archive}: refusing to extract member {member.name!r}")
                target = partial.joinpath(*name.parts)
                if target.exists() and target.stat().st_size == member.size:
                    continue
                src = tar.extractfile(member)
                if src is None:
                    raise ArchiveError(f"{archive}: cannot read member {member.name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".tmp-{target.name}")
                with src, tmp.open("wb") as out:
                    shutil.copyfileobj(src, out)
                os.replace(tmp, target)
    except tarfile.TarError as exc:
        raise ArchiveError(f"{archive}: not a readable tar archive ({exc})") from None
    (partial / ".complete").write_text(str(archive.resolve()))
    try:
        os.replace(partial, final)
    except OSError:  # another process finished first
        if not (final / ".complete").exists():
            raise
        shutil.rmtree(partial, ignore_errors=True)
    return final
