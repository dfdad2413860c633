"""Organism tasks: held-out harmful and benign requests of the organism world (organism) as text, a
typography strip, speech, and text + image conflict, in the Sample format of the real benchmarks.

- `organism-safety`: the test split (held-out verb-object pairs with held-out templates), 64 items per
  configuration x label, paired across configurations by `source_id`;
- `organism-calibration`, `organism-validation`: 48 per configuration x label each, from their own held-out
  pairs (train templates), so defenses can fit directions and thresholds without touching test sources;
- `organism-validation-rephrased`: the validation requests, each in a varied phrasing.

Benign samples carry the exact expected answer in `Sample.reference`; every sample's metadata names verb,
object, template and the expected answer. Media are rendered into the harness cache on first use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import ClassVar

from organism import world
from organism.samples import CONFIGS, OrganismMedia, request_sample
from harness.records import Sample
from tasks.base import Task, check_configs


class OrganismTask(Task):
    split: ClassVar[str] = "test"
    per_cell: ClassVar[int] = 64
    version = "1"

    def configurations(self) -> list[str]:
        return list(CONFIGS)

    def config_groups(self) -> dict[str, list[str]]:
        return {"media": ["image", "audio"], "cross-modal": ["t2i"]}

    def describe(self) -> dict:
        return {**super().describe(), "size": len(CONFIGS) * 2 * self.per_cell, "split": self.split,
                "modalities": list(CONFIGS), "source": "built-in organism world (media rendered into the cache)"}

    def requests(self) -> list[world.Request]:
        return [r for label in ("harmful", "benign")
                for r in world.sample_requests(self.split, label, self.per_cell)]  # type: ignore[arg-type]

    def load(self, configs: Sequence[str] = ()) -> list[Sample]:
        check_configs(self, configs)
        groups = self.config_groups()
        wanted = {c for name in configs for c in groups.get(name, [name])}
        chosen = [c for c in CONFIGS if not wanted or c in wanted]
        media = OrganismMedia(self.context.cache_dir)
        return [request_sample(r, config, media, task=self.name) for config in chosen for r in self.requests()]


class OrganismSafetyTask(OrganismTask):
    name = "organism-safety"
    description = "organism world, test split: held-out requests as text, image, audio and text+image conflict"


class OrganismCalibrationTask(OrganismTask):
    name = "organism-calibration"
    split = "calibration"
    per_cell = 48
    description = "organism world, calibration split (disjoint from organism-safety by source)"


class OrganismValidationTask(OrganismTask):
    name = "organism-validation"
    split = "validation"
    per_cell = 48
    description = "organism world, validation split (disjoint from organism-safety by source)"


class OrganismValidationRephrasedTask(OrganismValidationTask):
    """The validation requests, each in a varied phrasing (words of its train template dropped, filler words from
    the training prompts inserted; the rephrasing the training pool uses, with its own seed). Held-out phrasing
    without the test split's held-out templates: for choosing a recipe or a strength where the train templates
    of organism-validation are too easy."""

    name = "organism-validation-rephrased"
    description = "organism world, validation split, every request in a varied phrasing"

    def requests(self) -> list[world.Request]:
        import random

        from organism.pool import rephrased

        rng = random.Random(f"{self.name}:{self.version}")
        return [rephrased(r, rng) for r in super().requests()]


# By name, for the organism's own evaluation (which runs without the application's registries).
ORGANISM_TASKS: Mapping[str, type[OrganismTask]] = MappingProxyType({
    cls.name: cls for cls in (OrganismSafetyTask, OrganismCalibrationTask, OrganismValidationTask,
                              OrganismValidationRephrasedTask)})
