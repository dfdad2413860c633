"""The four registries, built fresh for each caller (no module-level mutable state).

Built-in entries are lazy "module:Class" strings; third-party packages add entries through the entry-point
groups `harness.tasks`, `harness.defenses`, `harness.judges` and `harness.backends`. Task cards (YAML, see
tasks/manager.py) become task entries too: the built-in ones and those under `include_paths`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.backends import BUILTIN_BACKENDS as _BACKENDS
from harness.registry import KINDS, Registries, Registry

__all__ = ["BUILTIN_BACKENDS", "BUILTIN_DEFENSES", "BUILTIN_JUDGES", "BUILTIN_TASKS", "KINDS", "Registries",
           "default_registries"]

BUILTIN_TASKS = MappingProxyType({
    "smoke": "tasks.smoke:SmokeTask",
    "organism-safety": "organism.tasks:OrganismSafetyTask",
    "organism-calibration": "organism.tasks:OrganismCalibrationTask",
    "organism-validation": "organism.tasks:OrganismValidationTask",
    "organism-validation-rephrased": "organism.tasks:OrganismValidationRephrasedTask",
})
BUILTIN_DEFENSES = MappingProxyType({
    "none": "defenses.base:NoDefense",
    "regap": "defenses.regap.defense:ReGap",
    "regap-full": "defenses.regap.defense:ReGapFull",
    "regap-fixed": "defenses.regap.defense:ReGapFixed",
    "regap-tokens": "defenses.regap.defense:ReGapTokens",
    "omnisteer": "defenses.omnisteer.defense:OmniSteer",
    "refusal-steer": "defenses.refusal_steer.defense:RefusalSteer",
    "self-reminder": "defenses.self_reminder:SelfReminder",
    "adashield-s": "defenses.adashield:AdaShieldS",
    "omniguard": "defenses.omniguard.defense:OmniGuard",
})
BUILTIN_JUDGES = MappingProxyType({
    "keyword": "judges.keyword:KeywordJudge",
    "llm": "judges.llm:LLMJudge",
    "classifier": "judges.classifier:ClassifierJudge",
})
BUILTIN_BACKENDS = MappingProxyType(dict(_BACKENDS))
def default_registries(include_paths: Sequence[str | Path] = ()) -> Registries:
    """Fresh registries; tasks also get one entry per task card (built-in cards and `include_paths`)."""
    from defenses.base import Defense
    from harness.backends.base import ModelBackend
    from judges.base import Judge
    from tasks.base import Task

    def build(kind: str, singular: str, base: type, builtins: MappingProxyType) -> Registry[Any]:
        reg: Registry[Any] = Registry(singular, base=base, group=f"harness.{kind}")
        for name, target in builtins.items():
            reg.register(name, target, origin="builtin")
        return reg

    from tasks.manager import TaskManager

    tasks = build("tasks", "task", Task, BUILTIN_TASKS)
    TaskManager(include_paths).register(tasks)
    return Registries(
        tasks=tasks,
        defenses=build("defenses", "defense", Defense, BUILTIN_DEFENSES),
        judges=build("judges", "judge", Judge, BUILTIN_JUDGES),
        backends=build("backends", "backend", ModelBackend, BUILTIN_BACKENDS),
    )
