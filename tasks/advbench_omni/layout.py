"""The AdvBench-Omni dataset layout, shared by the loader and the offline builder (docs/reference.md, OmniSteer
§1.5-1.7).

    DIR/
      manifest.json                      written by the builder (absent for released data)
      metadata/advbench_<config>.jsonl   harmful items of one configuration
      metadata/benign_<config>.jsonl     benign items
      data/...                           media; records hold paths relative to DIR

One record per line (OmniSteer §1.7 [project]): `id`, `source_id`, `config`, `label`, `text`, `image` / `audio` /
`video`, `payload` (`image_content`, `audio_content`), `render`, `origin` (`released` | `rebuilt`). The
loader also accepts the reference code's field names (`type: safe`, `text_instruction`, `image_path`, ...,
`modality` in either of its two vocabularies), the authors' evaluation JSONL and their analysis files
(tasks/advbench_omni/authors.py names which of them are AdvBench-Omni).
"""

from __future__ import annotations

from types import MappingProxyType

HARMFUL_CONFIGS: tuple[str, ...] = ("t", "i", "a", "v", "t2i", "t2a", "t2v", "t2ia", "t2va", "a2i", "a2v")

# Allowed sample modalities per configuration. The benign pure-media items of the reference carry the
# instruction "Describe this image/audio/video in detail." (OmniSteer §1.6), hence the `+text` alternatives.
CONFIG_MODALITIES = MappingProxyType({
    "t": ("text",),
    "i": ("image", "image+text"),
    "a": ("audio", "audio+text"),
    "v": ("video", "text+video"),
    "t2i": ("image+text",),
    "t2a": ("audio+text",),
    "t2v": ("text+video",),
    "t2ia": ("audio+image+text",),
    "t2va": ("audio+text+video",),
    "a2i": ("audio+image",),
    "a2v": ("audio+video",),
})

# `modality` strings of the reference's analysis files (alignment_data_*.json) -> configuration.
ANALYSIS_MODALITY = MappingProxyType({
    "text": "t", "image": "i", "audio": "a", "video": "v",
    "text+image": "t2i", "text+audio": "t2a", "text+video": "t2v",
    "image+audio": "a2i", "audio+video": "a2v",
    "text+image+audio": "t2ia", "text+audio+video": "t2va",
})

# `modality` strings of the reference's evaluation JSONL (`audio` there may or may not come with text).
EVAL_MODALITIES: tuple[str, ...] = ("text", "image_text", "audio", "text_video", "image_audio_text",
                                    "video_audio_text")
MODALITY_PARTS: tuple[str, ...] = ("text", "image", "audio", "video")

# Whether the model gets typed text in a configuration. i / a / v: only benign items, whose text is the
# instruction "Describe this ... in detail." (a harmful item's text there is the prompt the medium shows);
# a2i / a2v: the instruction is spoken, the record's text_instruction is what the audio says.
TYPED_TEXT = MappingProxyType({
    "t": True, "i": False, "a": False, "v": False, "t2i": True, "t2a": True, "t2v": True, "t2ia": True,
    "t2va": True, "a2i": False, "a2v": False,
})

# Benign pure-media instruction of the reference (OmniSteer §1.6).
BENIGN_MEDIA_INSTRUCTION = MappingProxyType({
    "i": "Describe this image in detail.",
    "a": "Describe this audio in detail.",
    "v": "Describe this video in detail.",
})
# Benign configurations that have no counterpart in the reference repository (OmniSteer §1.6, [project]).
BENIGN_EXTENSION_CONFIGS: tuple[str, ...] = ("t2ia", "t2va", "a2i", "a2v")

METADATA_DIR = "metadata"
MANIFEST = "manifest.json"
FILE_PREFIX = MappingProxyType({"harmful": "advbench", "benign": "benign"})


def parse_modality(value: str) -> frozenset[str]:
    """A modality string of either of the authors' vocabularies (`text+image`, `image_audio_text`) -> its parts;
    anything else (e.g. the analysis-only `image_mm`) is refused by name."""
    tokens = [t for t in value.strip().lower().replace("+", "_").split("_")]
    if not tokens or any(t not in MODALITY_PARTS for t in tokens) or len(set(tokens)) != len(tokens):
        raise ValueError(f"unknown modality {value!r} (known: {', '.join(ANALYSIS_MODALITY)}; "
                         f"{', '.join(EVAL_MODALITIES)})")
    return frozenset(tokens)


def media_parts(parts: frozenset[str]) -> frozenset[str]:
    return parts - {"text"}


def model_text(config: str, label: str, text: str | None) -> str | None:
    """The typed text the model gets for a record's text (TYPED_TEXT)."""
    if TYPED_TEXT[config] or (label == "benign" and config in BENIGN_MEDIA_INSTRUCTION):
        return text
    return None


def metadata_name(label: str, config: str) -> str:
    return f"{FILE_PREFIX[label]}_{config}.jsonl"


def normalise_config(value: str) -> str | None:
    """`advbench_t2i`, `benign_t2i`, `t2i` -> `t2i`; None if not a configuration name."""
    v = value.strip().lower()
    for prefix in ("advbench_", "benign_", "safe_", "adv_"):
        if v.startswith(prefix):
            v = v[len(prefix):]
    return v if v in CONFIG_MODALITIES else None
