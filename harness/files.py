"""Careful reading of the files we write: one place where a damaged file becomes a clear `CorruptFile` error.

Every JSON, JSONL, SQLite, safetensors or torch file that we wrote and read back goes through here, so the rules
are the same everywhere:

- JSON files are written atomically (write to a temporary file, then rename), so any damage is real damage: an
  empty file, bytes that are not UTF-8, text that is not JSON, or JSON of the wrong shape all raise `CorruptFile`
  naming the file (and the line, where JSON gives one). Nothing is rewritten.
- JSONL files are appended to, and a process killed mid-append can only tear the LAST line. Readers skip such a
  torn last line (a live writer may be writing it right now); the writer, under its lock, moves it into a side
  file `<name>.torn-<UTC time>` before appending (`repair_torn_tail`). An unparsable line anywhere else is not
  the mark of a crash: it raises `CorruptFile` with the line number, and every valid line stays where it is.
- A SQLite file we use as a cache is disposable: when it does not open or fails its quick check, it is moved
  aside to `<name>.corrupt-<UTC time>` and an empty one is made in its place, and the caller is told.
- Binary tensor files (safetensors, torch) that do not load raise `CorruptFile` naming the file.
- A folder built once and then reused (a model trained or generated on first use) is built in a temporary sibling
  and renamed into place when complete (`build_once`), so a killed build never leaves a half-written folder that a
  later run would take for finished.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Notify = Callable[[str], None]


class CorruptFile(ValueError):
    """A file we wrote cannot be read back; `str()` is one line naming the file (and line) and what to do."""

    def __init__(self, path: Path | str, problem: str, *, line: int | None = None, hint: str = "") -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        self.hint = hint
        where = f"{self.path}, line {line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}" + (f"; {hint}" if hint else ""))


def notify_stderr(message: str) -> None:
    print(f"harness: note: {message}", file=sys.stderr)


def build_once(target: Path | str, build: Callable[[Path], None], *, done: Callable[[Path], bool]) -> Path:
    """`target` if `done(target)`, else built by `build(tmp)` into a temporary sibling renamed into place when
    `build` returns. A file lock keeps concurrent builders from racing; a failed or killed build leaves no `target`
    (its temporary folder is removed, or at worst left as a hidden `.<name>.*` sibling); a `target` that exists but
    is not done (left by an older version) is moved aside to `<name>.incomplete-<UTC time>`, not deleted."""
    import shutil
    import tempfile

    from filelock import FileLock

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if done(target):
        return target
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if done(target):  # built by another process while we waited
            return target
        if target.exists():
            target.rename(side_name(target, "incomplete"))
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            build(tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def side_name(path: Path, tag: str) -> Path:
    """`<path>.<tag>-<UTC time>`, unique in its folder (a counter is added when the second is taken)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = path.with_name(f"{path.name}.{tag}-{stamp}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{tag}-{stamp}-{n}")
        n += 1
    return candidate


def _short(raw: bytes, limit: int = 40) -> str:
    """The start of a damaged line for a one-line message: text as a Python literal, binary as its size."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return f"binary data, {len(raw)} bytes"
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


# -- JSON --------------------------------------------------------------------------------------------------
def read_json(path: Path | str, *, expect: type | None = dict, hint: str = "") -> Any:
    """The JSON value in `path`; FileNotFoundError when absent, CorruptFile when it cannot be what we wrote."""
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise CorruptFile(path, "empty file", hint=hint)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFile(path, f"not UTF-8 text (byte {exc.start}); binary garbage?", hint=hint) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptFile(path, f"not valid JSON ({exc.msg}, column {exc.colno})", line=exc.lineno,
                          hint=hint) from None
    if expect is not None and not isinstance(obj, expect):
        raise CorruptFile(path, f"expected a JSON {_json_kind(expect)}, found a {_json_kind(type(obj))}", hint=hint)
    return obj


def read_json_if_exists(path: Path | str, *, expect: type | None = dict, hint: str = "") -> Any:
    path = Path(path)
    return read_json(path, expect=expect, hint=hint) if path.exists() else None


def _json_kind(t: type) -> str:
    return {dict: "object", list: "array", str: "string", int: "number", float: "number",
            bool: "boolean", type(None): "null"}.get(t, t.__name__)


# -- JSONL -------------------------------------------------------------------------------------------------
def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """The JSON object on one line, or None when the line is not one."""
    try:
        obj = json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None
    return obj if isinstance(obj, dict) else None


def iter_jsonl(path: Path | str, decode: Callable[[dict[str, Any]], T] | None = None, *,
               what: str = "record", strict: bool = False,
               torn_hint: str = "resume the run or score it again, which sets a torn last line aside") -> Iterator[T]:
    """Every record of a JSONL file, in order, through `decode` (default: the dict itself).

    A torn last line is skipped (see the module doc), or with `strict` (a file written atomically, or one about
    to be shipped) raises CorruptFile with `torn_hint`; an unparsable line before the last, or a line `decode`
    rejects, raises CorruptFile with its number. A missing file has no records.
    """
    path = Path(path)
    if not path.exists():
        return
    bad: tuple[int, bytes] | None = None
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            if bad is not None:  # a line follows the bad one, so it was not torn by a crash
                raise _corrupt_line(path, *bad)
            obj = _parse_line(raw)
            if obj is None or (strict and not raw.endswith(b"\n")):
                bad = (lineno, raw)
                continue
            if decode is None:
                yield obj  # type: ignore[misc]
                continue
            try:
                value = decode(obj)
            except (KeyError, TypeError, ValueError) as exc:
                detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                raise CorruptFile(path, f"not a valid {what} ({detail})", line=lineno,
                                  hint="fix or remove that line by hand; the other lines are intact") from None
            yield value
    if bad is not None and strict:
        raise CorruptFile(path, f"the last line is torn ({_short(bad[1])})", line=bad[0], hint=torn_hint)


def read_given_jsonl(path: Path | str, *, what: str = "line") -> list[dict[str, Any]]:
    """Every object of a JSONL file a user gives us (labels, data rows): no torn-tail tolerance, since no crash of
    ours wrote it; the first line that is not a JSON object raises CorruptFile naming file and line."""
    path = Path(path)
    out: list[dict[str, Any]] = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            obj = _parse_line(raw)
            if obj is None:
                raise CorruptFile(path, f"this {what} is not a JSON object ({_short(raw)})", line=lineno,
                                  hint="fix or remove that line")
            out.append(obj)
    return out


def check_jsonl(path: Path | str, *, strict: bool = False, torn_hint: str = "") -> None:
    """A fast check for large files that are passed on unparsed (the leaderboard's run pages): when every line
    has the shape of a JSON object (`{` ... `}`, checked vectorised over the whole file) the file passes; otherwise it
    is read line by line with `iter_jsonl`, which names the damaged line or skips a torn tail. Damage that keeps
    a line's braces (a hand edit inside a record) passes this check; the full readers catch it.
    """
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    if not data or _shaped_like_objects(data):
        return
    kw = {"torn_hint": torn_hint} if torn_hint else {}
    for _ in iter_jsonl(path, strict=strict, **kw):
        pass


def _shaped_like_objects(data: bytes) -> bool:
    """Every line `{...}` and the file ending in a newline: vectorised, about 1 GB/s (bytes.count of `}\\n{` is
    several times slower)."""
    import numpy as np

    a = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(a == 0x0A)
    return bool(a[0] == 0x7B and ends.size and ends[-1] == a.size - 1 and (a[ends - 1] == 0x7D).all()
                and (a[ends[:-1] + 1] == 0x7B).all())


def _corrupt_line(path: Path, lineno: int, raw: bytes) -> CorruptFile:
    return CorruptFile(path, f"line is not a JSON object ({_short(raw)}), and it is not the last line, so it was "
                             "not torn by a crash", line=lineno,
                       hint="fix or remove that line by hand; nothing was changed")


def repair_torn_tail(path: Path | str) -> str | None:
    """Make a JSONL file safe to append to; call only while holding the file's write lock.

    Scans the whole file: a corrupt line before the last raises CorruptFile (nothing changed). A torn last line
    is moved into a side file and the file truncated before it; a complete last record that only lacks its
    newline gets the newline. Returns a one-line report of what was done, or None when nothing was needed.
    """
    path = Path(path)
    if not path.exists():
        return None
    start = 0  # offset of the current line
    last: tuple[int, int, bytes] | None = None  # (line number, offset, raw) of the last non-blank line
    bad: tuple[int, bytes] | None = None
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if raw.strip():
                if bad is not None:
                    raise _corrupt_line(path, *bad)
                if _parse_line(raw) is None:
                    bad = (lineno, raw)
                last = (lineno, start, raw)
            start += len(raw)
    if last is None:
        return None
    lineno, offset, raw = last
    if bad is None:
        if raw.endswith(b"\n"):
            return None
        with path.open("ab") as f:  # a whole record cut just before its newline: keep it
            f.write(b"\n")
        return f"{path}: line {lineno} lacked its newline (a write cut by a kill); completed it"
    side = side_name(path, "torn")
    side.write_bytes(raw)
    with path.open("r+b") as f:
        f.truncate(offset)
        os.fsync(f.fileno())
    return (f"{path}: last line {lineno} was torn (a write cut by a kill; {len(raw)} bytes, {_short(raw)}); "
            f"moved it to {side.name} and will redo that record")


# -- SQLite ------------------------------------------------------------------------------------------------
def open_sqlite_cache(path: Path | str, setup: Callable[[Any], None], *, what: str = "cache",
                      notify: Notify = notify_stderr) -> Any:
    """A connection to a disposable SQLite cache, rebuilt empty (the damaged file moved aside) when corrupt.

    `setup(connection)` runs the pragmas and CREATE TABLE statements; it runs again on the new file.
    """
    import sqlite3

    path = Path(path)
    try:
        return _connect_checked(path, setup)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise  # another process holds it: not damage
        problem = str(exc)
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    moved = side_name(path, "corrupt")
    os.replace(path, moved)
    for suffix in ("-wal", "-shm", "-journal"):  # leftovers of the damaged database would confuse the new one
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            os.replace(extra, moved.with_name(moved.name + suffix))
    notify(f"{what} {path} is corrupt ({problem}); it is only a cache, so it was moved to {moved.name} and an "
           "empty one made (its entries will be computed again)")
    try:
        return _connect_checked(path, setup)
    except sqlite3.DatabaseError as exc:
        raise CorruptFile(path, f"cannot create a new {what} ({exc})") from None


@contextmanager
def sqlite_damage_named(path: Path | str, what: str = "cache") -> Iterator[None]:
    """Turn damage found after opening (a malformed page) into CorruptFile naming the file."""
    import sqlite3

    try:
        yield
    except sqlite3.OperationalError:
        raise  # locks, full disks: not damage, and their own message is clear
    except sqlite3.DatabaseError as exc:
        raise CorruptFile(path, f"{what} is damaged ({exc})",
                          hint="it is only a cache: delete it and run the command again") from None


def _connect_checked(path: Path, setup: Callable[[Any], None]) -> Any:
    import sqlite3

    db = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0, isolation_level=None)
    try:
        setup(db)
        row = db.execute("PRAGMA quick_check").fetchone()
        if not row or row[0] != "ok":
            raise sqlite3.DatabaseError(f"quick check: {row[0] if row else 'no answer'}")
    except BaseException:
        db.close()
        raise
    return db


# -- tensors -----------------------------------------------------------------------------------------------
def load_safetensors(path: Path | str, *, hint: str = "") -> dict[str, Any]:
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for damaged files
        raise CorruptFile(path, f"not a readable safetensors file ({_one_line(exc)})", hint=hint) from None


def load_torch(path: Path | str, *, hint: str = "") -> Any:
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and EOF errors all mean a damaged file
        raise CorruptFile(path, f"not a readable torch file ({_one_line(exc)})", hint=hint) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
