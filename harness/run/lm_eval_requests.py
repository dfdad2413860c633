"""lm-eval requests as harness samples: contexts become chat messages, images become files, gen_kwargs a
`GenerationConfig`. No torch and no lm-eval import here.

How a context becomes a prompt (so the prompt is the one `harness run` builds for the same text):
- lm-eval without `--apply_chat_template` hands over plain text ("Question: ...\\nAnswer:"); it becomes one user
  turn, and the backend applies its chat template and system prompt, exactly as for a harness task sample;
- with `--apply_chat_template`, lm-eval asks the model to template its chat history; the bridge answers with
  the history itself, encoded behind `CHAT_MARK`, and builds the turns from it (few-shot examples as turns with
  `--fewshot_as_multiturn`, lm-eval's `--system_instruction` as the system turn, which then replaces ours).
Text that lm-eval appends after the templated history (a task's `gen_prefix`) starts the assistant's answer.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.records import ContentPart, GenerationConfig, Message, Sample

CHAT_MARK = "<|harness-chat|>"
IMAGE_PLACEHOLDER = "<image>"  # lm-eval's placeholder for an image in a multimodal context
ROLES = ("system", "user", "assistant")


def encode_chat(history: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> str:
    """What the bridge's `apply_chat_template` returns: the chat history itself, for `parse_context`."""
    return CHAT_MARK + json.dumps({"messages": [dict(m) for m in history],
                                   "add_generation_prompt": bool(add_generation_prompt)}, ensure_ascii=False)


@dataclass(frozen=True)
class ParsedContext:
    messages: list[dict[str, Any]]  # role, content (str; lm-eval's multimodal template may give part lists)
    assistant_prefix: str  # text the assistant's answer starts with ("" almost always)
    templated: bool  # lm-eval applied (our) chat template


def parse_context(context: str) -> ParsedContext:
    if not context.startswith(CHAT_MARK):
        return ParsedContext([{"role": "user", "content": context}], "", False)
    payload, end = json.JSONDecoder().raw_decode(context, len(CHAT_MARK))
    messages = list(payload["messages"])
    prefix = context[end:]
    if not payload.get("add_generation_prompt", True) and messages and messages[-1].get("role") == "assistant":
        prefix = _text_of(messages.pop()["content"]) + prefix  # continue_final_message: a started answer
    return ParsedContext(messages, prefix, True)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")


def save_image(image: Any, media_dir: Path) -> str:
    """A path for an image given as a PIL image or a path (lm-eval hands over PIL images); files are named by
    content, so the same image is written once."""
    if isinstance(image, (str, Path)):
        return str(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    path = media_dir / f"{hashlib.sha256(data).hexdigest()[:24]}.png"
    if not path.exists():
        media_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(data)}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)


def to_sample(index: int, parsed: ParsedContext, images: Sequence[str] = (), *, task: str = "lm-eval") -> Sample:
    """A harness sample with the context's turns; images go, in order, into the turns whose text holds their
    placeholders (media before the text of a turn, the harness convention), left-overs into the last user turn."""
    remaining = list(images)
    messages: list[Message] = []
    for m in parsed.messages:
        role = m.get("role")
        if role not in ROLES:
            raise ValueError(f"lm-eval chat history has a turn with role {role!r}; expected one of {ROLES}")
        text = _text_of(m.get("content", ""))
        n_images = text.count(IMAGE_PLACEHOLDER) if role == "user" else 0
        if not isinstance(m.get("content", ""), str):  # lm-eval's own multimodal templating: image parts
            n_images += sum(1 for p in m["content"] if isinstance(p, Mapping) and p.get("type") == "image")
        taken, remaining = remaining[:n_images], remaining[n_images:]
        text = text.replace(IMAGE_PLACEHOLDER, "").strip() if n_images else text
        parts = [ContentPart(type="image", path=p) for p in taken]
        if text or not parts:
            parts.append(ContentPart(type="text", text=text))
        messages.append(Message(role=role, content=tuple(parts)))
    if remaining:
        last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
        if last is None:
            raise ValueError("lm-eval request has images but no user turn to put them in")
        extra = tuple(ContentPart(type="image", path=p) for p in remaining)
        messages[last] = Message(role="user", content=extra + messages[last].content)
    if not any(m.role == "user" for m in messages):
        raise ValueError("lm-eval request has no user turn")
    config = "image" if images else "text"
    return Sample(id=f"{task}/{index}", task=task, config=config, messages=tuple(messages), label="utility")


# -- generation settings --------------------------------------------------------------------------------------
_IGNORED_IF = {"num_beams": 1, "max_length": None}


def generation_config(gen_kwargs: Mapping[str, Any], default_max_gen_toks: int) -> tuple[GenerationConfig, list[str]]:
    """lm-eval's gen_kwargs -> (GenerationConfig, stop strings); unsupported settings are refused by name."""
    kwargs = dict(gen_kwargs)
    until = kwargs.pop("until", None)
    stops = [until] if isinstance(until, str) else list(until or [])
    max_new = int(kwargs.pop("max_gen_toks", default_max_gen_toks))
    temperature = float(kwargs.pop("temperature", 1.0) if "temperature" in kwargs else 1.0)
    do_sample = bool(kwargs.pop("do_sample", False))
    if temperature == 0.0:  # lm-eval's spelling of greedy decoding
        do_sample, temperature = False, 1.0
    config = {"max_new_tokens": max_new, "do_sample": do_sample, "temperature": temperature if do_sample else 1.0}
    for key in ("top_p", "top_k", "repetition_penalty"):
        if key in kwargs:
            value = kwargs.pop(key)
            if value is not None:
                config[key] = type(getattr(GenerationConfig(), key))(value)
    for key, harmless in _IGNORED_IF.items():
        if key in kwargs and (harmless is None or kwargs[key] == harmless):
            kwargs.pop(key)
    if kwargs:
        raise ValueError(f"generation settings {sorted(kwargs)} are not supported by harness-defended (supported: "
                         "until, max_gen_toks, do_sample, temperature, top_p, top_k, repetition_penalty)")
    return GenerationConfig(**config), stops


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """The text up to the first stop string (lm-eval's post-hoc cut of stop sequences)."""
    for stop in stops:
        if stop:
            text = text.split(stop)[0]
    return text
