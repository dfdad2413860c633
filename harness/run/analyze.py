"""`harness analyze`: the safety geometry of a model, per layer, configuration and modality (docs/analyze.md).

One pass over the samples, prefill only, through the backend's public hooks (harness/run/analysis_pass.py).
Each batch's read-outs are folded into running statistics (analysis_stats.py) and dropped, so memory does not
grow with the number of samples. The pass has two parts, fixed before it starts by a seeded hash of each
sample's source (analysis_plan.py):

1. the *fit* part: moments only; at its end the text refusal direction, the text threshold and the linear
   probes are frozen from these moments;
2. the *held-out* part: moments too, and each sample's projection on the frozen direction and the probes'
   verdicts, folded into running sums and histograms (CRS, projection distributions, probe accuracy).

Directions, norms, cosines, drift and the golden vector use the moments of all samples (analysis_geometry.py).
The analysis folder `<out>/analyses/<id>` is named by a content hash of model, samples and settings (not the
batch size); a checkpoint makes it resumable: rerunning the same command continues where it stopped, and
returns a finished analysis at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.records import Sample
from harness.run.analysis_plan import (ANALYSES_DIR, SCHEMA, STATE_FILE, AnalysisSettings, analysis_id, plan,
                                       resolve_layers)
from harness.run.registries import Registries


@dataclass
class AnalyzeOptions:
    model: str
    tasks: Sequence[Any]  # task selectors
    out: Path  # the runs folder; the analysis goes to <out>/analyses/<id>
    cache_dir: Path
    data_root: Path | None = None
    backend: str | None = None
    revision: str | None = None
    dtype: str = "float32"
    device: str = "cpu"
    system_prompt: str | None = None
    limit: int | None = None
    batch_size: int = 8
    progress: bool = True
    check_media: bool = True
    echo: Callable[[str], None] = print


@dataclass
class AnalyzeResult:
    analysis_id: str
    path: Path
    document: dict[str, Any]
    cached: bool


def load_analysis_samples(registries: Registries, options: AnalyzeOptions, seed: int) -> list[Sample]:
    from harness.run.runner import media_problems, MediaProblemsError
    from harness.run.wiring import task_instance
    from tasks.base import TaskContext, check_configs, select

    context = TaskContext(cache_dir=options.cache_dir, data_root=options.data_root)
    samples: list[Sample] = []
    for sel in options.tasks:
        task = task_instance(registries, sel.name, context)
        check_configs(task, sel.configs)
        samples.extend(task.load(sel.configs))
    samples = select(samples, options.limit, seed)
    if not samples:
        raise ValueError(f"--tasks {','.join(str(t) for t in options.tasks)} selects no samples")
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError("the selected tasks hold duplicate sample ids")
    if options.check_media:
        problems = media_problems(samples)
        if problems:
            raise MediaProblemsError(problems)
    return samples


def analyze(registries: Registries, options: AnalyzeOptions, settings: AnalysisSettings) -> AnalyzeResult:
    """Load samples, check everything cheap, then (unless the analysis exists) load the model and run the pass."""
    from harness.run.wiring import backend_name, make_backend
    from harness.run.zoo import resolve_model

    samples = load_analysis_samples(registries, options, settings.seed)
    the_plan = plan(samples, settings)  # a bad --reference or an empty part fails before the model loads
    resolved = resolve_model(options.model, options.cache_dir, build=False)
    backend = backend_name(registries, options.model, resolved, options.backend)
    registries.backends.entry(backend)
    identity = {"model": options.model, "backend": backend, "revision": options.revision, "dtype": options.dtype,
                "system_prompt": options.system_prompt}
    aid = analysis_id(options.model, identity, samples, settings)
    folder = Path(options.out) / ANALYSES_DIR / aid
    done = folder / "analysis.json"
    if done.exists():
        import json

        options.echo(f"analysis {aid} is complete: {folder}")
        return AnalyzeResult(aid, folder, json.loads(done.read_text(encoding="utf-8")), cached=True)

    model = make_backend(registries, options.model, options.cache_dir, backend=backend, revision=options.revision,
                         dtype=options.dtype, device=options.device, system_prompt=options.system_prompt)
    model.load()
    layers = resolve_layers(settings.layers, model.num_layers)  # the depth is known only now
    folder.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout

    from harness.run.analysis_pass import moments_kind, run_pass
    from harness.store import RunLockedError

    lock = FileLock(str(folder / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunLockedError(f"analysis {aid} is being written by another process (lock {folder / '.lock'}); "
                             "wait for it to finish or stop it first") from None
    try:
        state = folder / STATE_FILE
        if state.exists():
            options.echo(f"resuming analysis {aid} from its checkpoint")
        t0 = time.perf_counter()
        result = run_pass(model, the_plan, settings, layers, batch_size=options.batch_size, state_path=state,
                          progress=options.progress)
        seconds = time.perf_counter() - t0
        return finish(folder, aid, options, settings, identity, model, the_plan, layers, result, seconds,
                      moments_kind(settings.moments, model.hidden_size), model_dir=model.model_name)
    finally:
        lock.release()


def finish(folder: Path, aid: str, options: AnalyzeOptions, settings: AnalysisSettings, identity: dict[str, Any],
           model: Any, the_plan: Any, layers: Sequence[int], result: dict[str, Any], seconds: float, moments: str,
           *, model_dir: Path | str | None) -> AnalyzeResult:
    from harness.provenance import harness_version
    from harness.run.analysis_geometry import SHRINKAGE, geometry
    from harness.run.analysis_report import planted_table, write_outputs

    tables, vectors = geometry(result["stats"], result["frozen"], result["held_out"], the_plan, settings)
    planted = _planted_vectors(model_dir)
    if planted:
        tables["planted"] = planted_table(vectors, planted, the_plan.modalities)
    counts: dict[str, dict[str, int]] = {}
    for part, members in (("fit", the_plan.fit), ("held_out", the_plan.held_out)):
        for s in members:
            cell = counts.setdefault(f"{s.config}/{s.label}", {"fit": 0, "held_out": 0})
            cell[part] += 1
    meta = {
        "schema": SCHEMA, "analysis_id": aid, "model": options.model, "identity": identity,
        "backend_info": model.info(), "tasks": [str(t) for t in options.tasks], "limit": options.limit,
        "settings": asdict(settings), "layers": list(layers), "moments": moments, "hidden_size": model.hidden_size,
        "num_layers": model.num_layers, "configs": the_plan.configs, "modalities": the_plan.modalities,
        "pairs": the_plan.pairs, "samples": counts, "n_samples": len(the_plan.fit) + len(the_plan.held_out),
        "probe": {"kind": "linear discriminant from moments", "shrinkage": SHRINKAGE},
        "reconstructed": ["crs", "drift estimator", "content read-out"],
        "definitions": "docs/analyze.md", "harness_version": harness_version(), "seconds": round(seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    doc = write_outputs(folder, meta, tables, vectors, settings.positions)
    (folder / STATE_FILE).replace(folder / "stats.pt")  # the sufficient statistics, kept for re-analysis
    options.echo(f"analysis {aid}: {meta['n_samples']} samples, layers {layers[0]}..{layers[-1]}, "
                 f"{len(doc['figures'])} figures -> {folder}")
    return AnalyzeResult(aid, folder, doc, cached=False)


def _planted_vectors(model_dir: Path | str | None) -> dict[str, Any] | None:
    """The planted drift vectors of an organism-planted checkpoint (None for any other model)."""
    if not model_dir or not (Path(model_dir) / "planted.pt").exists():
        return None
    from organism.planted import load_vectors

    return load_vectors(model_dir)


__all__ = ["AnalyzeOptions", "AnalyzeResult", "AnalysisSettings", "analyze", "load_analysis_samples"]
