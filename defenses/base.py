"""The defense contract.

A defense may
  (i)   calibrate once per model (`setup`), caching artifacts under `context.cache_dir` keyed by model and data;
  (ii)  install activation hooks for the duration of a generate call (`hooks`);
  (iii) act per batch before generation, e.g. a probe pass that fills `batch.extras` (`before_generate`);
  (iv)  rewrite the prompt (`rewrite`), or answer some rows itself without generating (override `generate`).
The runner only ever calls `setup` once and `generate` per batch, so ReGap (probe + per-row strength + KV-cache
reuse) and OmniSteer (adapter hooks on every forward) fit without runner changes.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness.backends.base import GenerationOutput, LayerHook, ModelBackend, PreparedBatch
from harness.records import GenerationConfig, Sample, content_hash
from harness.registry import UnknownNameError


@dataclass
class DefenseContext:
    """What the runner gives a defense at setup time."""

    cache_dir: Path
    model_name: str = ""  # the model as the user named it (alias, hub id or path), for manifests and messages
    seed: int = 0
    # Resolves a task selector such as "organism-safety:calibration" to samples, so calibration data comes
    # through the task registry like everything else.
    load_samples: Callable[[str], list[Sample]] | None = None
    # The samples this run will evaluate, so calibration data can be checked to be disjoint from them
    # (by source_id and content; docs/reference.md, defect D17).
    evaluation_samples: Sequence[Sample] = ()
    show_progress: bool = True
    # Which answers are refusals: (samples, responses) -> one flag per row. The application passes the keyword
    # judge's test, so a defense that must count refusals (ReGap's grid search) never imports a judge.
    refusals: Callable[[Sequence[Sample], Sequence[str]], list[bool]] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class NoParams:
    """Parameters of a defense that takes none."""


class Defense(abc.ABC):
    """Base class of defenses; the baseline `none` is this class with nothing overridden."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Part of a run's identity (as a task's card version): raised when the defense's answers change for the same
    # parameters (a preset or a default trained differently), so that earlier run folders are not reused.
    version: ClassVar[str] = "1"
    # Shown next to results, e.g. "reconstructed" for ReGap (docs/reference.md, ReGap §0).
    status: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    # The parameter naming the calibration data (a task selector); `harness calibrate --data SEL` sets it.
    # None: the defense takes no user-chosen calibration data.
    calibration_param: ClassVar[str | None] = None
    # Whether rewrite + before_generate + hooks (the default flow of `generate`) reproduce this defense's answers,
    # so a given continuation can be scored under it (lm-eval's log-likelihood requests). None: exactly when
    # `generate` is not overridden. A defense that answers rows itself (a guard's fixed reply) cannot be scored.
    scores_with_default_flow: ClassVar[bool | None] = None

    def __init__(self, **params: Any) -> None:
        self.params = self.parse_params(params)

    @classmethod
    def parse_params(cls, params: Mapping[str, Any]) -> Any:
        """Build the `Params` dataclass, refusing unknown keys with the closest known ones."""
        known = {f.name: f for f in dataclasses.fields(cls.Params)}
        for key in params:
            if key not in known:
                raise UnknownNameError(f"parameter of defense {cls.name!r}", key, sorted(known))
        check_param_types(cls.Params, params, f"defense {cls.name or cls.__name__}")
        try:
            return cls.Params(**params)
        except TypeError as exc:  # a Params whose __post_init__ chokes on a value of the wrong kind
            raise ValueError(f"defense {cls.name or cls.__name__}: {exc}") from None

    def param_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.params)

    # -- (i) calibration -----------------------------------------------------------------------------------
    def setup(self, backend: ModelBackend, context: DefenseContext) -> None:
        """Calibrate or load cached artifacts for `backend`'s model. Called once before the first batch."""

    # -- (iv) prompt rewriting -----------------------------------------------------------------------------
    def rewrite(self, sample: Sample) -> Sample:
        """Return the sample as the model should see it (same id). Default: unchanged."""
        return sample

    # -- (iii) per-batch work before generation ------------------------------------------------------------
    def before_generate(self, backend: ModelBackend, batch: PreparedBatch) -> None:
        """Probe passes and per-row decisions; store what hooks need in `batch.extras`."""

    # -- (ii) activation hooks -----------------------------------------------------------------------------
    def hooks(self, backend: ModelBackend, batch: PreparedBatch) -> Mapping[int, LayerHook | Sequence[LayerHook]]:
        """Hooks to install (layer index -> hook) while this batch is generated. Default: none."""
        return {}

    def row_info(self, batch: PreparedBatch, row: int) -> dict[str, Any]:
        """Per-row facts recorded in `Generation.defense_info`. Default: nothing."""
        return {}

    def generate(self, backend: ModelBackend, samples: Sequence[Sample], config: GenerationConfig) -> list[GenerationOutput]:
        """Generate defended answers for one batch. Override only when the default flow does not fit."""
        batch = backend.prepare([self.rewrite(s) for s in samples])
        self.before_generate(backend, batch)
        with backend.layer_hooks(self.hooks(backend, batch)):
            outputs = backend.generate(batch, config)
        for i, out in enumerate(outputs):
            out.info.update(self.row_info(batch, i))
        return outputs

    # -- provenance ----------------------------------------------------------------------------------------
    def artifacts(self) -> dict[str, str]:
        """Calibration artifacts in use after `setup` (name -> directory); `harness calibrate` prints them."""
        return {}

    def info(self) -> dict[str, Any]:
        """Recorded in the run: name, status, parameters, source hash and (after setup) artifact hashes."""
        return {
            "name": self.name,
            "status": self.status,
            "params": self.param_dict(),
            "source_hash": source_hash(type(self)),
        }


def loglikelihood_problem(cls: type[Defense]) -> str | None:
    """Why `cls` cannot be scored by log-likelihood, or None when it can (see `scores_with_default_flow`)."""
    declared = getattr(cls, "scores_with_default_flow", None)
    faithful = declared if declared is not None else getattr(cls, "generate", None) is Defense.generate
    if faithful:
        return None
    return (f"defense {cls.name or cls.__name__!r} overrides generate() (it may answer rows itself instead of the "
            "model), so the log-likelihood of a continuation under it is not defined by the model's logits; "
            "measure its utility with generate_until tasks (exact answers) instead")


def source_hash(cls: type) -> str:
    """Hash of the defense's module source, so a submission records exactly what code ran."""
    try:
        src = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return "unknown"
    return content_hash(src)


class NoDefense(Defense):
    """The undefended baseline: the model's own answer."""

    name = "none"
    description = "no defense: the model's own answer (baseline)"


# -- parameter types ---------------------------------------------------------------------------------------------
def check_param_types(params_cls: type, given: Mapping[str, Any], what: str) -> None:
    """Refuse a parameter whose value does not fit its annotation (`layers=abc` for `list[int] | None`) with one
    line naming it, before any model loads. Annotations this check cannot read are left to the defense."""
    import typing

    try:
        hints = typing.get_type_hints(params_cls)
    except Exception:  # an annotation that does not resolve: nothing to check against
        return
    for key, value in given.items():
        hint = hints.get(key)
        if hint is not None and _fits(value, hint) is False:
            raise ValueError(f"{what}: parameter {key}={value!r} should be {_describe(hint)}")


def _fits(value: Any, hint: Any) -> bool | None:
    """True / False where the annotation is understood, None where it is not (then nothing is claimed)."""
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        verdicts = [_fits(value, a) for a in args]
        return True if any(v is True for v in verdicts) else (None if None in verdicts else False)
    if origin is typing.Literal:
        return value in args
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        inner = args[0] if args and (origin is not tuple or len(args) == 2 and args[1] is Ellipsis) else None
        if inner is None:
            return True
        verdicts = [_fits(v, inner) for v in value]
        return False if False in verdicts else (None if None in verdicts else True)
    if origin in (dict, Mapping) or hint is dict:
        return isinstance(value, Mapping)
    return None


def _describe(hint: Any) -> str:
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if hint is type(None):
        return "null"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, Sequence):
        plural = {bool: "true/false values", int: "whole numbers", float: "numbers", str: "strings"}
        return f"a list of {plural.get(args[0], _describe(args[0]))}" if args else "a list"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", dict: "a mapping"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
