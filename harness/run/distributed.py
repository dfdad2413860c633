"""Data parallel `harness run` on one node: `torchrun --nproc_per_node N -m harness run ...` (or `accelerate
launch`) starts N copies of the same command; each copy is a rank and this module splits the work between them.

- Shards are deterministic: sample `s` belongs to rank `sha256(s.id) % world`, whatever the batch size or the
  order of the task files, so a rerun with the same world size gives every rank the same samples.
- Only rank 0 opens the run store (its lock refuses a second writer). The other ranks append their generations to
  `runs/<id>/shards/generations.rank<r>.jsonl`, flushed per batch, so a killed rank loses at most its batch in flight.
- Calibration happens once: rank 0 loads the model and sets the defense up first (artifacts land in the shared
  cache), then a barrier lets the other ranks set up and find those artifacts.
- At the end rank 0 merges the shard files into the store (each sample once, under its lock), judges and writes the
  summary, exactly as a one-process run would: same spec, same run id, same summary.
- A rerun after a crash first merges whatever the shard files of the crashed attempt hold, then shards what is left.

torch.distributed (gloo, CPU tensors) is used for barriers only, so it works the same on CPU and GPU nodes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.records import Generation, RunSpec, Sample
from harness.run.registries import Registries
from harness.run.runner import (MediaProblemsError, RunOptions, RunResult, finish_run, generate_pending, load_samples,
                                media_problems, run_info_record)
from harness.store import RunStore, append_jsonl, read_jsonl
from tasks.base import TaskContext

SHARDS_DIR = "shards"
TIMEOUT_ENV = "HARNESS_DIST_TIMEOUT_S"  # how long a rank waits at a barrier for the slowest rank
DEFAULT_TIMEOUT_S = 7 * 24 * 3600  # the last barrier waits for the slowest shard of a long run


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel launch (read from the launcher's environment)."""

    rank: int
    world: int
    local_rank: int = 0
    local_world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def ranks_from_env(env: Mapping[str, str] | None = None) -> Ranks | None:
    """The launcher's ranks (torchrun and accelerate both set WORLD_SIZE / RANK / LOCAL_RANK), or None for a plain
    one-process run."""
    env = os.environ if env is None else env
    try:
        world = int(env.get("WORLD_SIZE") or 1)
        rank = int(env.get("RANK") or 0)
        local_rank = int(env.get("LOCAL_RANK") or rank)
        local_world = int(env.get("LOCAL_WORLD_SIZE") or world)
    except ValueError as exc:
        raise ValueError(f"bad launcher environment (WORLD_SIZE / RANK / LOCAL_RANK): {exc}") from None
    if world <= 1:
        return None
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is outside WORLD_SIZE={world}")
    return Ranks(rank, world, local_rank, local_world)


def shard_of(sample_id: str, world: int) -> int:
    """The rank that generates `sample_id`: stable across runs, machines and Python versions (unlike hash())."""
    return int.from_bytes(hashlib.sha256(sample_id.encode("utf-8")).digest()[:8], "big") % world


def rank_device(device: str, ranks: Ranks | None) -> str:
    """Each rank on its own GPU: `cuda` (or `auto` with CUDA present) becomes `cuda:<local rank>` (modulo the GPUs
    there are, so more ranks than GPUs share them); an explicit device string (`cpu`, `cpu:0`, `cuda:3`) is kept."""
    if ranks is None or device not in ("cuda", "auto"):
        return device
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "auto" and not count:
        return "cpu"
    return f"cuda:{ranks.local_rank % count if count else ranks.local_rank}"


def shard_path(run_dir: Path, rank: int) -> Path:
    return Path(run_dir) / SHARDS_DIR / f"generations.rank{rank}.jsonl"


class ShardWriter:
    """Where a rank's generations go: the same `append_generations` as the run store, into the rank's own file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append_generations(self, generations: Iterable[Generation]) -> None:
        append_jsonl(self.path, (g.to_dict() for g in generations))


def merge_shards(store: RunStore, samples: Sequence[Sample]) -> int:
    """Append to the store (whose lock the caller holds) every generation of the shard files that the store lacks,
    in sample order, then remove the shard files; returns how many were added. Idempotent: run it again after a
    crash between the append and the removal and nothing is added twice."""
    order = {s.id: i for i, s in enumerate(samples)}
    have = set(store.generations())
    new: dict[str, Generation] = {}
    paths = sorted((store.dir / SHARDS_DIR).glob("generations.rank*.jsonl"))
    for path in paths:
        for d in read_jsonl(path):  # a line torn by a kill is skipped
            sid = d.get("sample_id")
            if sid in order and sid not in have and sid not in new:
                new[sid] = Generation.from_dict(d)
    store.append_generations(sorted(new.values(), key=lambda g: order[g.sample_id]))
    for path in paths:  # their content is in the store now (flushed by the append above)
        path.unlink()
    if paths and not any((store.dir / SHARDS_DIR).iterdir()):
        (store.dir / SHARDS_DIR).rmdir()
    return len(new)


class ProcessGroup:
    """Barriers between the ranks (gloo, so CPU-only machines work); created once per process."""

    def __init__(self, ranks: Ranks, timeout_s: float | None = None) -> None:
        from datetime import timedelta

        import torch.distributed as dist

        self.ranks = ranks
        self._dist = dist
        self._owned = not dist.is_initialized()
        if self._owned:
            timeout_s = timeout_s or float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
            dist.init_process_group("gloo", init_method="env://", rank=ranks.rank, world_size=ranks.world,
                                    timeout=timedelta(seconds=timeout_s))

    def barrier(self) -> None:
        self._dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order (all ranks get the list)."""
        out: list[Any] = [None] * self.ranks.world
        self._dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self._owned and self._dist.is_initialized():
            self._dist.destroy_process_group()


def execute_distributed(spec: RunSpec, options: RunOptions, registries: Registries, ranks: Ranks, *,
                        group: ProcessGroup | None = None, backend: Any = None) -> RunResult | None:
    """One rank's share of `harness run`. Rank 0 returns the RunResult (the same as `execute` would), the other
    ranks None. `group` lets a caller (the sweep) reuse one process group for many runs; `backend` a loaded model."""
    own_group = group is None
    group = group or ProcessGroup(ranks)
    try:
        return _execute(spec, options, registries, ranks, group, backend)
    finally:
        if own_group:
            group.close()


def _execute(spec: RunSpec, options: RunOptions, registries: Registries, ranks: Ranks, group: ProcessGroup,
             backend: Any) -> RunResult | None:
    main = ranks.is_main
    echo: Callable[[str], None] = options.echo if main else (lambda _line: None)
    options = RunOptions(**{**vars(options), "device": rank_device(options.device, ranks), "echo": echo,
                            "show_progress": options.show_progress and main})
    context = TaskContext(cache_dir=options.cache_dir, data_root=options.data_root)
    samples = load_samples(spec, registries, context)
    if main and options.check_media:
        problems = media_problems(samples)
        if problems:
            raise MediaProblemsError(problems)  # the launcher stops the other ranks

    run_dir = Path(options.runs_dir) / spec.run_id
    store: RunStore | None = None
    try:
        if main:
            store = RunStore(options.runs_dir, spec.run_id).open(spec)
            store.write_samples(samples)
            recovered = merge_shards(store, samples)
            if recovered:
                echo(f"recovered {recovered} generation(s) from the shard files of an interrupted run")
        group.barrier()  # 1: the store holds everything any earlier attempt finished
        done = RunStore(options.runs_dir, spec.run_id).generations()  # reading needs no lock
        pending = [s for s in samples if s.id not in done]
        mine = [s for s in pending if shard_of(s.id, ranks.world) == ranks.rank]
        echo(f"run {spec.run_id}: {len(samples)} samples, {len(samples) - len(pending)} cached, "
             f"{len(pending)} new ({ranks.world} ranks)")

        defense, timing = None, None
        if pending:
            writer = ShardWriter(shard_path(run_dir, ranks.rank))
            if main:  # calibrates first, even with an empty shard, then lets the others set up
                backend, defense, timing = generate_pending(spec, options, registries, context, writer, mine, samples,
                                                            backend=backend, after_setup=group.barrier)
            else:
                group.barrier()  # 2: rank 0 has set the defense up; its artifacts are in the shared cache
                if mine:
                    _, _, timing = generate_pending(spec, options, registries, context, writer, mine, samples,
                                                    backend=backend)
        timings = group.gather(timing)  # 3: also the barrier after which every shard file is complete
        if not main:
            return None

        assert store is not None
        merged = merge_shards(store, samples)
        notes = _notes(spec, options, store, defense)
        if pending:
            store.write_json("run_info.json", run_info_record(spec, options, backend, defense, _combine(timings, ranks),
                                                              store.read_json("run_info.json")))
        if len(store.generations()) < len(samples):  # cannot happen unless a rank dropped samples
            raise RuntimeError(f"run {spec.run_id}: {len(samples) - len(store.generations())} sample(s) have no "
                               "generation after merging the shards")
        summary = finish_run(store, spec, samples, registries, options, notes)
    finally:
        if store is not None:
            store.close()
    return RunResult(spec.run_id, run_dir, summary, len(samples) - len(pending), merged, notes)


def _notes(spec: RunSpec, options: RunOptions, store: RunStore, defense: Any) -> list[str]:
    from harness.run.zoo import resolve_model

    notes = list(resolve_model(spec.model, options.cache_dir, build=False).notes)
    status = defense.status if defense is not None else ((store.read_json("run_info.json") or {})
                                                         .get("defense") or {}).get("status")
    if status:
        notes.append(f"defense {spec.defense} is {status}")
    return notes


def _combine(timings: Sequence[dict[str, Any] | None], ranks: Ranks) -> dict[str, Any]:
    """One session entry of run_info.json for all ranks: the slowest rank's wall time, the sum of samples."""
    per_rank = [t for t in timings if t]
    generated = sum(t["generated"] for t in per_rank)
    wall = max((t["generate_s"] for t in per_rank), default=0.0)
    first = per_rank[0] if per_rank else {}
    return {"load_s": first.get("load_s"), "setup_s": first.get("setup_s"), "generate_s": wall,
            "generated": generated, "samples_per_s": generated / wall if wall else None,
            "batch_size": first.get("batch_size"), "device": first.get("device"), "world_size": ranks.world,
            "ranks": list(timings)}
