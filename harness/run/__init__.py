"""The application: built-in registries, the model zoo, the wiring (model -> backend, defense context, samples), the
runner and the submission flow. Benchmarks and the CLI use the names re-exported here.

Importing this package stays cheap: the modules below import torch and the model libraries only inside functions.
"""

from harness.run.registries import BUILTIN_DEFENSES, BUILTIN_JUDGES, BUILTIN_TASKS, Registries, default_registries
from harness.run.runner import (MediaProblemsError, RunOptions, RunResult, build_spec, execute, load_samples,
                                media_problems, score_run, write_summary)
from harness.run.wiring import (backend_name, check_task_names, contract_loaders, defense_class, defense_context,
                                load_backend, make_backend, samples_loader, task_instance)
from harness.run.zoo import BUILTIN_MODELS, ModelAlias, ResolvedModel, aliases, resolve_model

__all__ = [
    "BUILTIN_DEFENSES", "BUILTIN_JUDGES", "BUILTIN_MODELS", "BUILTIN_TASKS", "MediaProblemsError", "ModelAlias",
    "Registries", "ResolvedModel", "RunOptions", "RunResult", "aliases", "backend_name", "build_spec",
    "check_task_names", "contract_loaders", "default_registries", "defense_class", "defense_context", "execute",
    "load_backend", "load_samples", "make_backend", "media_problems", "resolve_model", "samples_loader", "score_run",
    "task_instance", "write_summary",
]
