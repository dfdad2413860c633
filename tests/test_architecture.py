"""The layer rules of docs/architecture.md, checked on every module's imports (read with `ast`, nothing is run).

- arrows point down only: a unit imports only the units its layer may use (LAYERS below);
- no import circle, between modules nor between packages (function-level imports count: they only hide a loop);
- nothing imports a `_private` name (or module) from another package.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_PACKAGES = ("harness", "tasks", "judges", "defenses", "organism", "leaderboard", "benchmarks")

# Unit -> the units it may import. A module's unit is the longest prefix listed here, so `harness.run.runner`
# belongs to `harness.run`, `harness.store` to the kernel `harness`. Ordered from the ground up.
LAYERS: dict[str, set[str]] = {
    "harness": set(),  # the kernel: records, registry, store, metrics, config, backends, ...
    "tasks": {"harness"},  # plugins ...
    "judges": {"harness"},
    "defenses": {"harness", "tasks"},  # sample selection and rendering helpers; judges come through DefenseContext
    "organism": {"harness", "tasks", "judges", "defenses"},  # the toy model and its world: a plugin above the others
    "leaderboard": {"harness"},  # the viewer: reads run folders through the kernel's records; never runs a model
    "harness.run": {"harness", "tasks", "judges", "defenses", "organism", "leaderboard"},  # the application
    "benchmarks": {"harness", "tasks", "judges", "defenses", "organism", "leaderboard", "harness.run"},
    "harness.cli": {"harness", "tasks", "judges", "defenses", "organism", "leaderboard", "harness.run"},
    "harness.__main__": {"harness", "harness.cli"},  # the entry point
}


def module_files() -> dict[str, Path]:
    out = {}
    for top in TOP_PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = module_files()


def unit_of(module: str) -> str:
    best = ""
    for unit in LAYERS:
        if (module == unit or module.startswith(unit + ".")) and len(unit) > len(best):
            best = unit
    return best


def package_of(module: str) -> str:
    """The package a module lives in (a package's __init__ belongs to the package itself; the entry point
    `harness.__main__` stands apart from the kernel package it sits in)."""
    if module == "harness.__main__":
        return module
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of a project module, at any depth."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                here = here[:len(here) - (node.level - 1)]
                base = ".".join([*here, base] if base else here)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, None, node.lineno) if sub in MODULES else (base, alias.name, node.lineno))
    return [(m, n, line) for m, n, line in found if m.split(".")[0] in TOP_PACKAGES]


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        for target, _, _ in imports(module):
            while target not in MODULES and "." in target:  # `import a.b.c` of a name inside a.b
                target = target.rpartition(".")[0]
            if target in MODULES and target != module:
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    nodes = set(graph) | {w for targets in graph.values() for w in targets}
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    assert MODULES, "no modules found"
    assert not [m for m in MODULES if not unit_of(m)]


def test_arrows_point_down_only():
    wrong = []
    for module in MODULES:
        unit = unit_of(module)
        for target, _, line in imports(module):
            other = unit_of(target)
            if other and other != unit and other not in LAYERS[unit]:
                wrong.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target} ({unit} -> {other})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_module_imports_the_cli():
    wrong = [f"{m} imports {t}" for m in MODULES if unit_of(m) not in ("harness.cli", "harness.__main__")
             for t, _, _ in imports(m) if unit_of(t) == "harness.cli"]
    assert not wrong


def test_no_import_circle_between_modules():
    found = cycles(edges())
    assert not found, "import circles between modules:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_import_circle_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in edges().items():
        for target in targets:
            a, b = package_of(module), package_of(target)
            # A package using its own subpackage, or a subpackage the shared modules of its parent, is one arrow;
            # only the pair of both directions is a circle, which the search below finds.
            if a != b:
                graph[a].add(b)
    found = cycles(graph)
    assert not found, "import circles between packages:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_private_name_crosses_a_package():
    wrong = []
    for module in MODULES:
        for target, name, line in imports(module):
            private_module = any(part.startswith("_") and not part.startswith("__") for part in target.split("."))
            private_name = name is not None and name.startswith("_") and not name.startswith("__")
            if (private_module or private_name) and package_of(module) != _package_of_target(target):
                wrong.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}"
                             + (f".{name}" if name else ""))
    assert not wrong, "private names imported across packages:\n" + "\n".join(wrong)


def _package_of_target(target: str) -> str:
    while target not in MODULES and "." in target:
        target = target.rpartition(".")[0]
    return package_of(target) if target in MODULES else target


@pytest.mark.parametrize("bad, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"c"}}, []),
])
def test_the_circle_search_itself(bad, expected):
    assert cycles(bad) == expected
