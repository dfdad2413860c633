"""Task cards: the schema as frozen dataclasses, and the errors that name the card file and the field
(`tasks.card_parse` reads a YAML card into these).

A card describes one task: where its data live (a hub id and/or a directory under the data root), how rows
become samples (a field mapping for the generic `records` loader, or a Python hook for formats that need
code), its modality configurations, labels, metrics and judge templates. The format is documented in
`docs/tasks.md`; `tasks/cards/*.yaml` are the built-in cards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

JUDGE_TEMPLATES: tuple[str, ...] = (
    "safety", "safety_query", "over_refusal", "mcq", "omni_safetybench", "strongreject", "video_rubric",
)
DEFAULT_JUDGE_TEMPLATE = MappingProxyType({"harmful": "safety", "benign": "over_refusal", "utility": "mcq"})
METRICS: tuple[str, ...] = (
    "rsr", "asr", "bar", "combined", "accuracy", "refusal_rate",
    "understand_rate", "c_asr", "c_rr", "safety_score", "cmsc",
)
HUB_STATUSES: tuple[str, ...] = ("confirmed", "seen", "unverified")
MODALITY_PARTS: tuple[str, ...] = ("audio", "image", "text", "video")
MAPPED_FIELDS: tuple[str, ...] = ("id", "text", "image", "audio", "video", "category", "reference", "source_id")
MEDIA_FIELDS: tuple[str, ...] = ("image", "audio", "video")
RECORDS_LOADER = "records"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
CONFIG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$")


class CardError(ValueError):
    """A card is malformed or does not match its data; the message names the card file and the field."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}")


class TaskDataError(ValueError):
    """A task's data are missing or unreadable (not a card error); raised before any model loads."""

    def __init__(self, message: str, problems: tuple[str, ...] = (), shown: int = 20) -> None:
        self.problems = problems
        if problems:
            head = "\n".join(f"  - {p}" for p in problems[:shown])
            more = f"\n  ... and {len(problems) - shown} more" if len(problems) > shown else ""
            message = f"{message} ({len(problems)} problem(s)):\n{head}{more}"
        super().__init__(message)


@dataclass(frozen=True)
class FieldSpec:
    """Where one sample field comes from: a column, a Jinja template over the row, or a constant."""

    column: str | None = None
    template: str | None = None
    const: Any = None

    @property
    def kind(self) -> str:
        return "column" if self.column is not None else "template" if self.template is not None else "const"


@dataclass(frozen=True)
class LabelSpec:
    """A constant label, or a column whose values are mapped to labels (with an optional default)."""

    const: str | None = None
    column: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None


@dataclass(frozen=True)
class Source:
    local: str  # directory under the data root (or an absolute path) holding the data in the upstream layout
    route: str  # "local" or "hub": the documented way to obtain the data
    hub: str | None = None
    hub_status: str | None = None
    revision: str | None = None
    name: str | None = None  # datasets builder config name
    split: str | None = None
    data_files: Mapping[str, tuple[str, ...]] | None = None
    records: str = "rows"  # "rows" (datasets' own readers) or "keyed" (a JSON object keyed by item id)
    media_root: str = ""  # relative media paths resolve against <dataset dir>/<media_root>
    marker: str | None = None  # a relative path whose presence identifies the dataset directory
    allow_patterns: tuple[str, ...] = ()  # for `harness tasks download`
    unpack: tuple[str, ...] = ()  # zip archives that `harness tasks download` unpacks next to themselves
    layout: str = ""
    notes: str = ""

    def describe(self) -> str:
        if self.hub:
            rev = f"@{self.revision}" if self.revision else ""
            return f"hub:{self.hub}{rev} [{self.hub_status}]; local:{self.local} (route: {self.route})"
        return f"local:{self.local}"


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    modalities: tuple[str, ...]  # allowed sample modalities (sorted `+`-joined), first = the usual one
    label: LabelSpec | None = None
    split: str | None = None
    hf_name: str | None = None
    data_files: Mapping[str, tuple[str, ...]] | None = None
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    filter: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    size: int | None = None


@dataclass(frozen=True)
class Card:
    name: str
    version: str
    description: str
    source: Source
    configurations: Mapping[str, ConfigSpec]
    loader: str = RECORDS_LOADER
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    metadata_fields: Mapping[str, str] = field(default_factory=dict)  # metadata key -> column (`col?`: optional)
    label: LabelSpec | None = None
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    judge_templates: Mapping[str, str] = field(default_factory=dict)  # label -> template (overrides only)
    options: Mapping[str, Any] = field(default_factory=dict)
    size: int | None = None  # published size, for documentation
    homepage: str = ""
    citation: str = ""
    path: Path | None = None

    @property
    def where(self) -> str:
        return f"card {self.name} ({self.path})" if self.path else f"card {self.name}"

    def judge_template(self, label: str) -> str:
        return self.judge_templates.get(label, DEFAULT_JUDGE_TEMPLATE[label])

    def modalities(self) -> list[str]:
        seen: list[str] = []
        for cfg in self.configurations.values():
            for m in cfg.modalities:
                if m not in seen:
                    seen.append(m)
        return seen

    def expand(self, names: tuple[str, ...] | list[str]) -> list[str]:
        """Configuration and group names -> configuration names (all when empty), in card order."""
        if not names:
            return list(self.configurations)
        wanted: set[str] = set()
        for n in names:
            wanted.update(self.groups.get(n, (n,)))
        return [c for c in self.configurations if c in wanted]
