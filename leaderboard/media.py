"""Media assets of the sample browser: image thumbnails, and copies of audio and video, inside the site.

Sample files name media by local path, and ingested submissions come from other machines, so a path is a claim,
not a fact. A file is only taken into the (public) site when
  - it lies under one of the allowed media roots (default: the harness cache, the data root, the runs folder),
  - images are identified by Pillow as PNG, JPEG, GIF or WebP; small ones (at most `copy_image_px` on their
    longer side and `copy_image_bytes`) are taken as they are, larger ones are re-encoded as a JPEG thumbnail
    of at most `thumb_px` (the browser scales either to the same box; taking a file skips decoding),
  - audio and video start with the magic bytes of a known container and are at most `max_copy_bytes`.
Anything else is shown as "not available" with the reason. Files taken as they are become hard links when the
site is on the same file system (else copies). Assets are named by a hash of (resolved path, size, mtime), so
rebuilding into the same site reuses them and two runs sharing a file share one asset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

ASSET_DIR = "assets/media"


@dataclass(frozen=True)
class MediaPolicy:
    roots: tuple[Path, ...]
    thumb_px: int = 240  # longest side of image thumbnails
    copy_image_px: int = 1024  # images up to this size (and copy_image_bytes) are copied, not re-encoded
    copy_image_bytes: int = 300 * 1024
    max_copy_bytes: int = 16 * 1024 * 1024  # audio / video larger than this are not copied
    workers: int = 4  # threads making assets (Pillow releases the GIL while decoding and resizing)


# Pillow format -> extension. Never SVG: an SVG opened on its own can run scripts.
IMAGE_FORMATS = MappingProxyType({"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"})


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, extension) of an audio or video container from its first bytes."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "wav"
    if head[:4] == b"fLaC":
        return "audio", "flac"
    if head[:4] == b"OggS":
        return "audio", "ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio", "mp3"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return ("audio", "m4a") if brand in (b"M4A ", b"M4B ") else ("video", "mp4")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video", "webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "avi"
    return None


@dataclass
class MediaAssets:
    """Turns media paths into site assets; one object per build (it memoises within the build only)."""

    out_dir: Path
    policy: MediaPolicy
    _done: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _roots: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        self._roots = tuple(r.resolve() for r in self.policy.roots)
        (self.out_dir / ASSET_DIR).mkdir(parents=True, exist_ok=True)

    def prepare(self, items: Sequence[tuple[str, str]]) -> None:
        """Make the assets of many (kind, path) items in parallel; `asset` then answers from memory."""
        todo = list(dict.fromkeys(i for i in items if i not in self._done))
        if len(todo) < 2 or self.policy.workers < 2:
            for kind, path in todo:
                self.asset(kind, path)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.policy.workers) as pool:
            for key, made in zip(todo, pool.map(lambda item: self._safe_make(*item), todo)):
                self._done[key] = made

    def asset(self, kind: str, path: str) -> dict[str, Any]:
        """{"kind", "src"} (src relative to the site root), or {"kind", "missing": reason}."""
        key = (kind, path)
        if key not in self._done:
            self._done[key] = self._safe_make(kind, path)
        return self._done[key]

    def _safe_make(self, kind: str, path: str) -> dict[str, Any]:
        try:
            return self._make(kind, path)
        except Exception as exc:  # one bad file must not stop a build; the page says why
            return {"kind": kind, "missing": f"not readable ({type(exc).__name__})"}

    def _make(self, kind: str, path: str) -> dict[str, Any]:
        src = Path(path)
        try:
            resolved = src.resolve(strict=True)
        except (OSError, RuntimeError):
            return {"kind": kind, "missing": "file not on this machine"}
        if not any(resolved.is_relative_to(root) for root in self._roots):
            return {"kind": kind, "missing": "outside the allowed media folders"}
        if not resolved.is_file():
            return {"kind": kind, "missing": "not a file"}
        stat = resolved.stat()
        name = hashlib.sha256(f"{resolved}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:24]
        if kind == "image":
            return self._image(resolved, name, stat.st_size)
        return self._copy(kind, resolved, name, stat.st_size)

    def _image(self, path: Path, name: str, size: int) -> dict[str, Any]:
        from PIL import Image

        with Image.open(path) as img:  # reads the header only
            fmt, dims = img.format, img.size
        if fmt not in IMAGE_FORMATS:
            return {"kind": "image", "missing": f"not a PNG, JPEG, GIF or WebP image ({fmt})"}
        if max(dims) <= self.policy.copy_image_px and size <= self.policy.copy_image_bytes:
            rel = f"{ASSET_DIR}/{name}.{IMAGE_FORMATS[fmt]}"
            _link_or_copy(path, self.out_dir / rel)
            return {"kind": "image", "src": rel}
        return self._thumbnail(path, name)

    def _thumbnail(self, path: Path, name: str) -> dict[str, Any]:
        rel = f"{ASSET_DIR}/{name}-t{self.policy.thumb_px}.jpg"
        target = self.out_dir / rel
        if not target.exists():
            from PIL import Image

            px = self.policy.thumb_px
            with Image.open(path) as img:
                img.draft("RGB", (px, px))  # JPEG: decode at reduced size (much faster for large photos)
                img.thumbnail((px, px))
                if img.mode in ("RGBA", "LA", "P"):
                    rgba = img.convert("RGBA")
                    flat = Image.new("RGB", rgba.size, "white")
                    flat.paste(rgba, mask=rgba.getchannel("A"))
                    img = flat
                elif img.mode != "RGB":
                    img = img.convert("RGB")
                _write_via_tmp(target, lambda f: img.save(f, "JPEG", quality=80))
        return {"kind": "image", "src": rel}

    def _copy(self, kind: str, path: Path, name: str, size: int) -> dict[str, Any]:
        if size > self.policy.max_copy_bytes:
            return {"kind": kind, "missing": f"too large for the site ({size / 2**20:.1f} MiB)"}
        with path.open("rb") as f:
            found = sniff(f.read(16))
        if found is None:
            return {"kind": kind, "missing": "not a recognised audio or video file"}
        real_kind, ext = found
        rel = f"{ASSET_DIR}/{name}.{ext}"
        _link_or_copy(path, self.out_dir / rel)
        return {"kind": real_kind, "src": rel}


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link when source and site share a file system (creating a file costs far more than a link on
    some systems), else a copy through a temporary name."""
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:  # another file system, links not permitted, or a concurrent build made it first
        if not target.exists():
            def copy(f) -> None:
                with source.open("rb") as src:
                    shutil.copyfileobj(src, f)

            _write_via_tmp(target, copy)


def _write_via_tmp(target: Path, write) -> None:
    """Write through a temporary name, so an interrupted build never leaves a truncated asset to be reused."""
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("wb") as f:
        write(f)
    tmp.replace(target)


def default_roots(runs_dir: Path, extra: Sequence[Path] = ()) -> tuple[Path, ...]:
    from harness import config

    roots = [Path(runs_dir), config.cache_dir()]
    data = config.data_root()
    if data is not None:
        roots.append(data)
    return tuple(roots) + tuple(Path(p) for p in extra)
