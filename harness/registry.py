"""One generic registry for tasks, defenses, judges and model backends.

Names map to a class or to a lazy ``"module:Class"`` string, so listing names never imports torch. Third-party
packages add entries through an entry-point group (``harness.tasks``, ``harness.defenses``,
``harness.judges``, ``harness.backends``); entry points are read once per registry instance, when a name is
first looked up or listed. An unknown name fails with the closest known names.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name no registry entry has; the message lists the closest known names."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        if not close:  # substring matches help with prefixes such as "regap" -> "regap-orth"
            close = [k for k in known if name.lower() in k.lower() or k.lower() in name.lower()][:3]
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


@dataclass(frozen=True)
class Entry:
    name: str
    target: object  # a class, or a "module:attr" string resolved on first use
    origin: str  # "builtin", "entry-point:<dist>", or "runtime"


class Registry(Generic[T]):
    def __init__(self, kind: str, base: type | None = None, group: str | None = None) -> None:
        self.kind = kind
        self.base = base
        self.group = group
        self._entries: dict[str, Entry] = {}
        self._resolved: dict[str, type[T]] = {}
        self._entry_points_loaded = group is None

    def register(self, name: str, target: object | None = None, *, origin: str = "runtime", replace: bool = False):
        """Register `target` (a class or "module:Class") under `name`; usable as a class decorator."""

        def add(obj: object) -> object:
            if name in self._entries and not replace:
                raise ValueError(f"{self.kind} {name!r} is already registered ({self._entries[name].origin})")
            if not isinstance(obj, (str, type)):
                raise TypeError(f"{self.kind} {name!r}: register a class or a 'module:Class' string")
            self._entries[name] = Entry(name, obj, origin)
            self._resolved.pop(name, None)
            return obj

        return add if target is None else add(target)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.group or ""):
            if ep.name in self._entries:
                continue  # built-ins win; a plugin cannot silently replace one
            dist = getattr(ep, "dist", None)
            origin = f"entry-point:{dist.name}" if dist is not None else "entry-point"
            self._entries[ep.name] = Entry(ep.name, ep.value, origin)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries

    def entry(self, name: str) -> Entry:
        self._load_entry_points()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def get(self, name: str) -> type[T]:
        """The class registered under `name`, imported on first use."""
        if name in self._resolved:
            return self._resolved[name]
        entry = self.entry(name)
        obj = _import_target(entry.target) if isinstance(entry.target, str) else entry.target
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise TypeError(f"{self.kind} {name!r} ({entry.target}) is not a subclass of {self.base.__name__}")
        self._resolved[name] = obj  # type: ignore[assignment]
        return obj  # type: ignore[return-value]

    def origin(self, name: str) -> str:
        return self.entry(name).origin


class ImportTargetError(ValueError):
    """A `module:Class` target that cannot be imported: the message names the target and what is missing."""


def _import_target(target: str) -> object:
    module_name, _, attr = target.partition(":")
    if not attr or not module_name:
        raise ImportTargetError(f"{target!r} must look like 'module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # the missing module may be the target itself or something it imports: name both
        inner = f" (needed by {module_name!r})" if exc.name and exc.name != module_name else ""
        raise ImportTargetError(f"cannot import {target!r}: no module named {exc.name or module_name!r}{inner}; "
                                f"is the package installed, or on PYTHONPATH?") from None
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(obj) if not n.startswith("_") and isinstance(getattr(obj, n), type))
            close = difflib.get_close_matches(part, public, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ImportTargetError(f"cannot import {target!r}: {module_name!r} has no attribute {part!r}.{hint}")
        obj = getattr(obj, part)
    return obj


def import_object(spec: str) -> object:
    """Import `module:attr` (used for `--defense my_pkg.mod:MyDefense`)."""
    return _import_target(spec)


KINDS = ("tasks", "defenses", "judges", "backends")


@dataclass(frozen=True)
class Registries:
    """The four registries of one session. The application fills them (harness.run.registries); the kernel knows
    no task, defense or judge class, so entries are typed loosely here."""

    tasks: Registry[Any]
    defenses: Registry[Any]
    judges: Registry[Any]
    backends: Registry[Any]

    def of(self, kind: str) -> Registry[Any]:
        if kind not in KINDS:
            raise UnknownNameError("registry", kind, list(KINDS))
        return getattr(self, kind)
