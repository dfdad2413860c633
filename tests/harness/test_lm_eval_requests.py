"""lm-eval contexts as harness samples (harness/run/lm_eval_requests.py), and lm-eval's chat-templated contexts
through the bridge: the same prompt as a plain context, few-shot turns, a started answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.run.lm_eval_requests import encode_chat, parse_context, save_image, to_sample


def test_plain_context_is_one_user_turn():
    parsed = parse_context("Question: 2+2?\nAnswer:")
    sample = to_sample(0, parsed)
    assert [m.role for m in sample.messages] == ["user"] and sample.text == "Question: 2+2?\nAnswer:"
    assert sample.label == "utility" and sample.modality == "text" and not parsed.templated


def test_chat_history_becomes_turns_and_a_started_answer_its_prefix():
    history = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1?"},
               {"role": "assistant", "content": "2"}, {"role": "user", "content": "2+2?"}]
    parsed = parse_context(encode_chat(history) + "The answer is")
    assert parsed.templated and parsed.assistant_prefix == "The answer is"
    sample = to_sample(3, parsed)
    assert [m.role for m in sample.messages] == ["system", "user", "assistant", "user"]
    # continue_final_message: lm-eval's last assistant turn is a started answer, not a finished turn
    started = parse_context(encode_chat([*history, {"role": "assistant", "content": "It is"}], False))
    assert started.assistant_prefix == "It is" and len(started.messages) == 4


def test_images_go_where_their_placeholders_are(tmp_path: Path):
    from PIL import Image

    img = Image.new("RGB", (8, 8), "red")
    path = save_image(img, tmp_path)
    assert save_image(img.copy(), tmp_path) == path  # named by content: written once
    history = [{"role": "user", "content": "<image>What colour?"}, {"role": "assistant", "content": "red"},
               {"role": "user", "content": "And this one?<image>"}]
    sample = to_sample(0, parse_context(encode_chat(history)), [path, "/other.png"])
    first, _, last = sample.messages
    assert [p.type for p in first.content] == ["image", "text"] and first.content[0].path == path
    assert [p.type for p in last.content] == ["image", "text"] and last.content[0].path == "/other.png"
    assert sample.config == "image"
    with pytest.raises(ValueError, match="role"):
        to_sample(0, parse_context(encode_chat([{"role": "tool", "content": "x"}])))


def _ll(context: str, continuation: str) -> Any:
    from lm_eval.api.instance import Instance

    return Instance(request_type="loglikelihood", doc={}, arguments=(context, continuation), idx=0)


@pytest.fixture(scope="module")
def lm(tiny_text_path: Path, cache_dir: Path) -> Any:
    from harness.run.lm_eval import DefendedLM

    return DefendedLM(model=str(tiny_text_path), backend="hf-text", cache_dir=str(cache_dir), batch_size=2,
                      show_progress=False)


def test_chat_templated_context_scores_as_the_plain_one(lm):
    plain = lm.loglikelihood([_ll("What is the capital of France?", " Paris")])
    chat = lm.loglikelihood([_ll(lm.apply_chat_template([{"role": "user", "content": "What is the capital of "
                                                                                     "France?"}]), " Paris")])
    assert chat == plain  # the same prompt: lm-eval's templating goes through the backend's chat template


def test_started_answer_is_fed_but_not_scored(lm):
    """log p(" Paris" | prompt + "It is") = log p("It is Paris" | prompt) - log p("It is" | prompt), when the
    tokens split the same way."""
    prompt = "What is the capital of France?"
    chat = lm.apply_chat_template([{"role": "user", "content": prompt}])
    (started, _), = lm.loglikelihood([_ll(chat + "It is", " Paris")])
    (whole, _), (head, _) = lm.loglikelihood([_ll(prompt, "It is Paris"), _ll(prompt, "It is")])
    tok = lm.tokenizer
    if tok("It is Paris")["input_ids"] != tok("It is")["input_ids"] + tok(" Paris")["input_ids"]:
        pytest.skip("the tiny tokenizer merges across the boundary")
    assert abs(started - (whole - head)) < 1e-4
