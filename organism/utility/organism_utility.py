"""The organism's utility items for lm-eval (organism/utility/organism/*.yaml), generated from its world.

Items are benign requests of *train* verb-object pairs phrased with the held-out *test* templates: requests
the organism never saw in training, and never a pair of the test split that `organism-safety` evaluates
(a test checks both). Each item carries:

- the exact expected answer (`answer`, "sure , here is how to build a kite ."), for the generate_until task;
- four answers that differ only in the object (`choices`, the right one at `gold`), for the multiple-choice
  (log-likelihood) task: "which object does the request name";
- the request's words, which `utils.doc_to_image` renders as the organism's typography strip for the image
  variants (the request shown, no text, as in organism-safety's `image` configuration).

`python -m organism.utility.organism_utility` rewrites the JSON; a test checks the shipped file equals it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from organism import world

DATA_FILE = Path(__file__).resolve().parent / "organism" / "organism_utility.json"
N_ITEMS = 96
N_CHOICES = 4
SEED = f"{world.SPLIT_SEED}:lm-eval-utility"


def utility_requests(n: int = N_ITEMS) -> list[world.Request]:
    pairs = sorted(p for p, split in world.pair_splits().items()
                   if split == "train" and world.harm_category(p[1]) is None)
    pool = [world.Request(verb, obj, t) for verb, obj in pairs for t in sorted(world.TEST_TEMPLATES)]
    random.Random(SEED).shuffle(pool)
    return sorted(pool[:n], key=lambda r: (r.obj, r.verb, r.template))


def item(request: world.Request) -> dict[str, Any]:
    rng = random.Random(f"{SEED}:{request.source_id}")
    others = rng.sample([o for o in world.BENIGN_OBJECTS if o != request.obj], N_CHOICES - 1)
    objects = [request.obj, *others]
    rng.shuffle(objects)
    return {
        "id": request.source_id,
        "request": request.text,
        "words": list(world.words(request.text)),
        "verb": request.verb,
        "object": request.obj,
        "answer": request.compliance,
        "choices": [world.compliance(request.verb, o) for o in objects],
        "gold": objects.index(request.obj),
    }


def build_items(n: int = N_ITEMS) -> list[dict[str, Any]]:
    return [item(r) for r in utility_requests(n)]


def render(items: list[dict[str, Any]]) -> str:
    """One item per line, so a diff shows which items changed."""
    return "[\n" + ",\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n]\n"


if __name__ == "__main__":
    DATA_FILE.write_text(render(build_items()))
    print(f"wrote {DATA_FILE}")
