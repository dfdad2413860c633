import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

from defenses.base import Defense, NoDefense
from harness.run.registries import KINDS, default_registries
from harness.registry import Registry, UnknownNameError


def test_builtin_lookup_is_lazy_and_resolves():
    reg = default_registries()
    assert "none" in reg.defenses.names()
    assert reg.defenses.get("none") is NoDefense
    assert reg.defenses.origin("none") == "builtin"
    assert set(KINDS) == {"tasks", "defenses", "judges", "backends"}


def test_unknown_name_suggests_closest():
    reg = default_registries()
    with pytest.raises(UnknownNameError) as err:
        reg.judges.get("keywrd")
    assert "Did you mean 'keyword'" in str(err.value)
    with pytest.raises(UnknownNameError) as err:
        reg.of("defences")
    assert "'defenses'" in str(err.value)


def test_registry_rejects_duplicates_and_wrong_base():
    reg: Registry = Registry("defense", base=Defense)
    reg.register("x", NoDefense)
    with pytest.raises(ValueError):
        reg.register("x", NoDefense)
    reg.register("bad", "harness.records:Sample")
    with pytest.raises(TypeError, match="not a subclass of Defense"):
        reg.get("bad")


def test_plugin_registered_through_entry_point_of_installed_package(tmp_path, monkeypatch):
    """A real package with an entry point in group harness.defenses, installed with pip into a target dir."""
    src = tmp_path / "src"
    (src / "my_plugin_defense").mkdir(parents=True)
    (src / "my_plugin_defense" / "__init__.py").write_text(textwrap.dedent('''
        from defenses.base import Defense

        class ShoutDefense(Defense):
            """Upper-cases nothing; exists to be found."""
            name = "shout"
    '''))
    (src / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "my-plugin-defense"
        version = "0.1"
        [project.entry-points."harness.defenses"]
        shout = "my_plugin_defense:ShoutDefense"
        [tool.setuptools]
        packages = ["my_plugin_defense"]
    '''))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(src)], check=True, capture_output=True)
    monkeypatch.syspath_prepend(str(target))
    metadata.entry_points.cache_clear() if hasattr(metadata.entry_points, "cache_clear") else None
    reg = default_registries()
    assert "shout" in reg.defenses.names()
    assert reg.defenses.origin("shout") == "entry-point:my-plugin-defense"
    cls = reg.defenses.get("shout")
    assert cls.__name__ == "ShoutDefense" and issubclass(cls, Defense)
