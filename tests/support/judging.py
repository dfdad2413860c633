"""Helpers for judge tests: judge items and fast retry settings."""

from harness.records import Generation, Sample, user_message
from judges.base import JudgeItem


def make_item(i: int, response: str, label: str = "harmful", *, task: str = "t", config: str = "text",
              query: str | None = None, reference: str | None = None, category: str | None = None,
              source_id: str | None = None, **metadata) -> JudgeItem:
    s = Sample(id=f"{task}/{config}/{label}/{i}", task=task, config=config, label=label,  # type: ignore[arg-type]
               messages=(user_message(query or f"request number {i}"),), reference=reference, category=category,
               source_id=source_id, metadata=metadata)
    g = Generation(sample_id=s.id, task=task, config=config, label=label, modality=s.modality, response=response)
    return JudgeItem(s, g)


# Fast retry settings for tests: the faults are real, the waits are short.
FAST = dict(api_key_env="", timeout_s=0.5, backoff_base_s=0.01, backoff_max_s=0.05, max_retries=5, parse_retries=2)
