"""Reading a task card: YAML (with `include:` merged in) parsed into the dataclasses of `tasks.card`.

Every value is checked here, before any data is read: unknown keys (typos), unknown judge templates or
metrics, malformed modalities, groups naming unknown configurations, field specs that are not exactly one of
column / template / const. Errors name the card file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.records import SAMPLE_LABELS
from tasks.card import (CONFIG_RE, DEFAULT_JUDGE_TEMPLATE, HUB_STATUSES, JUDGE_TEMPLATES, MAPPED_FIELDS, MEDIA_FIELDS,
                        METRICS, MODALITY_PARTS, NAME_RE, RECORDS_LOADER, Card, CardError, ConfigSpec, FieldSpec,
                        LabelSpec, Source)


class _At:
    """A position in the card (file + dotted key path) for error messages."""

    def __init__(self, where: str, path: str = "") -> None:
        self.where, self.path = where, path

    def __truediv__(self, key: object) -> _At:
        return _At(self.where, f"{self.path}.{key}" if self.path else str(key))

    def fail(self, message: str) -> CardError:
        return CardError(self.where, f"{self.path}: {message}" if self.path else message)


def _mapping(value: Any, at: _At, allowed: tuple[str, ...] | None = None,
             required: tuple[str, ...] = ()) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise at.fail(f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise at.fail(f"keys must be strings, got {key!r}")
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            import difflib

            hints = [f"{u!r} (did you mean {difflib.get_close_matches(u, allowed, 1)[0]!r}?)"
                     if difflib.get_close_matches(u, allowed, 1) else repr(u) for u in unknown]
            raise at.fail(f"unknown key(s) {', '.join(hints)}; allowed: {', '.join(allowed)}")
    for key in required:
        if value.get(key) in (None, ""):
            raise (at / key).fail("is required")
    return dict(value)


def _str(value: Any, at: _At, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise at.fail(f"expected a string, got {type(value).__name__}")
    return str(value)


def _choice(value: Any, at: _At, choices: tuple[str, ...], what: str) -> str:
    text = _str(value, at)
    if text not in choices:
        raise at.fail(f"unknown {what} {text!r}; known: {', '.join(choices)}")
    return text  # type: ignore[return-value]


def _str_list(value: Any, at: _At) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise at.fail(f"expected a list of strings, got {type(value).__name__}")
    return tuple(_str(v, at / i) for i, v in enumerate(value))  # type: ignore[misc]


def _int(value: Any, at: _At) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise at.fail(f"expected a non-negative integer, got {value!r}")
    return value


def parse_modality(value: str, at: _At) -> str:
    parts = [p.strip() for p in value.split("+") if p.strip()]
    bad = [p for p in parts if p not in MODALITY_PARTS]
    if not parts or bad or len(set(parts)) != len(parts):
        raise at.fail(f"bad modality {value!r}: use `+`-joined parts from {', '.join(MODALITY_PARTS)}")
    return "+".join(sorted(parts))


def _modalities(value: Any, at: _At) -> tuple[str, ...]:
    items = _str_list(value, at)
    return tuple(parse_modality(v, at) for v in items)


def _field_spec(value: Any, at: _At) -> FieldSpec:
    if isinstance(value, str):
        return FieldSpec(column=value)
    spec = _mapping(value, at, ("column", "template", "const"))
    if len(spec) != 1:
        raise at.fail("give exactly one of `column`, `template` or `const` (or a plain column name)")
    (kind, v), = spec.items()
    if kind == "const":
        return FieldSpec(const=v)
    text = _str(v, at / kind)
    if kind == "template":
        _check_template(text, at / kind)  # type: ignore[arg-type]
        return FieldSpec(template=text)
    return FieldSpec(column=text)


def _check_template(source: str, at: _At) -> None:
    from tasks.templating import TemplateError, Templates

    try:
        Templates().compile(source)
    except TemplateError as exc:
        raise at.fail(f"bad template: {exc}") from None


def _fields(value: Any, at: _At) -> tuple[dict[str, FieldSpec], dict[str, str]]:
    raw = _mapping(value, at, (*MAPPED_FIELDS, "metadata"))
    meta_raw = raw.pop("metadata", None)
    fields = {k: _field_spec(v, at / k) for k, v in raw.items() if v is not None}
    meta: dict[str, str] = {}
    if isinstance(meta_raw, (list, tuple)):  # a trailing `?` marks a column that may be absent
        meta = {c.rstrip("?"): c for c in _str_list(meta_raw, at / "metadata")}
    elif meta_raw is not None:
        meta = {k: _str(v, at / "metadata" / k)  # type: ignore[misc]
                for k, v in _mapping(meta_raw, at / "metadata").items()}
    return fields, meta


def _label(value: Any, at: _At) -> LabelSpec | None:
    if value is None:
        return None
    if isinstance(value, str):
        return LabelSpec(const=_choice(value, at, SAMPLE_LABELS, "label"))
    spec = _mapping(value, at, ("column", "map", "default"), required=("column",))
    mapping = {str(k): _choice(v, at / "map" / k, SAMPLE_LABELS, "label")
               for k, v in _mapping(spec.get("map"), at / "map").items()}
    default = spec.get("default")
    return LabelSpec(column=_str(spec["column"], at / "column"), mapping=mapping,
                     default=_choice(default, at / "default", SAMPLE_LABELS, "label") if default else None)


def _data_files(value: Any, at: _At, split: str | None) -> dict[str, tuple[str, ...]] | None:
    if value is None:
        return None
    if isinstance(value, (str, list, tuple)):
        return {split or "train": _str_list(value, at)}
    return {k: _str_list(v, at / k) for k, v in _mapping(value, at).items()}


SOURCE_KEYS = ("local", "route", "hub", "hub_status", "revision", "name", "split", "data_files", "records",
               "media_root", "marker", "allow_patterns", "unpack", "layout", "notes")


def _source(value: Any, at: _At, card_name: str) -> Source:
    raw = _mapping(value, at, SOURCE_KEYS)
    hub = _str(raw.get("hub"), at / "hub", optional=True)
    status = None
    if hub:
        if "/" not in hub:
            raise (at / "hub").fail(f"expected an `owner/name` hub id, got {hub!r}")
        status = _choice(raw.get("hub_status"), at / "hub_status", HUB_STATUSES, "hub status") \
            if raw.get("hub_status") is not None else None
        if status is None:
            raise (at / "hub_status").fail(f"is required with a hub id: one of {', '.join(HUB_STATUSES)}")
    local = _str(raw.get("local"), at / "local", optional=True) or (hub.rsplit("/", 1)[-1] if hub else card_name)
    route = _choice(raw.get("route", "hub" if hub and status == "confirmed" else "local"), at / "route",
                    ("local", "hub"), "route")
    if route == "hub" and status != "confirmed":
        raise (at / "route").fail("`hub` is only allowed for a confirmed hub id; make the local path the "
                                  "documented route for a hub id that is not confirmed")
    split = _str(raw.get("split"), at / "split", optional=True)
    records = _choice(raw.get("records", "rows"), at / "records", ("rows", "keyed"), "records layout")
    return Source(
        local=local, route=route, hub=hub, hub_status=status,
        revision=_str(raw.get("revision"), at / "revision", optional=True),
        name=_str(raw.get("name"), at / "name", optional=True), split=split,
        data_files=_data_files(raw.get("data_files"), at / "data_files", split), records=records,
        media_root=_str(raw.get("media_root"), at / "media_root", optional=True) or "",
        marker=_str(raw.get("marker"), at / "marker", optional=True),
        allow_patterns=_str_list(raw.get("allow_patterns"), at / "allow_patterns"),
        unpack=_str_list(raw.get("unpack"), at / "unpack"),
        layout=_str(raw.get("layout"), at / "layout", optional=True) or "",
        notes=_str(raw.get("notes"), at / "notes", optional=True) or "",
    )


CONFIG_KEYS = ("modality", "label", "split", "name", "data_files", "fields", "filter", "options", "description",
               "size")


def _configuration(name: str, value: Any, at: _At, inferred: tuple[str, ...], hook: bool) -> ConfigSpec:
    if not CONFIG_RE.match(name) or name in ("", "*"):
        raise at.fail(f"bad configuration name {name!r}")
    raw = _mapping(value, at, CONFIG_KEYS)
    fields, meta = _fields(raw.get("fields"), at / "fields")
    if meta:
        raise (at / "fields" / "metadata").fail("metadata columns are set once, at the top level `fields`")
    modalities = _modalities(raw.get("modality"), at / "modality")
    if not modalities:
        if hook or not inferred:
            raise (at / "modality").fail("is required (the modality of this configuration's samples)")
        modalities = inferred
    flt = {k: (tuple(v) if isinstance(v, (list, tuple)) else (v,))
           for k, v in _mapping(raw.get("filter"), at / "filter").items()}
    split = _str(raw.get("split"), at / "split", optional=True)
    return ConfigSpec(
        name=name, modalities=modalities, label=_label(raw.get("label"), at / "label"), split=split,
        hf_name=_str(raw.get("name"), at / "name", optional=True),
        data_files=_data_files(raw.get("data_files"), at / "data_files", split),
        fields=fields, filter=flt, options=_mapping(raw.get("options"), at / "options"),
        description=_str(raw.get("description"), at / "description", optional=True) or "",
        size=_int(raw.get("size"), at / "size"),
    )


def _inferred_modality(keys: set[str]) -> tuple[str, ...]:
    parts = [k for k in MODALITY_PARTS if k in keys]
    return ("+".join(sorted(parts)),) if parts else ()


CARD_KEYS = ("name", "version", "description", "source", "loader", "fields", "label", "configurations", "groups",
             "metrics", "judge_template", "options", "size", "homepage", "citation", "include")


def parse_card(data: Any, path: Path | None = None) -> Card:
    """Validate a card mapping (already YAML-parsed, includes resolved) and build the Card."""
    where = f"card file {path}" if path else "card"
    at = _At(where)
    raw = _mapping(data, at, CARD_KEYS, required=("name", "version", "source", "configurations"))
    raw.pop("include", None)
    name = _str(raw["name"], at / "name")
    if not NAME_RE.match(name):  # type: ignore[arg-type]
        raise (at / "name").fail(f"bad task name {name!r}: lower-case letters, digits, `.`, `_`, `-`")
    at = _At(f"card {name} ({path})" if path else f"card {name}")
    loader = _str(raw.get("loader", RECORDS_LOADER), at / "loader")
    hook = loader != RECORDS_LOADER
    if hook and not re.match(r"^[A-Za-z_][\w.]*$", loader or ""):
        raise (at / "loader").fail(f"expected `records` or a Python module path, got {loader!r}")
    fields, meta = _fields(raw.get("fields"), at / "fields")
    if not hook:
        for media in MEDIA_FIELDS:
            if media in fields and fields[media].kind == "const":
                raise (at / "fields" / media).fail("a medium cannot be a constant")
    configs_raw = raw["configurations"]
    if isinstance(configs_raw, (list, tuple)):
        configs_raw = {str(c): None for c in configs_raw}
    configs_raw = _mapping(configs_raw, at / "configurations")
    if not configs_raw:
        raise (at / "configurations").fail("at least one configuration is required")
    configurations: dict[str, ConfigSpec] = {}
    for cname, cval in configs_raw.items():
        c_at = at / "configurations" / cname
        own = _mapping(cval, c_at).get("fields") or {}
        keys = set(fields) | (set(own) if isinstance(own, Mapping) else set())
        configurations[cname] = _configuration(cname, cval, c_at, _inferred_modality(keys), hook)
    label = _label(raw.get("label"), at / "label")
    if not hook:
        if "text" not in fields and not any("text" in c.fields for c in configurations.values()) \
                and not any(k in fields for k in MEDIA_FIELDS):
            raise (at / "fields").fail("map at least one of text, image, audio, video")
        for cname, cfg in configurations.items():
            if label is None and cfg.label is None:
                raise (at / "configurations" / cname / "label").fail(
                    "no label: set a top-level `label` or one per configuration")
    groups: dict[str, tuple[str, ...]] = {}
    for gname, members in _mapping(raw.get("groups"), at / "groups").items():
        g_at = at / "groups" / gname
        if gname in configurations:
            raise g_at.fail("a group cannot have the name of a configuration")
        names = _str_list(members, g_at)
        unknown = [m for m in names if m not in configurations]
        if unknown or not names:
            raise g_at.fail(f"unknown configuration(s) {unknown}; known: {', '.join(configurations)}")
        groups[gname] = names
    metrics = _str_list(raw.get("metrics"), at / "metrics")
    for i, m in enumerate(metrics):
        _choice(m, at / "metrics" / i, METRICS, "metric")
    jt_raw = raw.get("judge_template")
    judge_templates: dict[str, str] = {}
    if isinstance(jt_raw, str):
        judge_templates = {lab: _choice(jt_raw, at / "judge_template", JUDGE_TEMPLATES, "judge template")
                           for lab in SAMPLE_LABELS}
    elif jt_raw is not None:
        for lab, tmpl in _mapping(jt_raw, at / "judge_template", SAMPLE_LABELS).items():
            judge_templates[lab] = _choice(tmpl, at / "judge_template" / lab, JUDGE_TEMPLATES, "judge template")
    judge_templates = {k: v for k, v in judge_templates.items() if v != DEFAULT_JUDGE_TEMPLATE[k]}
    return Card(
        name=name,  # type: ignore[arg-type]
        version=_str(raw["version"], at / "version"),  # type: ignore[arg-type]
        description=" ".join((_str(raw.get("description"), at / "description", optional=True) or "").split()),
        source=_source(raw["source"], at / "source", name),  # type: ignore[arg-type]
        configurations=configurations, loader=loader, fields=fields, metadata_fields=meta,  # type: ignore[arg-type]
        label=label, groups=groups, metrics=metrics, judge_templates=judge_templates,
        options=_mapping(raw.get("options"), at / "options"), size=_int(raw.get("size"), at / "size"),
        homepage=_str(raw.get("homepage"), at / "homepage", optional=True) or "",
        citation=_str(raw.get("citation"), at / "citation", optional=True) or "",
        path=path,
    )


def read_card_data(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML mapping of a card file with `include:` (a card file relative to this one) merged in."""
    import yaml

    path = path.resolve()
    if path in _seen:
        raise CardError(f"card file {path}", f"include cycle: {' -> '.join(str(p) for p in (*_seen, path))}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CardError(f"card file {path}", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CardError(f"card file {path}", "expected a YAML mapping at the top level")
    include = data.pop("include", None)
    if include is None:
        return data
    if not isinstance(include, str):
        raise CardError(f"card file {path}", "include: expected the path of another card file")
    base_path = (path.parent / include)
    if not base_path.is_file():
        raise CardError(f"card file {path}", f"include: no such card file {base_path}")
    return deep_merge(read_card_data(base_path, (*_seen, path)), data)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` wins; nested mappings merge."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_card(path: Path) -> Card:
    return parse_card(read_card_data(path), path=path)
