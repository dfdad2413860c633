"""Jinja templates in cards (`fields.text: {template: ...}`): sandboxed, strict about undefined names.

A template sees every column whose name is an identifier as a variable, and the whole row as `doc` (for
column names with spaces: `doc['task type']`). Names used in a template are checked against the data's
columns before any row is rendered, so a misspelt column fails with the field and the column named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROW_NAME = "doc"


class TemplateError(ValueError):
    pass


class Templates:
    """A sandboxed Jinja environment with compiled templates cached per instance (one per load)."""

    def __init__(self) -> None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self._env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True,
                                                  lstrip_blocks=True, keep_trailing_newline=False)
        self._compiled: dict[str, Any] = {}

    def compile(self, source: str) -> Any:
        from jinja2 import TemplateSyntaxError

        if source not in self._compiled:
            try:
                self._compiled[source] = self._env.from_string(source)
            except TemplateSyntaxError as exc:
                raise TemplateError(f"line {exc.lineno}: {exc.message}") from None
        return self._compiled[source]

    def names(self, source: str) -> frozenset[str]:
        """Top-level variable names a template uses (without `doc`)."""
        from jinja2 import meta

        self.compile(source)
        found = meta.find_undeclared_variables(self._env.parse(source))
        return frozenset(n for n in found if n != ROW_NAME)

    def render(self, source: str, row: Mapping[str, Any]) -> str:
        from jinja2 import UndefinedError

        template = self.compile(source)
        context = {k: v for k, v in row.items() if k.isidentifier()}
        context[ROW_NAME] = dict(row)
        try:
            return template.render(context).strip()
        except UndefinedError as exc:
            raise TemplateError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - errors inside the template, e.g. `.index` of a missing value
            raise TemplateError(f"{type(exc).__name__}: {exc}") from None
