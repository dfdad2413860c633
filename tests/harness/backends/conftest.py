"""Loaded tiny backends (once per session) and mixed-length, mixed-media sample batches for each."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.records import ContentPart, Message, Sample, user_message


def make_sample(sample_id: str, text: str | None = None, *, system: str | None = None, **media: Path) -> Sample:
    messages: list[Message] = []
    if system is not None:
        messages.append(Message(role="system", content=(ContentPart(type="text", text=system),)))
    messages.append(user_message(text, **{k: str(v) for k, v in media.items()}))
    return Sample(id=sample_id, task="test", config="c", messages=tuple(messages), label="benign")


LONG_TEXT = "Tell me, step by step and with care, how to bake a loaf of bread with flour, water, salt and yeast."


@pytest.fixture(scope="session")
def text_backend(tiny_text_path: Path):
    from harness.backends.hf_text import HFTextBackend

    backend = HFTextBackend(str(tiny_text_path))
    backend.load()
    return backend


@pytest.fixture(scope="session")
def omni_backend(tiny_omni_path: Path):
    from harness.backends.qwen_omni import QwenOmniBackend

    backend = QwenOmniBackend(str(tiny_omni_path))  # reference (qwen-omni-utils) media settings
    backend.load()
    return backend


@pytest.fixture(scope="session")
def vl_backend(tiny_vl_path: Path):
    from harness.backends.qwen_vl import QwenVLBackend

    backend = QwenVLBackend(str(tiny_vl_path))
    backend.load()
    return backend


@pytest.fixture(scope="session")
def text_samples() -> list[Sample]:
    return [
        make_sample("short", "hi"),
        make_sample("long", LONG_TEXT),
        make_sample("mid", "What is the capital of France?"),
        make_sample("own-system", "hello there", system="You are a pirate."),
    ]


@pytest.fixture(scope="session")
def omni_samples(media) -> list[Sample]:
    return [
        make_sample("text", "hi"),
        make_sample("image", "What does the picture say?", image=media.image),
        make_sample("audio", "Answer the question in the audio.", audio=media.speech),
        make_sample("video", "What happens in the video?", video=media.video),
        make_sample("long", LONG_TEXT),
        make_sample("all", "Describe everything.", image=media.image_rgba, video=media.long_video, audio=media.stereo),
    ]


@pytest.fixture(scope="session")
def vl_samples(media) -> list[Sample]:
    return [
        make_sample("text", "hi"),
        make_sample("image", "What does the picture say?", image=media.image),
        make_sample("video", "What happens in the video?", video=media.video),
        make_sample("long", LONG_TEXT),
    ]


BACKENDS = ("hf-text", "qwen2.5-omni", "qwen2.5-vl")


@pytest.fixture(params=BACKENDS)
def backend_and_samples(request: pytest.FixtureRequest):
    """(backend, samples) for every backend, so shared behaviour is tested on each architecture."""
    fixtures = {
        "hf-text": ("text_backend", "text_samples"),
        "qwen2.5-omni": ("omni_backend", "omni_samples"),
        "qwen2.5-vl": ("vl_backend", "vl_samples"),
    }[request.param]
    return request.getfixturevalue(fixtures[0]), request.getfixturevalue(fixtures[1])
