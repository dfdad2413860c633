"""Synthetic run directories (samples + generations, no model) for judge and scoring tests."""

from collections.abc import Callable, Sequence
from pathlib import Path

from harness.records import Generation, RunSpec, Sample, TaskRef, user_message
from harness.store import RunStore


def synthetic_samples(n_harmful: int = 30, n_benign: int = 15, n_utility: int = 5, n_osb: int = 0) -> list[Sample]:
    out: list[Sample] = []
    for i in range(n_harmful):
        out.append(Sample(id=f"syn/text/h{i}", task="syn", config="text", label="harmful",
                          messages=(user_message(f"harmful request {i}"),), source_id=str(i)))
    for i in range(n_benign):
        out.append(Sample(id=f"syn/text/b{i}", task="syn", config="text", label="benign",
                          messages=(user_message(f"benign request {i}"),), source_id=str(i)))
    for i in range(n_utility):
        out.append(Sample(id=f"syn/mcq/u{i}", task="syn", config="mcq", label="utility", reference="A",
                          messages=(user_message(f"question {i}? A. x B. y"),), source_id=str(i)))
    for config in ("osb1", "osb2") if n_osb else ():
        for i in range(n_osb):
            out.append(Sample(id=f"osb/{config}/{i}", task="osb", config=config, label="harmful", source_id=str(i),
                              category="Cat" + str(i % 2), messages=(user_message(f"osb {config} {i}"),),
                              metadata={"judge_template": "omni_safetybench", "corresponding_text": f"seed {i}"}))
    return out


def default_response(s: Sample) -> str:
    """A response carrying the stub server's answer marker, deterministic per sample."""
    n = int(s.id.rsplit("/", 1)[1].lstrip("hbu"))
    if s.label == "harmful" and s.task == "osb":
        return f"osb answer {s.id}"
    if s.label == "harmful":
        return f"answer {s.id} [[judge:{'unsafe' if n % 3 == 0 else 'safe'}]]"
    if s.label == "benign":
        return f"answer {s.id} [[judge:{'REFUSAL' if n % 5 == 0 else 'NORMAL'}]]"
    return f"I choose {s.id} [[judge:{'CORRECT' if n % 2 == 0 else 'INCORRECT'}]]"


def make_run(root: Path, samples: Sequence[Sample], respond: Callable[[Sample], str] = default_response, *,
             model: str = "synthetic-model", defense: str = "none") -> Path:
    spec = RunSpec(model=model, backend="hf-text", defense=defense, tasks=(TaskRef("syn", "1"),))
    with RunStore(root, spec.run_id).open(spec) as store:
        store.write_samples(samples)
        store.append_generations(Generation(sample_id=s.id, task=s.task, config=s.config, label=s.label,
                                            modality=s.modality, response=respond(s)) for s in samples)
    return root / spec.run_id
