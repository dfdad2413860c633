"""The organism's architecture: a tiny full Qwen2.5-Omni checkpoint with the real vision and audio towers (`new_model`;
a saved one loads with `load_full`).

Sizes are chosen for training on two CPU cores in minutes. Two settings matter for the word-slot media
(see `render.py`):

- vision `window_size` = one strip cell (84 px) and no full-attention block, so every cell's three tokens are
  computed from that cell alone: a word's image tokens do not depend on where in the strip it stands;
- audio `n_window` = half a word window (12 mel frames), so the audio tower's attention chunks are exactly the
  word windows and a word's six audio tokens do not depend on its neighbours either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from organism import world
from organism.render import PATCH, SpeechParams, StripParams

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# The system prompt the qwen2.5-omni backend sends by default; training uses it so the default runs match.
from harness.backends.qwen_omni import QWEN_OMNI_SYSTEM_PROMPT  # noqa: E402  (no heavy imports there)


@dataclass(frozen=True)
class Architecture:
    vocab_size: int = 640
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 384
    vision_hidden: int = 64
    vision_depth: int = 2
    vision_heads: int = 2
    audio_hidden: int = 64
    audio_layers: int = 2
    audio_heads: int = 2
    max_image_tokens: int = 48  # processor bound: strips of up to 16 words stay unresized

    def text_config(self) -> dict[str, Any]:
        half_head = self.hidden // self.heads // 2
        section = [half_head - 2 * (half_head // 3), half_head // 3, half_head // 3]  # mRoPE t/h/w split
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "max_position_embeddings": 2048,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section},
        }

    def vision_config(self, strip: StripParams) -> dict[str, Any]:
        return {
            "depth": self.vision_depth,
            "hidden_size": self.vision_hidden,
            "intermediate_size": 2 * self.vision_hidden,
            "num_heads": self.vision_heads,
            "out_hidden_size": self.hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": strip.cell_width,  # one attention window = one word cell
            "fullatt_block_indexes": [],
        }

    def audio_config(self, speech: SpeechParams) -> dict[str, Any]:
        return {
            "num_mel_bins": 128,
            "encoder_layers": self.audio_layers,
            "encoder_attention_heads": self.audio_heads,
            "encoder_ffn_dim": 2 * self.audio_hidden,
            "d_model": self.audio_hidden,
            "output_dim": self.hidden,
            "max_source_positions": 1500,
            "n_window": speech.window_frames // 2,  # attention chunks of n_window * 2 frames = one word window
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tokenizer_corpus() -> list[str]:
    """Text the tokenizer is trained on: every world sentence shape, so each world word is one token."""
    lines = [QWEN_OMNI_SYSTEM_PROMPT] * 4
    vocab = [w for w in world.vocabulary() if w not in world.PUNCTUATION]
    for template in world.TEMPLATES:
        for verb in world.VERBS:
            for obj in (*world.BENIGN_OBJECTS, *(o for o, _ in world.HARMFUL_OBJECTS)):
                lines.append(template.format(verb=verb, obj=obj))
                lines.append(world.compliance(verb, obj))
    lines += [" ".join(vocab[i:] + vocab[:i]) for i in range(len(vocab))]  # every word also sentence-initial
    lines += [world.REFUSAL, *world.READ_IMAGE_PROMPTS, *world.READ_AUDIO_PROMPTS, world.REPEAT_PROMPT]
    lines.append("".join(chr(c) for c in range(32, 127)))  # printable ASCII
    return lines


def build_tokenizer(arch: Architecture) -> PreTrainedTokenizerBase:
    from harness.tiny_tokenizer import build_tokenizer as build

    tok = build("tiny-omni", corpus=tokenizer_corpus(), vocab_size=arch.vocab_size)
    for word in world.vocabulary():
        if len(tok.encode(" " + word, add_special_tokens=False)) != 1:
            raise AssertionError(f"organism tokenizer splits {word!r}; raise Architecture.vocab_size")
    return tok


def new_model(arch: Architecture, strip: StripParams, speech: SpeechParams, seed: int) -> tuple[Any, Any]:
    """(randomly initialised full Qwen2_5OmniForConditionalGeneration, its processor), deterministic for `seed`."""
    import torch
    from transformers import Qwen2_5OmniForConditionalGeneration

    from harness.tiny_models import omni_config, omni_processor

    tok = build_tokenizer(arch)
    config = omni_config(tok, text=arch.text_config(), vision=arch.vision_config(strip),
                         audio=arch.audio_config(speech))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5OmniForConditionalGeneration(config)
    pixels = PATCH * PATCH
    processor = omni_processor(tok, min_pixels=4 * pixels, max_pixels=arch.max_image_tokens * pixels)
    return model, processor


def load_full(model_dir: Path) -> tuple[Any, Any]:
    """The full Qwen2.5-Omni model (thinker and talker) and processor of a saved organism."""
    from transformers import AutoProcessor, Qwen2_5OmniForConditionalGeneration

    from harness.tiny_models import quiet_transformers

    # The talker is never used; it keeps the upstream special-token ids, beyond the organism's small vocabulary,
    # which transformers warns about on every load (the thinker the harness runs has none of them).
    with quiet_transformers():
        model = Qwen2_5OmniForConditionalGeneration.from_pretrained(str(model_dir))
    return model, AutoProcessor.from_pretrained(str(model_dir))
