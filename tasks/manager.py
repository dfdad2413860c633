"""`TaskManager`: finds card files (built-in `tasks/cards/*.yaml` and `--include-path` folders or files) and
registers one task per card in a task registry, like lm-evaluation-harness's `TaskManager(include_path=...)`.

Files whose name starts with `_` are include-only templates (`include: _base.yaml`) and are not registered. A
card that does not parse is still registered, as a stand-in that raises its error when used, so one broken
user card does not hide the others from `harness list tasks` and `harness tasks check` reports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.card import Card, CardError
from tasks.card_parse import load_card

BUILTIN_CARD_DIR = Path(__file__).resolve().parent / "cards"
CARD_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class CardFile:
    path: Path
    origin: str  # "card:builtin" or "card:<include path>"
    card: Card | None = None
    error: CardError | None = None

    @property
    def name(self) -> str:
        return self.card.name if self.card else self.path.stem


class TaskManager:
    def __init__(self, include_paths: Iterable[str | Path] = (), builtin: bool = True) -> None:
        self.include_paths = tuple(Path(p).expanduser() for p in include_paths)
        self.builtin = builtin

    def _files(self) -> list[tuple[Path, str]]:
        found: list[tuple[Path, str]] = []
        if self.builtin:
            found += [(p, "card:builtin") for p in sorted(BUILTIN_CARD_DIR.glob("*")) if _is_card(p)]
        for inc in self.include_paths:
            if inc.is_file():
                found.append((inc, f"card:{inc}"))
            elif inc.is_dir():
                found += [(p, f"card:{inc}") for p in sorted(inc.rglob("*")) if _is_card(p)]
            else:
                raise CardError(f"--include-path {inc}", "not a file or directory")
        return found

    def card_files(self) -> list[CardFile]:
        out: list[CardFile] = []
        for path, origin in self._files():
            try:
                out.append(CardFile(path, origin, card=load_card(path)))
            except CardError as exc:
                out.append(CardFile(path, origin, error=exc))
        names: dict[str, Path] = {}
        for cf in out:
            if cf.name in names:
                raise CardError(f"card file {cf.path}", f"task name {cf.name!r} is already used by {names[cf.name]}; "
                                                        "rename one of them")
            names[cf.name] = cf.path
        return out

    def register(self, registry) -> list[CardFile]:
        """Register every card into a `Registry[Task]`; returns the card files."""
        from tasks.card_task import broken_task_class, card_task_class

        files = self.card_files()
        for cf in files:
            if cf.card is not None:
                cls: type = card_task_class(cf.card)
            else:
                cls = broken_task_class(cf.name, cf.error)  # type: ignore[arg-type]
            if cf.name in registry:
                raise CardError(f"card file {cf.path}", f"task name {cf.name!r} is already registered "
                                                        f"({registry.origin(cf.name)}); rename the card")
            registry.register(cf.name, cls, origin=cf.origin)
        return files


def _is_card(path: Path) -> bool:
    return path.is_file() and path.suffix in CARD_SUFFIXES and not path.name.startswith(("_", "."))


def include_paths_from(values: Sequence[str] | None) -> tuple[Path, ...]:
    return tuple(Path(v) for v in values or ())
