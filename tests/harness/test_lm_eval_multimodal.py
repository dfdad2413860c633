"""The multimodal lm-eval bridge on the tiny Qwen2.5-Omni: images arrive as PIL images and reach the model as
in `harness run`; ReGap's per-row probe works on lm-eval batches (and leaves text rows untouched)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.records import GenerationConfig, Sample, user_message
from tests.support import regap as regap_support

TEXTS = ("Read the picture.", "What is shown here?", "Tell me a story about a lake.", "hi")


@pytest.fixture(scope="module")
def omni_backend(tiny_omni_path: Path) -> Any:
    from harness.backends.qwen_omni import QwenOmniBackend

    backend = QwenOmniBackend(str(tiny_omni_path))
    backend.load()
    return backend


@pytest.fixture(scope="module")
def load_task(cache_dir: Path):
    from harness.run import default_registries, samples_loader
    from tasks.base import TaskContext

    return samples_loader(default_registries(), TaskContext(cache_dir=cache_dir))


def _requests(kind: str, image_path: Path) -> list[Any]:
    from lm_eval.api.instance import Instance
    from PIL import Image

    out = []
    for i, text in enumerate(TEXTS):
        visual = {"visual": [Image.open(image_path).convert("RGB")]} if i % 2 == 0 else None
        context = f"<image>{text}" if visual else text
        second = " a quiet lake" if kind == "loglikelihood" else {"until": [], "max_gen_toks": 6}
        args = (context, second, visual) if visual else (context, second)
        out.append(Instance(request_type=kind, doc={}, arguments=args, idx=i))
    return out


def _lm(backend: Any, defense: Any, cache_dir: Path, batch_size: int) -> Any:
    from harness.run.lm_eval import DefendedMultimodalLM

    return DefendedMultimodalLM(backend=backend, defense=defense, batch_size=batch_size, cache_dir=str(cache_dir),
                                show_progress=False)


def test_image_requests_reach_the_model_as_in_harness_run(omni_backend, cache_dir, media):
    from defenses.base import NoDefense

    lm = _lm(omni_backend, NoDefense(), cache_dir, batch_size=3)
    got = lm.generate_until(_requests("generate_until", media.image))
    # The same prompts as harness samples (the original file, media before text), through the defense directly.
    samples = [Sample(id=f"s{i}", task="t", config="c", label="utility",
                      messages=(user_message(t, image=str(media.image) if i % 2 == 0 else None),))
               for i, t in enumerate(TEXTS)]
    want = [o.text for o in NoDefense().generate(omni_backend, samples, GenerationConfig(max_new_tokens=6))]
    assert got == want
    scores = lm.loglikelihood(_requests("loglikelihood", media.image))
    assert len(scores) == len(TEXTS) and all(s[0] < 0 for s in scores)


def test_regap_per_row_on_lm_eval_batches(omni_backend, cache_dir, media, load_task):
    from defenses.base import NoDefense

    # lambda_weak > 0: every media row is corrected, those the probe flags more strongly (per-row lambdas).
    regap = regap_support.make(omni_backend, load_task, cache_dir / "defenses-lm-eval", lambda_weak=0.5)
    lls = {b: _lm(omni_backend, regap, cache_dir, b).loglikelihood(_requests("loglikelihood", media.image))
           for b in (1, 4)}
    assert [s[1] for s in lls[1]] == [s[1] for s in lls[4]]
    assert max(abs(a[0] - b[0]) for a, b in zip(lls[1], lls[4])) < 1e-4
    gens = {b: _lm(omni_backend, regap, cache_dir, b).generate_until(_requests("generate_until", media.image))
            for b in (1, 4)}
    assert gens[1] == gens[4]
    # By design ReGap corrects media rows only: text rows score exactly as without a defense.
    plain = _lm(omni_backend, NoDefense(), cache_dir, 4).loglikelihood(_requests("loglikelihood", media.image))
    text_rows = [i for i in range(len(TEXTS)) if i % 2 == 1]
    assert [lls[4][i] for i in text_rows] == [plain[i] for i in text_rows]
    image_rows = [i for i in range(len(TEXTS)) if i % 2 == 0]
    assert any(abs(lls[4][i][0] - plain[i][0]) > 1e-6 for i in image_rows)  # and it does act on image rows
