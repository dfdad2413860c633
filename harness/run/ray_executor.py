"""`--executor ray`: generation on the actors of a Ray cluster, this process (the driver) the only writer.

- One actor per GPU (`num_gpus=1`; on a CPU-only cluster one per `--ray-cpus-per-actor` CPUs) loads the model once
  and keeps it for every run of that model (the sweep hands the same actors defense after defense).
- The driver selects the samples, opens the run store (its lock; no file locks across NFS are needed, since no
  actor writes), hands out batches in the order a one-process run makes them (same batches, same answers), and
  appends each finished batch at once: a lost actor loses its batch in flight, which goes to another actor.
- Calibration happens once: the first actor sets the defense up before the others, whose setup then finds the
  artifacts in the cache (on several nodes, put `--cache-dir` on a shared filesystem, else each node calibrates).
- A lost driver loses nothing that was appended: run the same command again and it resumes like any run.

Ray is optional (`pip install 'omni-safety-harness[ray]'`); it is imported only here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.records import RunSpec, Sample
from harness.run.registries import Registries
from harness.run.runner import (MediaProblemsError, RunOptions, RunResult, finish_run, load_samples, media_problems,
                                record_batch, run_info_record)
from harness.run.zoo import resolve_model
from harness.store import RunStore
from tasks.base import TaskContext


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'omni-safety-harness[ray]' (or pip install ray)") \
            from None
    return ray


class _ModelWorker:
    """Runs inside a Ray actor: one loaded model, the defense of the current run, batches in, outputs out."""

    def __init__(self, spec: RunSpec, cache_dir: str, data_root: str | None, device: str, threads: int) -> None:
        from harness.run.registries import default_registries
        from harness.run.threads import apply_threads
        from harness.run.wiring import make_backend

        apply_threads(threads)
        self.registries = default_registries()
        self.context = TaskContext(cache_dir=Path(cache_dir), data_root=Path(data_root) if data_root else None)
        self.backend = make_backend(self.registries, spec.model, self.context.cache_dir, backend=spec.backend,
                                    revision=spec.model_revision, dtype=spec.dtype, device=device,
                                    system_prompt=spec.system_prompt)
        t0 = time.perf_counter()
        self.backend.load()
        self.load_s = time.perf_counter() - t0
        self.defense: Any = None

    def setup(self, spec: RunSpec, samples: Sequence[Sample]) -> dict[str, Any]:
        from harness.run.wiring import defense_class, defense_context

        self.defense = defense_class(self.registries, spec.defense)(**spec.defense_params)
        t0 = time.perf_counter()
        self.defense.setup(self.backend, defense_context(self.registries, spec.model, self.context, seed=spec.seed,
                                                         show_progress=False, evaluation_samples=samples))
        return {"load_s": self.load_s, "setup_s": time.perf_counter() - t0, "backend": self.backend.info(),
                "defense": self.defense.info(), "status": self.defense.status}

    def generate(self, spec: RunSpec, batch: Sequence[Sample]) -> tuple[list[Any], float]:
        t0 = time.perf_counter()
        outputs = self.defense.generate(self.backend, batch, spec.generation)
        return outputs, time.perf_counter() - t0


class _Described:
    """What `run_info_record` reads from a backend and a defense, rebuilt from an actor's answer."""

    def __init__(self, info: dict[str, Any], status: str | None = None) -> None:
        self._info, self.status = info, status

    def info(self) -> dict[str, Any]:
        return self._info


class ActorPool:
    """Actors holding one model; `run` generates one run with them (the driver writes)."""

    def __init__(self, spec: RunSpec, options: RunOptions, registries: Registries, executor: Any) -> None:
        ray = self.ray = _ray()
        if not ray.is_initialized():
            address = executor.ray_address or os.environ.get("RAY_ADDRESS") or None
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        resolve_model(spec.model, options.cache_dir)  # build a zoo model into the cache once, before the actors
        gpus = int(ray.cluster_resources().get("GPU", 0))
        per_actor = max(1, executor.ray_cpus_per_actor)
        n = executor.ray_actors or (gpus or max(1, int(ray.cluster_resources().get("CPU", 1)) // per_actor))
        remote = ray.remote(num_cpus=per_actor, num_gpus=1 if gpus else 0, max_restarts=0)(_ModelWorker)
        device = "cuda" if gpus and options.device in ("cpu", "auto", "cuda") else options.device
        self.actors = [remote.remote(spec, str(options.cache_dir), str(options.data_root or "") or None, device,
                                     per_actor) for _ in range(n)]
        self.model = spec.model
        self.registries = registries

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []

    def run(self, spec: RunSpec, options: RunOptions) -> RunResult:
        if spec.model != self.model:
            raise ValueError(f"these actors hold {self.model}, not {spec.model}")
        echo = options.echo
        context = TaskContext(cache_dir=options.cache_dir, data_root=options.data_root)
        registries = self.registries
        samples = load_samples(spec, registries, context)
        if options.check_media:
            problems = media_problems(samples)
            if problems:
                raise MediaProblemsError(problems)
        notes = list(resolve_model(spec.model, options.cache_dir, build=False).notes)
        with RunStore(options.runs_dir, spec.run_id).open(spec) as store:
            store.write_samples(samples)
            done = store.generations()
            pending = [s for s in samples if s.id not in done]
            echo(f"run {spec.run_id}: {len(samples)} samples, {len(samples) - len(pending)} cached, "
                 f"{len(pending)} new ({len(self.actors)} Ray actors)")
            if pending:
                described, timing = self._generate(spec, options, store, pending, samples)
                store.write_json("run_info.json", run_info_record(spec, options, described[0], described[1], timing,
                                                                  store.read_json("run_info.json")))
                if described[1].status:
                    notes.append(f"defense {spec.defense} is {described[1].status}")
            else:
                status = ((store.read_json("run_info.json") or {}).get("defense") or {}).get("status")
                if status:
                    notes.append(f"defense {spec.defense} is {status}")
            summary = finish_run(store, spec, samples, registries, options, notes)
        return RunResult(spec.run_id, store.dir, summary, len(samples) - len(pending), len(pending), notes)

    def _generate(self, spec: RunSpec, options: RunOptions, store: RunStore, pending: Sequence[Sample],
                  samples: Sequence[Sample]) -> tuple[tuple[_Described, _Described], dict[str, Any]]:
        ray = self.ray
        first = ray.get(self.actors[0].setup.remote(spec, samples))  # calibrates; artifacts land in the cache
        setups = ray.get([a.setup.remote(spec, samples) for a in self.actors[1:]])
        ordered = sorted(pending, key=lambda s: (s.modality, len(s.text), s.id))  # as a one-process run
        todo = [ordered[i:i + options.batch_size] for i in range(0, len(ordered), options.batch_size)]
        todo.reverse()  # pop() from the end hands out the first batch first
        running: dict[Any, tuple[Any, list[Sample]]] = {}
        idle = list(self.actors)
        gen_s = busy_s = 0.0
        t0 = time.perf_counter()
        while todo or running:
            while todo and idle:
                actor, batch = idle.pop(0), todo.pop()
                running[actor.generate.remote(spec, batch)] = (actor, batch)
            ready, _ = ray.wait(list(running), num_returns=1)
            actor, batch = running.pop(ready[0])
            try:
                outputs, dt = ray.get(ready[0])
            except ray.exceptions.RayActorError:  # a lost actor: its batch goes back to the queue
                self.actors.remove(actor)
                todo.append(batch)
                if not self.actors:
                    raise RuntimeError("every Ray actor was lost; the finished batches are saved, run the same "
                                       "command again to resume") from None
                options.echo(f"a Ray actor was lost; {len(self.actors)} left, its batch is handed out again")
                continue
            record_batch(store, spec, batch, outputs, dt)
            busy_s += dt
            idle.append(actor)
        gen_s = time.perf_counter() - t0
        timing = {"load_s": first["load_s"], "setup_s": first["setup_s"], "generate_s": gen_s,
                  "generated": len(ordered), "samples_per_s": len(ordered) / gen_s if gen_s else None,
                  "batch_size": options.batch_size, "device": options.device, "executor": "ray",
                  "actors": 1 + len(setups), "actor_busy_s": busy_s}
        return (_Described(first["backend"]), _Described(first["defense"], first["status"])), timing


def execute_ray(spec: RunSpec, options: RunOptions, registries: Registries, executor: Any) -> RunResult:
    pool = ActorPool(spec, options, registries, executor)
    try:
        return pool.run(spec, options)
    finally:
        pool.close()
