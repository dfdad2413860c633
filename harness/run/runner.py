"""`harness run`: samples -> (defended) model -> stored generations -> judge -> summary.

Order of work, chosen so bad input fails before anything expensive: resolve names (unknown names suggest the
closest ones), load and select samples, check every media file, take the run lock, and only then load the model,
and only if some sample still lacks a generation.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.provenance import git_revision, harness_version
from harness.records import Generation, GenerationConfig, RunSpec, Sample, TaskRef
from harness.run.registries import Registries
from harness.run.wiring import backend_name, defense_class, defense_context, make_backend, task_instance
from harness.run.zoo import resolve_model, weights_fingerprint
from harness.store import RunStore
from harness.summary import format_table, summarise
from tasks.base import TaskContext, TaskSelector, check_configs, select


class MediaProblemsError(RuntimeError):
    """Some samples reference media that are missing or do not decode; raised before any model loads."""

    def __init__(self, problems: Sequence[str], shown: int = 20) -> None:
        self.problems = list(problems)
        head = "\n".join(f"  - {p}" for p in self.problems[:shown])
        more = f"\n  ... and {len(self.problems) - shown} more" if len(self.problems) > shown else ""
        super().__init__(f"{len(self.problems)} media problem(s) found before loading any model:\n{head}{more}")


@dataclass
class RunOptions:
    runs_dir: Path
    cache_dir: Path
    data_root: Path | None = None
    batch_size: int = 8
    device: str = "cpu"
    show_progress: bool = True
    judge_batch_size: int = 0  # items per judge.score call; 0 = the judge's preferred size, else 64
    check_media: bool = True
    echo: Callable[[str], None] = print


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    summary: dict[str, Any]
    n_cached: int
    n_new: int
    notes: list[str] = field(default_factory=list)


# -- building the spec -------------------------------------------------------------------------------------
def build_spec(
    registries: Registries,
    task_context: TaskContext,
    *,
    model: str,
    tasks: Sequence[TaskSelector],
    backend: str | None = None,
    defense: str = "none",
    defense_params: dict[str, Any] | None = None,
    judge: str = "keyword",
    judge_params: dict[str, Any] | None = None,
    utility: Sequence[str] = (),
    limit: int | None = None,
    seed: int = 0,
    generation: GenerationConfig | None = None,
    dtype: str = "float32",
    model_revision: str | None = None,
    system_prompt: str | None = None,
) -> RunSpec:
    """Validate every name and parameter (cheaply, without loading a model) and return the RunSpec."""
    resolved = resolve_model(model, task_context.cache_dir, build=False)
    backend = backend_name(registries, model, resolved, backend)
    registries.backends.entry(backend)
    refs: list[TaskRef] = []
    for sel in tasks:
        task_cls = registries.tasks.get(sel.name)
        check_configs(task_cls(task_context), sel.configs)
        refs.append(TaskRef(sel.name, str(task_cls.version), tuple(sel.configs)))
    dcls = defense_class(registries, defense)
    dcls.parse_params(defense_params or {})  # unknown parameters fail here, before any work
    if utility:
        import importlib.util

        if importlib.util.find_spec("lm_eval") is None:
            raise ValueError("--utility runs lm-eval tasks, and lm-eval is not installed: "
                             "pip install 'omni-safety-harness[lm-eval]'")
    registries.judges.get(judge)(**(judge_params or {}))
    return RunSpec(
        model=model, model_revision=model_revision, backend=backend, dtype=dtype, defense=defense,
        defense_params=dict(defense_params or {}), tasks=tuple(refs),
        generation=generation or GenerationConfig(), limit=limit, seed=seed, system_prompt=system_prompt,
        judge=judge, judge_params=dict(judge_params or {}), utility=tuple(utility),
        defense_version=str(getattr(dcls, "version", "1")),
        model_fingerprint=weights_fingerprint(model, resolved.path),
    )


def runs_of_other_weights(runs_dir: Path, spec: RunSpec) -> list[Path]:
    """Run folders of the same spec but for the model folder's fingerprint (the model retrained at its path)."""
    if spec.model_fingerprint is None or not runs_dir.is_dir():
        return []
    from harness.files import read_json

    same = replace(spec, model_fingerprint=None).identity()
    found = []
    for path in sorted(runs_dir.glob(spec.run_id.rsplit("__", 1)[0] + "__*/spec.json")):
        try:
            other = RunSpec.from_dict(read_json(path))
        except (ValueError, KeyError, TypeError):
            continue  # a damaged folder is reported when that run is used, not here
        if other.model_fingerprint not in (None, spec.model_fingerprint) and \
                replace(other, model_fingerprint=None).identity() == same:
            found.append(path.parent)
    return found


# -- samples -----------------------------------------------------------------------------------------------
def load_samples(spec: RunSpec, registries: Registries, context: TaskContext) -> list[Sample]:
    samples: list[Sample] = []
    for ref in spec.tasks:
        task = task_instance(registries, ref.name, context)
        if str(task.version) != ref.version:
            raise ValueError(f"task {ref.name} is version {task.version}, the run spec says {ref.version}")
        samples.extend(task.load(ref.configs))
    samples = select(samples, spec.limit, spec.seed)
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise ValueError(f"duplicate sample id {s.id!r} (task {s.task})")
        seen.add(s.id)
    return samples


def media_problems(samples: Sequence[Sample]) -> list[str]:
    """Every missing or undecodable medium (each distinct file checked once), unknown judge templates and
    duplicate ids: the same pre-flight check as `harness tasks check`."""
    from harness.media_io import validate_media
    from tasks.check import sample_problems

    return sample_problems(samples, validate_media)[0]


# -- the run -----------------------------------------------------------------------------------------------
def execute(spec: RunSpec, options: RunOptions, registries: Registries, *, backend: Any = None) -> RunResult:
    """One run in this process; `backend`: an already loaded model to use (the sweep loads each model once)."""
    echo = options.echo
    RunStore(options.runs_dir, spec.run_id).check_unlocked()  # a second process on this run stops before pre-flight
    context = TaskContext(cache_dir=options.cache_dir, data_root=options.data_root)
    samples = load_samples(spec, registries, context)
    if options.check_media:
        problems = media_problems(samples)
        if problems:
            raise MediaProblemsError(problems)
    resolved = resolve_model(spec.model, options.cache_dir, build=False)
    notes = list(resolved.notes)

    with RunStore(options.runs_dir, spec.run_id).open(spec) as store:
        store.write_samples(samples)
        done = store.generations()
        pending = [s for s in samples if s.id not in done]
        n_cached = len(samples) - len(pending)
        echo(f"run {spec.run_id}: {len(samples)} samples, {n_cached} cached, {len(pending)} new")
        if not n_cached:
            for other in runs_of_other_weights(options.runs_dir, spec):
                echo(f"note: {other} holds a run of {spec.model} with other weights (fingerprint "
                     f"{spec.model_fingerprint} now); it is kept, this run starts afresh")

        utility_todo, utility_manager = _utility_plan(spec, store.dir)  # lm-eval task names checked before loading
        timing: dict[str, Any] = {}
        backend = defense = None
        if pending:
            backend, defense, timing = generate_pending(spec, options, registries, context, store, pending, samples,
                                                        backend=backend)
            store.write_json("run_info.json", run_info_record(spec, options, backend, defense, timing,
                                                              store.read_json("run_info.json")))
            if defense.status:
                notes.append(f"defense {spec.defense} is {defense.status}")
        else:
            info = store.read_json("run_info.json") or {}
            status = (info.get("defense") or {}).get("status")
            if status:
                notes.append(f"defense {spec.defense} is {status}")

        summary = finish_run(store, spec, samples, registries, options, notes, backend=backend, defense=defense,
                             utility=(utility_todo, utility_manager))
    return RunResult(spec.run_id, store.dir, summary, n_cached, len(pending), notes)


def finish_run(store: RunStore, spec: RunSpec, samples: Sequence[Sample], registries: Registries,
               options: RunOptions, notes: Sequence[str], *, backend: Any = None, defense: Any = None,
               utility: tuple[list[str], Any] | None = None) -> dict[str, Any]:
    """Run the `--utility` lm-eval tasks still to do (with the loaded model and defense, else loading them), judge
    what lacks a verdict, write and show the summary: the end of every run, however it was generated."""
    todo, manager = utility if utility is not None else _utility_plan(spec, store.dir)
    if todo:
        from harness.run.lm_eval import run_utility

        run_utility(spec, options, registries, store.dir, todo, manager, samples, backend, defense)
    judge = registries.judges.get(spec.judge)(**spec.judge_params)
    try:
        score_run(store, samples, judge, options)
    finally:
        judge.close()
    summary = write_summary(store, spec, samples, default_judge=judge.id, judges={judge.id: judge.describe()},
                            notes=notes)
    for note in summary.get("notes") or notes:  # the summary adds e.g. a benign/harmful imbalance
        options.echo(f"NOTE: {note}")
    options.echo(format_table(summary))
    if summary.get("utility"):
        from harness.utility import format_utility

        options.echo(format_utility(summary["utility"]))
    options.echo(f"results: {store.dir}")
    return summary


def record_batch(store: Any, spec: RunSpec, batch: Sequence[Sample], outputs: Sequence[Any], seconds: float) -> None:
    """Append one generated batch to `store` (the run store, or a rank's shard file), each answer with its share of
    the batch's time; a defense that returns the wrong number of answers stops the run."""
    if len(outputs) != len(batch):
        raise RuntimeError(f"defense {spec.defense} returned {len(outputs)} outputs for {len(batch)} samples")
    store.append_generations(
        Generation(sample_id=s.id, task=s.task, config=s.config, label=s.label, modality=s.modality,
                   response=o.text, n_prompt_tokens=o.n_prompt_tokens, n_new_tokens=o.n_new_tokens,
                   defense_info=o.info, seconds=seconds / len(batch), batch_size=len(batch))
        for s, o in zip(batch, outputs))


def generate_pending(spec: RunSpec, options: RunOptions, registries: Registries, context: TaskContext,
                     store: Any, pending: Sequence[Sample], samples: Sequence[Sample], *, backend: Any = None,
                     after_setup: Callable[[], None] | None = None):
    """Load (unless given), set the defense up, then generate `pending` into `store` (anything with the run
    store's `append_generations`, e.g. a rank's shard file). `after_setup` runs once the defense is set up."""
    load_s = 0.0
    if backend is None:
        backend = make_backend(registries, spec.model, options.cache_dir, backend=spec.backend,
                               revision=spec.model_revision, dtype=spec.dtype, device=options.device,
                               system_prompt=spec.system_prompt)
        t0 = time.perf_counter()
        backend.load()
        load_s = time.perf_counter() - t0

    defense = defense_class(registries, spec.defense)(**spec.defense_params)
    t0 = time.perf_counter()
    defense.setup(backend, defense_context(registries, spec.model, context, seed=spec.seed,
                                           show_progress=options.show_progress, evaluation_samples=samples))
    setup_s = time.perf_counter() - t0
    if after_setup is not None:
        after_setup()

    from tqdm import tqdm

    ordered = sorted(pending, key=lambda s: (s.modality, len(s.text), s.id))  # similar lengths pad less
    gen_s = 0.0
    with tqdm(total=len(ordered), unit="sample", disable=not options.show_progress, file=sys.stderr,
              desc="generating", dynamic_ncols=True) as bar:
        for start in range(0, len(ordered), options.batch_size):
            batch = ordered[start:start + options.batch_size]
            t0 = time.perf_counter()
            outputs = defense.generate(backend, batch, spec.generation)
            dt = time.perf_counter() - t0
            gen_s += dt
            record_batch(store, spec, batch, outputs, dt)
            bar.update(len(batch))
    timing = {"load_s": load_s, "setup_s": setup_s, "generate_s": gen_s, "generated": len(ordered),
              "samples_per_s": len(ordered) / gen_s if gen_s else None, "batch_size": options.batch_size,
              "device": options.device}
    return backend, defense, timing


def _utility_plan(spec: RunSpec, run_dir: Path) -> tuple[list[str], Any]:
    """The lm-eval tasks of `--utility` still to run, and lm-eval's task manager for them (None: nothing to do)."""
    if not spec.utility:
        return [], None
    from harness.run.lm_eval_utility import pending, task_manager

    todo = pending(run_dir, spec.utility)
    return todo, task_manager(todo) if todo else None


def score_run(store: RunStore, samples: Sequence[Sample], judge: Any, options: RunOptions) -> int:
    """Judge every generated sample that has no verdict from this judge yet; returns how many were judged."""
    from judges.base import JudgeItem
    from judges.usage import record_session

    judge.use_cache_dir(options.cache_dir)
    generations = store.generations()
    have = store.verdicts(judge.id).get(judge.id, {})
    todo = [JudgeItem(s, generations[s.id]) for s in samples if s.id in generations and s.id not in have]
    batch = options.judge_batch_size or judge.preferred_batch_size or 64
    before = judge.usage()
    try:
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            verdicts = judge.score(chunk)
            if len(verdicts) != len(chunk):
                raise RuntimeError(f"judge {judge.id} returned {len(verdicts)} verdicts for {len(chunk)} items")
            store.append_verdicts(verdicts)
    finally:
        if todo:  # calls, tokens and cost go to judge_usage.json, also when the judge stopped early
            record_session(store, judge.id, before, judge.usage(), items=len(todo))
    return len(todo)


def write_summary(store: RunStore, spec: RunSpec, samples: Sequence[Sample], *, default_judge: str,
                  judges: dict[str, Any], notes: Sequence[str],
                  metric_settings: dict[str, Any] | None = None) -> dict[str, Any]:
    previous = store.read_json("summary.json") or {}
    all_judges = {**(previous.get("judges") or {}), **judges}
    summary = summarise(spec, samples, store.generations(), store.verdicts(), all_judges, default_judge, notes,
                        metric_settings=_carry_settings(previous.get("metric_settings"), metric_settings))
    if spec.utility:
        from harness.utility import utility_section

        summary["utility"] = utility_section(store.dir, spec.utility)
    store.write_json("summary.json", summary)
    return summary


def _carry_settings(earlier: dict[str, Any] | None, given: dict[str, Any] | None) -> dict[str, Any]:
    """Metric settings a user chose earlier (e.g. `harness score --osb-lambda`) stay until changed again;
    defaults are not carried, so they stay labelled as defaults."""
    earlier = earlier or {}
    skip = {"notes", "defaulted", *earlier.get("defaulted", ())}
    return {**{k: v for k, v in earlier.items() if k not in skip},
            **{k: v for k, v in (given or {}).items() if v is not None}}


def run_info_record(spec: RunSpec, options: RunOptions, backend: Any, defense: Any, timing: dict[str, Any],
                    previous: dict[str, Any] | None) -> dict[str, Any]:
    versions = {"harness": harness_version(), "python": platform.python_version()}
    for mod in ("torch", "transformers", "tokenizers"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    sessions = list((previous or {}).get("sessions", []))
    sessions.append({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **timing})
    return {
        "run_id": spec.run_id,
        "backend": backend.info(),
        "defense": defense.info(),
        "versions": versions,
        "git_revision": git_revision(),
        "sessions": sessions,
    }
