"""Tiny random-initialised checkpoints of every supported architecture, built locally.

Each kind is a real `transformers` model class plus its real processor, saved with `save_pretrained`, so tests
and smoke runs load it through exactly the `from_pretrained` path a hub id takes:

- ``tiny-text``: `Qwen2ForCausalLM` + `Qwen2Tokenizer` with a Qwen2.5-style chat template.
- ``tiny-omni``: the **full** `Qwen2_5OmniForConditionalGeneration` (thinker + a tiny talker and token2wav,
  plus `spk_dict.pt`), i.e. the layout of the `Qwen/Qwen2.5-Omni-7B` repository, with a `Qwen2_5OmniProcessor`
  (image and video processors, Whisper feature extractor, tokenizer, chat template). The backend loads only
  the thinker from it.
- ``tiny-vl``: `Qwen2_5_VLForConditionalGeneration` + `Qwen2_5_VLProcessor`.

The tokenizer and chat templates are `harness.tiny_tokenizer`'s. Builds are deterministic for a seed and never
disturb the caller's global RNG state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.tiny_tokenizer import (OMNI_CHAT_TEMPLATE, SPECIAL_TOKENS, TEXT_CHAT_TEMPLATE, VL_CHAT_TEMPLATE,
                                    VOCAB_SIZE, build_tokenizer)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, Qwen2_5OmniConfig, Qwen2_5OmniProcessor

KINDS: tuple[str, ...] = ("tiny-text", "tiny-omni", "tiny-vl")
# Bump when a recipe below changes, so stale cached builds are not reused.
BUILD_VERSION = "1"
_COMPLETE_MARKER = ".tiny-model-complete"

HIDDEN = 64
NUM_LAYERS = 3
# Image processor bounds for the tiny processors: 4..16 merged tokens per image keeps CPU forwards fast.
# (Video frame sizes are set per call by the backends' `VisionSettings`, as the Qwen processors' class-level
# video defaults would override a saved video-processor size anyway.)
TINY_IMAGE_MIN_PIXELS = 4 * 28 * 28
TINY_IMAGE_MAX_PIXELS = 16 * 28 * 28


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
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
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
