"""Helpers shared by the defense subcommands and scripts: model options, loading a backend by model name, a
`DefenseContext` wired to the task registry, and `key=value` defense parameters."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from defenses.base import DefenseContext
    from harness.backends.base import ModelBackend
    from harness.registries import Registries


def add_model_options(p: argparse.ArgumentParser, *, repeat: bool = False, default: str | None = None) -> None:
    from harness import config

    if repeat:
        p.add_argument("--model", action="append", default=None,
                       help="model alias, hub id or local directory (repeatable)")
    else:
        p.add_argument("--model", default=default or config.DEFAULT_MODEL,
                       help="model alias, hub id or local directory")
    p.add_argument("--backend", default=None, help="model backend (default: detected from the model config)")
    p.add_argument("--revision", default=None, help="hub revision of the model")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "auto"])
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto")
    p.add_argument("--system-prompt", default=None, help="override the model's official system prompt")
    p.add_argument("--cache-dir", default=None, help=f"cache directory (default: ${config.CACHE_ENV} or ~/.cache)")
    p.add_argument("--data-root", default=None, help=f"root for benchmark data (default: ${config.DATA_ENV})")


def add_param_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--param", "--defense-param", dest="param", action="append", metavar="KEY=VALUE",
                   help="defense parameter, value parsed as YAML (repeatable)")
    p.add_argument("--config", "--defense-config", dest="config", metavar="YAML",
                   help="defense parameters from a YAML mapping")


def parse_params(pairs: Sequence[str] | None, file: str | Path | None = None) -> dict[str, Any]:
    """Parameters from a YAML mapping file, then `key=value` pairs (values parsed as YAML scalars / lists)."""
    from harness.cli import _params

    return _params(pairs, str(file) if file else None, "defense")


def load_backend(registries: Registries, model: str, cache_dir: Path, *, backend: str | None = None,
                 revision: str | None = None, dtype: str = "float32", device: str = "cpu",
                 system_prompt: str | None = None) -> ModelBackend:
    """The loaded backend for a model alias, hub id or directory (aliases are built into the cache first)."""
    from harness.zoo import resolve_model

    resolved = resolve_model(model, cache_dir)
    name = backend or resolved.backend
    if name is None:
        raise ValueError(f"cannot tell which backend serves {model!r}; pass --backend "
                         f"({', '.join(registries.backends.names())})")
    instance = registries.backends.get(name)(resolved.path, revision=revision, dtype=dtype, device=device,
                                             system_prompt=system_prompt)
    instance.load()
    return instance


def defense_context(registries: Registries, model: str, cache_dir: Path, *, data_root: Path | None = None,
                    seed: int = 0, show_progress: bool = True, evaluation_samples: Sequence = ()) -> DefenseContext:
    """The context `harness run` would give a defense (same cache location, so artifacts are shared)."""
    from defenses.base import DefenseContext
    from harness.runner import resolve_samples_loader
    from tasks.base import TaskContext

    loader = resolve_samples_loader(registries, TaskContext(cache_dir=cache_dir, data_root=data_root))
    return DefenseContext(cache_dir=cache_dir / "defenses", model_name=model, seed=seed, load_samples=loader,
                          evaluation_samples=tuple(evaluation_samples), show_progress=show_progress)


def contract_loaders(registries: Registries, cache_dir: Path, *, data_root: Path | None = None,
                     backend: str | None = None, revision: str | None = None, dtype: str = "float32",
                     device: str = "cpu", system_prompt: str | None = None,
                     ) -> tuple[Callable[[str], ModelBackend], Callable[[str], DefenseContext]]:
    """model name -> loaded backend, and model name -> defense context: what `defenses.contract.check_defense`
    needs, resolved the way `harness run` resolves them (shared by `harness check-defense` and `harness submit`)."""
    def backend_for(model: str) -> ModelBackend:
        return load_backend(registries, model, cache_dir, backend=backend, revision=revision, dtype=dtype,
                            device=device, system_prompt=system_prompt)

    def context_for(model: str) -> DefenseContext:
        return defense_context(registries, model, cache_dir, data_root=data_root, show_progress=False)

    return backend_for, context_for
