"""Tiny random-initialised checkpoints of every supported architecture, built locally.

Each kind is a real `transformers` model class plus its real processor, saved with `save_pretrained`, so tests
and smoke runs load it through exactly the `from_pretrained` path a hub id takes:

- ``tiny-text``: `Qwen2ForCausalLM` + `Qwen2Tokenizer` with a Qwen2.5-style chat template.
- ``tiny-omni``: the **full** `Qwen2_5OmniForConditionalGeneration` (thinker + a tiny talker and token2wav,
  plus `spk_dict.pt`), i.e. the layout of the `Qwen/Qwen2.5-Omni-7B` repository, with a `Qwen2_5OmniProcessor`
  (image and video processors, Whisper feature extractor, tokenizer, chat template). The backend loads only
  the thinker from it.
- ``tiny-vl``: `Qwen2_5_VLForConditionalGeneration` + `Qwen2_5_VLProcessor`.

The tokenizer is a byte-level BPE (every byte is in the base alphabet, so arbitrary text tokenizes) trained
with `tokenizers` on a small generated corpus, and carries every special token the Qwen processors read.
Builds are deterministic for a seed and never disturb the caller's global RNG state.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, Qwen2_5OmniConfig, Qwen2_5OmniProcessor

KINDS: tuple[str, ...] = ("tiny-text", "tiny-omni", "tiny-vl")
# Bump when a recipe below changes, so stale cached builds are not reused.
BUILD_VERSION = "1"
_COMPLETE_MARKER = ".tiny-model-complete"

VOCAB_SIZE = 512  # model vocabulary (the tokenizer uses ~490 ids; the rest is unused padding)
HIDDEN = 64
NUM_LAYERS = 3
# Image processor bounds for the tiny processors: 4..16 merged tokens per image keeps CPU forwards fast.
# (Video frame sizes are set per call by the backends' `VisionSettings`, as the Qwen processors' class-level
# video defaults would override a saved video-processor size anyway.)
TINY_IMAGE_MIN_PIXELS = 4 * 28 * 28
TINY_IMAGE_MAX_PIXELS = 16 * 28 * 28

# Special tokens of the Qwen2.5 family (text, VL and Omni names), added after the BPE vocabulary.
_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|IMAGE|>",
    "<|AUDIO|>",
    "<|VIDEO|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
)
# Named special tokens each processor reads from its tokenizer (`processor.tokenizer.image_token` etc.).
_NAMED_TOKENS: dict[str, dict[str, str]] = {
    "tiny-text": {},
    "tiny-omni": {
        "image_token": "<|IMAGE|>",
        "audio_token": "<|AUDIO|>",
        "video_token": "<|VIDEO|>",
        "vision_bos_token": "<|vision_bos|>",
        "vision_eos_token": "<|vision_eos|>",
        "audio_bos_token": "<|audio_bos|>",
        "audio_eos_token": "<|audio_eos|>",
    },
    "tiny-vl": {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
}

# Qwen2.5-Instruct-style template (tools left out): its own default system turn when none is given.
TEXT_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if not (loop.first and message['role'] == 'system') %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _media_template(image: str, video: str, audio: str | None) -> str:
    """The Qwen2-VL / Qwen2.5-Omni chat template (as shipped in their hub repos), parametrised by placeholders."""
    counters = "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    audio_branch = ""
    if audio is not None:
        counters = "{% set audio_count = namespace(value=0) %}" + counters
        audio_branch = (
            "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
            "{% set audio_count.value = audio_count.value + 1 %}"
            "{% if add_audio_id %}Audio {{ audio_count.value }}: {% endif %}" + audio
        )
    return (
        counters + "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
        "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
        "{% else %}{% for content in message['content'] %}"
        "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
        "{% set image_count.value = image_count.value + 1 %}"
        "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}" + image + audio_branch
        + "{% elif content['type'] == 'video' or 'video' in content %}"
        "{% set video_count.value = video_count.value + 1 %}"
        "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}" + video
        + "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
        "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


OMNI_CHAT_TEMPLATE = _media_template(
    image="<|vision_bos|><|IMAGE|><|vision_eos|>",
    video="<|vision_bos|><|VIDEO|><|vision_eos|>",
    audio="<|audio_bos|><|AUDIO|><|audio_eos|>",
)
VL_CHAT_TEMPLATE = _media_template(
    image="<|vision_start|><|image_pad|><|vision_end|>",
    video="<|vision_start|><|video_pad|><|vision_end|>",
    audio=None,
)

_WORDS = (
    "the a an of to and in is it you that he was for on are with as his they be at one have this from or had by "
    "word but what some we can out other were all there when up use your how said each she which do their time if "
    "will way about many then them write would like so these her long make thing see him two has look more day "
    "could go come did number sound no most people my over know water than call first who may down side been now "
    "find any new work part take get place made live where after back little only round man year came show every "
    "good me give our under name very through just form sentence great think say help low line turn cause much "
    "mean before move right boy old too same tell does set three want air well also play small end put home read "
    "hand large spell add even land here must big high such follow act why ask men change went light kind off "
    "need house picture try us again animal point mother world near build self earth father head stand own page "
    "should country found answer school grow study still learn plant cover food sun four between state keep eye "
    "never last let thought city tree cross farm hard start might story saw far sea draw left late run while "
    "press close night real life few north open seem together next white children begin got walk example paper "
    "group always music those both mark often letter until river car feet care second book carry took science "
    "eat room friend idea fish mountain stop once base hear horse cut sure watch color face wood main enough girl "
    "young ready above ever red list though feel talk bird soon body dog family leave song door black short class "
    "wind question happen complete ship area half rock order fire south problem piece told knew pass since top "
    "whole king space heard best hour better true during hundred five remember step early hold west ground "
    "bomb weapon safe unsafe harmful sorry cannot assist describe image audio video picture sound Qwen assistant "
    "user system"
).split()


def _training_corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    corpus = []
    for _ in range(3000):
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 15)))
        corpus.append(text[0].upper() + text[1:] + rng.choice(".?!,:"))
    corpus += [str(i) for i in range(200)]
    corpus.append("".join(chr(c) for c in range(32, 127)))  # every printable ASCII character
    return corpus


def build_tokenizer(
    kind: str, seed: int = 0, *, corpus: Sequence[str] | None = None, vocab_size: int = VOCAB_SIZE
) -> PreTrainedTokenizerBase:
    """A `Qwen2Tokenizer` over a byte-level BPE trained here; ids of the special tokens are the same for all kinds.

    `corpus` (default: a generated English-like corpus) and `vocab_size` let other local models (the organisms)
    train a tokenizer in which their own words are single tokens.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 32,  # room for the special tokens below the model vocabulary size
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus) if corpus is not None else _training_corpus(seed), trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in _SPECIAL_TOKENS])
    named = _NAMED_TOKENS[kind]
    hf = Qwen2Tokenizer(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        extra_special_tokens=named or None,
        padding_side="left",
    )
    if len(hf) > vocab_size:  # the model's embedding table must cover every id
        raise AssertionError(f"tiny tokenizer has {len(hf)} tokens, more than vocab_size={vocab_size}")
    return hf


def _text_config(rope: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": HIDDEN,
        "intermediate_size": 2 * HIDDEN,
        "num_hidden_layers": NUM_LAYERS,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
    }
    if rope is not None:
        config["rope_parameters"] = rope
    return config


# mRoPE sections must sum to head_dim / 2 = (64 / 4) / 2 = 8.
_MROPE = {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]}
_VISION = {
    "depth": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_heads": 2,
    "out_hidden_size": HIDDEN,
    "patch_size": 14,  # the processors' patching stays the real one (14 px, merge 2, 2 frames per patch)
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [1],
}


def _token_ids(tok: PreTrainedTokenizerBase) -> dict[str, int]:
    ids = {t: tok.convert_tokens_to_ids(t) for t in _SPECIAL_TOKENS}
    ids["<|endoftext|>"] = tok.convert_tokens_to_ids("<|endoftext|>")
    return ids


def _generation_kwargs(ids: dict[str, int]) -> dict[str, Any]:
    return {"eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]], "pad_token_id": ids["<|endoftext|>"]}


def _build_text(out: Path, seed: int) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = build_tokenizer("tiny-text", seed)
    tok.chat_template = TEXT_CHAT_TEMPLATE
    ids = _token_ids(tok)
    config = Qwen2Config(**_text_config(), bos_token_id=None, **_generation_kwargs(ids))
    model = Qwen2ForCausalLM(config)
    model.generation_config.update(**_generation_kwargs(ids))
    model.save_pretrained(out)
    tok.save_pretrained(out)


_AUDIO = {
    "num_mel_bins": 128,  # Qwen2.5-Omni's Whisper features have 128 mel bins
    "encoder_layers": 2,
    "encoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "d_model": 32,
    "output_dim": HIDDEN,
    "max_source_positions": 1500,
    "n_window": 100,
}


def omni_config(
    tok: PreTrainedTokenizerBase, *, text: dict[str, Any], vision: dict[str, Any], audio: dict[str, Any]
) -> Qwen2_5OmniConfig:
    """A full Qwen2.5-Omni config (thinker with the given parts, plus a minimal talker and token2wav that exist
    only so the checkpoint has the hub layout; the backend never loads them). Token ids come from `tok`."""
    from transformers import Qwen2_5OmniConfig

    ids = _token_ids(tok)
    vocab_size = int(text["vocab_size"])
    token_ids = {
        "audio_token_index": ids["<|AUDIO|>"],
        "image_token_index": ids["<|IMAGE|>"],
        "video_token_index": ids["<|VIDEO|>"],
        "audio_start_token_id": ids["<|audio_bos|>"],
        "audio_end_token_id": ids["<|audio_eos|>"],
        "vision_start_token_id": ids["<|vision_bos|>"],
        "vision_end_token_id": ids["<|vision_eos|>"],
    }
    thinker = {
        "text_config": text,
        "vision_config": vision,
        "audio_config": audio,
        "user_token_id": tok.encode("user", add_special_tokens=False)[0],
        **token_ids,
    }
    talker = {
        "vocab_size": vocab_size,
        "tts_codec_start_token_id": vocab_size - 4,
        "tts_codec_end_token_id": vocab_size - 3,
        "tts_codec_pad_token_id": vocab_size - 2,
        "tts_codec_mask_token_id": vocab_size - 1,
        "tts_text_start_token_id": ids["<|im_start|>"],
        "tts_text_end_token_id": ids["<|im_end|>"],
        "tts_text_pad_token_id": ids["<|endoftext|>"],
        "embedding_size": int(text["hidden_size"]),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "rope_parameters": _MROPE,
        **token_ids,
    }
    token2wav = {
        "dit_config": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "head_dim": 16,
            "emb_dim": 16,
            "num_embeds": 64,
            "enc_emb_dim": 16,
            "enc_dim": 16,
            "enc_channels": [16, 16, 16, 16, 48],
            "enc_attention_channels": 8,
            "enc_se_channels": 8,
            "look_ahead_layers": [1],
            "look_backward_layers": [0],
        },
        "bigvgan_config": {
            "upsample_initial_channel": 32,
            "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3, 5]],
            "upsample_rates": [5, 3, 2, 2],
            "upsample_kernel_sizes": [11, 7, 4, 4],
        },
    }
    return Qwen2_5OmniConfig(
        thinker_config=thinker, talker_config=talker, token2wav_config=token2wav, enable_audio_output=True
    )


def omni_processor(tok: PreTrainedTokenizerBase, *, min_pixels: int, max_pixels: int) -> Qwen2_5OmniProcessor:
    """The real `Qwen2_5OmniProcessor` around `tok`, with image / video pixel bounds and 128-bin Whisper features."""
    from transformers import Qwen2_5OmniProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor, WhisperFeatureExtractor

    return Qwen2_5OmniProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=min_pixels, max_pixels=max_pixels),
        video_processor=Qwen2VLVideoProcessor(min_pixels=min_pixels, max_pixels=max_pixels),
        feature_extractor=WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, return_attention_mask=True),
        tokenizer=tok,
        chat_template=OMNI_CHAT_TEMPLATE,
    )


def save_omni(model: Any, processor: Any, out: Path) -> None:
    """Save a full `Qwen2_5OmniForConditionalGeneration` and its processor in the hub layout (with `spk_dict.pt`)."""
    import torch

    ids = _token_ids(processor.tokenizer)
    model.generation_config.update(**_generation_kwargs(ids))
    # Saving validates the config: the talker (never used) keeps the upstream special-token ids, beyond a small
    # vocabulary, which transformers reports line by line.
    with quiet_transformers():
        model.save_pretrained(out)
    # `Qwen2_5OmniForConditionalGeneration.from_pretrained` requires the speaker dictionary of the hub repo.
    speaker = {"bos_token": ids["<|im_start|>"], "cond": torch.zeros(16), "ref_mel": torch.zeros(1, 8, 80)}
    torch.save({"Chelsie": speaker}, out / "spk_dict.pt")
    processor.save_pretrained(out)


def _build_omni(out: Path, seed: int) -> None:
    from transformers import Qwen2_5OmniForConditionalGeneration

    tok = build_tokenizer("tiny-omni", seed)
    config = omni_config(tok, text=_text_config(_MROPE), vision=_VISION, audio=_AUDIO)
    model = Qwen2_5OmniForConditionalGeneration(config)
    processor = omni_processor(tok, min_pixels=TINY_IMAGE_MIN_PIXELS, max_pixels=TINY_IMAGE_MAX_PIXELS)
    save_omni(model, processor, out)


def _build_vl(out: Path, seed: int) -> None:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tok = build_tokenizer("tiny-vl", seed)
    ids = _token_ids(tok)
    config = Qwen2_5_VLConfig(
        text_config={**_text_config(_MROPE), "bos_token_id": None, **_generation_kwargs(ids)},
        vision_config={**_VISION, "tokens_per_second": 2},
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.update(**_generation_kwargs(ids))
    model.save_pretrained(out)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=TINY_IMAGE_MIN_PIXELS, max_pixels=TINY_IMAGE_MAX_PIXELS),
        video_processor=Qwen2VLVideoProcessor(min_pixels=TINY_IMAGE_MIN_PIXELS, max_pixels=TINY_IMAGE_MAX_PIXELS),
        tokenizer=tok,
        chat_template=VL_CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)


_BUILDERS = {"tiny-text": _build_text, "tiny-omni": _build_omni, "tiny-vl": _build_vl}


def build_tiny_model(kind: str, out_dir: Path, seed: int = 0) -> Path:
    """Build `kind` with random weights (deterministic for `seed`) and save model + processor into `out_dir`."""
    import torch

    if kind not in _BUILDERS:
        raise ValueError(f"unknown tiny model kind {kind!r}; known kinds: {', '.join(KINDS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # fork_rng: seed the initialisation without changing the caller's global RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _BUILDERS[kind](out_dir, seed)
    return out_dir


def ensure_tiny_model(kind: str, cache_dir: Path, seed: int = 0) -> Path:
    """Path of the tiny `kind` checkpoint under `cache_dir`, building it on first use (`harness.files.build_once`:
    built in a temporary sibling renamed into place when complete, under a file lock)."""
    from harness.files import build_once

    if kind not in _BUILDERS:
        raise ValueError(f"unknown tiny model kind {kind!r}; known kinds: {', '.join(KINDS)}")

    def build(tmp: Path) -> None:
        with quiet_transformers():  # a one-off build in a cache: no "Writing model shards" bar on stderr
            build_tiny_model(kind, tmp, seed)
        (tmp / _COMPLETE_MARKER).write_text(f"{kind} v{BUILD_VERSION} seed {seed}\n")

    return build_once(Path(cache_dir) / f"{kind}-v{BUILD_VERSION}-seed{seed}", build,
                      done=lambda path: (path / _COMPLETE_MARKER).exists())


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off for the block (errors still show)."""
    from transformers.utils import logging as hf_logging

    was, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # building default sub-configs logs warnings about ids we never use
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if was:
            hf_logging.enable_progress_bar()
