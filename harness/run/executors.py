"""Where a run's generations are computed: here (one process), in the ranks of a torchrun / accelerate launch
(chosen automatically when WORLD_SIZE > 1), or on the actors of a Ray cluster (`--executor ray`)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.records import RunSpec
from harness.run.distributed import execute_distributed, ranks_from_env
from harness.run.registries import Registries
from harness.run.runner import RunOptions, RunResult, execute

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class ExecutorOptions:
    name: str = "local"  # local: this process, or its rank of a torchrun / accelerate launch
    ray_address: str | None = None  # None: $RAY_ADDRESS if set, else a local cluster
    ray_actors: int | None = None  # None: one per GPU of the cluster, else one per ray_cpus_per_actor CPUs
    ray_cpus_per_actor: int = 1

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            raise ValueError(f"--executor: unknown executor {self.name!r} (choose from {', '.join(EXECUTORS)})")
        if self.ray_actors is not None and self.ray_actors < 1:
            raise ValueError(f"--ray-actors must be >= 1, got {self.ray_actors}")


def run(spec: RunSpec, options: RunOptions, registries: Registries,
        executor: ExecutorOptions | None = None) -> RunResult | None:
    """The run on the chosen executor; None on the ranks other than 0 of a data-parallel launch."""
    executor = executor or ExecutorOptions()
    if executor.name == "ray":
        from harness.run.ray_executor import execute_ray

        return execute_ray(spec, options, registries, executor)
    ranks = ranks_from_env()
    if ranks is not None:
        return execute_distributed(spec, options, registries, ranks)
    return execute(spec, options, registries)
