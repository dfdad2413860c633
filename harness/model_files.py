"""A cheap fingerprint of a local model folder, part of a run's identity.

A run folder is named by the hash of its RunSpec, which names the model by its path. Without the fingerprint, a
model retrained or replaced at the same path would resume the old folder and show the old answers as its own.
Hashing whole weight files would take minutes for a 7B model, so each file contributes its path, its size and the
bytes of its first and last MiB: a retrain rewrites those, while a copy or a fresh clone (new modification times)
does not change them. A change confined to the middle of a large file is not seen.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection
from pathlib import Path

CHUNK = 1 << 20
MAX_FILES = 5000  # a folder this large is not a model folder; the count still enters the hash


def _model_files(root: Path, skip: Collection[str]) -> list[Path]:
    files: list[Path] = []
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .git, .cache: not the model
        files.extend(Path(current) / n for n in sorted(names) if not n.startswith(".") and n not in skip)
        if len(files) > MAX_FILES:
            break
    return files[:MAX_FILES]


def folder_fingerprint(path: Path | str, skip: Collection[str] = ()) -> str:
    """16 hex digits over every (non-hidden) file of the folder but those named in `skip`: relative path, size,
    first and last MiB."""
    root = Path(path)
    h = hashlib.sha256()
    for file in _model_files(root, skip):
        try:
            size = file.stat().st_size
            h.update(f"{file.relative_to(root).as_posix()}\0{size}\0".encode())
            with open(file, "rb") as f:
                h.update(f.read(CHUNK))
                if size > 2 * CHUNK:
                    f.seek(size - CHUNK)
                    h.update(f.read(CHUNK))
                elif size > CHUNK:
                    h.update(f.read())
        except OSError as err:  # unreadable: its name and the error still count, the run can say more
            h.update(f"{file.name}\0{type(err).__name__}\0".encode())
    return h.hexdigest()[:16]
