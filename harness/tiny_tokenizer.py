"""The tokenizer and chat templates of the tiny local models: a byte-level BPE trained here (every byte is in the
base alphabet, so arbitrary text tokenizes) wrapped as a `Qwen2Tokenizer` carrying every special token the Qwen
processors read, and the Qwen2.5 text, VL and Omni chat templates as their hub repositories ship them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

VOCAB_SIZE = 512  # model vocabulary (the tokenizer uses ~490 ids; the rest is unused padding)

# Special tokens of the Qwen2.5 family (text, VL and Omni names), added after the BPE vocabulary.
SPECIAL_TOKENS: tuple[str, ...] = (
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
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
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
