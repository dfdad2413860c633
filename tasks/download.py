"""`harness tasks download NAME`: fetch a snapshot of a card's hub repository into `<data root>/<source.local>`.

This is the only step that uses the network; loading always reads the local directory, so a downloaded
snapshot and a copy placed by hand go through the same code. Cards whose hub id is not confirmed, or whose
documented route is local, are refused unless `force` is given. Zip archives named in `source.unpack` are
unpacked next to themselves (VLGuard's `test.zip` -> `test/`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from tasks.card import Card, TaskDataError


def unpack_zip(archive: Path, into: Path) -> int:
    """Extract a zip archive's regular files below `into` (refusing absolute or `..` names); returns a count."""
    n = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts:
                raise TaskDataError(f"{archive}: refusing to extract {info.filename!r}")
            target = into.joinpath(*name.parts)
            if target.exists() and target.stat().st_size == info.file_size:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".tmp-{target.name}")
            with zf.open(info) as src, tmp.open("wb") as out:
                while block := src.read(1 << 20):
                    out.write(block)
            tmp.replace(target)
            n += 1
    return n


def download(card: Card, data_root: Path, *, revision: str | None = None, force: bool = False) -> Path:
    src = card.source
    if not src.hub:
        raise TaskDataError(f"task {card.name} has no hub id; obtain the data as described in docs/tasks.md "
                            f"({src.layout.strip() or 'see the card'})")
    if (src.hub_status != "confirmed" or src.route != "hub") and not force:
        raise TaskDataError(f"task {card.name}: the hub id {src.hub} is {src.hub_status} and the documented route "
                            f"is {src.route}; place the data under {data_root / src.local} as described in "
                            "docs/tasks.md, or pass --force to download the hub snapshot anyway")
    from huggingface_hub import snapshot_download

    target = data_root / src.local
    target.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(repo_id=src.hub, repo_type="dataset", revision=revision or src.revision,
                          local_dir=str(target), allow_patterns=list(src.allow_patterns) or None)
    except Exception as exc:  # noqa: BLE001 - offline, gated, unknown revision: one message with the fix
        raise TaskDataError(f"task {card.name}: downloading {src.hub} failed ({type(exc).__name__}: {exc}). "
                            "Gated datasets need their terms accepted on the hub and HF_TOKEN set.") from None
    for name in src.unpack:
        archive = target / name
        if archive.is_file():
            unpack_zip(archive, archive.parent)
    return target
