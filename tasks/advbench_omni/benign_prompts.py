"""Benign prompts written for this project: the builder's default benign source when `--benign` is not given.

`benign_prompts.txt` (one prompt a line, 600 prompts) holds everyday how-to and information requests phrased
like AdvBench behaviours (an imperative verb, then the task), so the rule splitter decouples them the same way:
50 written by hand, the rest composed from hand-written tasks and topics with a few request frames, mixed so
that any prefix holds both kinds. They are NOT the reference's 500 benign prompts
(`metadata/benign_prompt.json` of zhrli324/omni-safety-research), which this project does not ship; pass
that file with `--benign` to rebuild the reference's benign half.
"""

from __future__ import annotations

from pathlib import Path

PROMPTS_FILE = Path(__file__).with_name("benign_prompts.txt")


def benign_prompts() -> tuple[str, ...]:
    lines = PROMPTS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip())
