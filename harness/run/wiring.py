"""The one place that wires the parts together: a model name -> its backend, a defense name -> its class, a task
selector -> samples, and the `DefenseContext` a defense gets. `harness run`, `harness calibrate`, `harness train`,
`harness check-defense`, `harness submit` and the benchmarks all come through here, so a defense calibrated by one
finds its artifacts when another runs it (same cache location, same model name)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.registry import import_object
from harness.run.zoo import ResolvedModel, resolve_model

if TYPE_CHECKING:
    from defenses.base import DefenseContext
    from harness.backends.base import ModelBackend
    from harness.records import Sample
    from harness.run.registries import Registries
    from tasks.base import Task, TaskContext


# -- models ------------------------------------------------------------------------------------------------
def backend_name(registries: Registries, model: str, resolved: ResolvedModel, backend: str | None = None) -> str:
    """The backend that serves `model`: the one asked for, else the one detected from the model."""
    name = backend or resolved.backend
    if name is None:
        raise ValueError(f"cannot tell which backend serves {model!r}; pass --backend "
                         f"({', '.join(registries.backends.names())})")
    return name


def make_backend(registries: Registries, model: str, cache_dir: Path, *, backend: str | None = None,
                 revision: str | None = None, dtype: str = "float32", device: str = "cpu",
                 system_prompt: str | None = None) -> ModelBackend:
    """The (not yet loaded) backend for a model alias, hub id or directory; aliases are built into the cache."""
    resolved = resolve_model(model, cache_dir)
    cls = registries.backends.get(backend_name(registries, model, resolved, backend))
    return cls(resolved.path, revision=revision, dtype=dtype, device=device, system_prompt=system_prompt)


def load_backend(registries: Registries, model: str, cache_dir: Path, **options: str | None) -> ModelBackend:
    """`make_backend`, loaded."""
    instance = make_backend(registries, model, cache_dir, **options)  # type: ignore[arg-type]
    instance.load()
    return instance


# -- defenses ----------------------------------------------------------------------------------------------
def defense_class(registries: Registries, name: str) -> type:
    """A registered defense name, or `module:Class` for a defense that is not registered (e.g. in development)."""
    if ":" in name:
        from defenses.base import Defense

        cls = import_object(name)
        if not (isinstance(cls, type) and issubclass(cls, Defense)):
            raise TypeError(f"{name} is not a subclass of defenses.base.Defense")
        return cls
    return registries.defenses.get(name)


def defense_context(registries: Registries, model: str, task_context: TaskContext, *, seed: int = 0,
                    show_progress: bool = True, evaluation_samples: Sequence[Sample] = ()) -> DefenseContext:
    """What a defense gets at setup: its cache under `<cache>/defenses`, the task registry as a sample loader, the
    samples to stay disjoint from, and the keyword judge's refusal test (so no defense imports a judge)."""
    from defenses.base import DefenseContext
    from judges.keyword import refusal_flags

    return DefenseContext(cache_dir=task_context.cache_dir / "defenses", model_name=model, seed=seed,
                          load_samples=samples_loader(registries, task_context), show_progress=show_progress,
                          evaluation_samples=evaluation_samples, refusals=refusal_flags)


# -- tasks -------------------------------------------------------------------------------------------------
def task_instance(registries: Registries, name: str, context: TaskContext) -> Task:
    return registries.tasks.get(name)(context)


def check_task_names(registries: Registries, *selectors: str | None) -> None:
    """Every task named in the comma-separated selectors is registered (else UnknownNameError with the closest
    names): what commands check before they load a model."""
    from tasks.base import parse_task_list

    for text in selectors:
        for sel in parse_task_list(text or ""):
            registries.tasks.entry(sel.name)


def samples_loader(registries: Registries, context: TaskContext) -> Callable[[str], list[Sample]]:
    """For defenses: a task selector string -> all its samples (no limit)."""
    from tasks.base import TaskSelector

    def load(selector: str) -> list[Sample]:
        sel = TaskSelector.parse(selector)
        return task_instance(registries, sel.name, context).load(sel.configs)

    return load


def contract_loaders(registries: Registries, task_context: TaskContext, *, backend: str | None = None,
                     revision: str | None = None, dtype: str = "float32", device: str = "cpu",
                     system_prompt: str | None = None,
                     ) -> tuple[Callable[[str], ModelBackend], Callable[[str], DefenseContext]]:
    """model name -> loaded backend, and model name -> defense context: what `defenses.contract.check_defense`
    needs, resolved as `harness run` resolves them (shared by `harness check-defense` and `harness submit`)."""
    def backend_for(model: str) -> ModelBackend:
        return load_backend(registries, model, task_context.cache_dir, backend=backend, revision=revision,
                            dtype=dtype, device=device, system_prompt=system_prompt)

    def context_for(model: str) -> DefenseContext:
        return defense_context(registries, model, task_context, show_progress=False)

    return backend_for, context_for
