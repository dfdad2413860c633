"""The AdvBench-Omni files as the authors ship them (zhrli324/omni-safety-research): which file holds what.

Their `metadata/` (absolute media paths) and `data/` (relative paths) folders mix AdvBench-Omni with rewriter
outputs, aggregates, alternative renders and other benchmarks (MM-SafetyBench, FigStep, Omni-SafetyBench).
Exactly these files are AdvBench-Omni items, each (label, configuration) from one file:

- harmful, 11 x 520: the `cross_modal_test` list of one analysis file per configuration (`HARMFUL_FILES`);
- benign i / a / v / t2i / t2a / t2v, 6 x 500: the `safe` items of `BENIGN_FILE` (configuration from `modality`);
- benign t, 500: `BENIGN_TEXT_FILE`, a list of `{"prompt"}`.

Every other file is ignored with the reason in `IGNORED` (or a generic one); the loader lists them.
"""

from __future__ import annotations

import re
from types import MappingProxyType

HARMFUL_FILES = MappingProxyType({
    "alignment_data_adv_t.json": "t",
    "alignment_data_adv_i.json": "i",
    "alignment_data_adv_a.json": "a",
    "alignment_data_adv_v.json": "v",
    "alignment_data_adv_seg_t2i.json": "t2i",
    "alignment_data_adv_seg_t2a.json": "t2a",
    "alignment_data_adv_seg_t2v.json": "t2v",
    "alignment_data_adv_seg_t2ia.json": "t2ia",
    "alignment_data_adv_seg_t2va.json": "t2va",
    "alignment_data_adv_seg_a2i.json": "a2i",
    "alignment_data_adv_seg_a2v.json": "a2v",
})
BENIGN_FILE = "alignment_data_adv_seg_all_with_benign_final.json"
BENIGN_FILE_CONFIGS: tuple[str, ...] = ("i", "a", "v", "t2i", "t2a", "t2v")
BENIGN_TEXT_FILE = "benign_prompt.json"

_SEG = "rewriter output (prompt, split_result, status): input of the media generation, not model inputs"
_DUP_FINAL = f"earlier or partial copy of the items of {BENIGN_FILE} and the per-configuration files"
IGNORED = MappingProxyType({
    "advbench.json": "the 520 source behaviours (prompt, target); the text configuration comes from "
                     "alignment_data_adv_t.json (rebuild from it with `harness build advbench-omni --source`)",
    "advbench_seg.json": _SEG,
    "advbench_seg_audio.json": _SEG,
    "advbench_seg_t2ia-all.json": _SEG,
    "benign_seg_vision.json": _SEG,
    "benign_seg_audio.json": _SEG,
    "benign_seg_image_formatted.json": f"the benign t2i items again (read from {BENIGN_FILE})",
    "benign_seg_audio_formatted.json": f"the benign t2a items again (read from {BENIGN_FILE}; here the audio "
                                       "path is stored under image_path)",
    "benign_seg_video_formatted.json": f"the benign t2v items again (read from {BENIGN_FILE}; here the video "
                                       "path is stored under image_path)",
    "alignment_data_adv_all.json": "aggregate of the per-configuration files (duplicates)",
    "alignment_data_adv_all_temp.json": "aggregate of the per-configuration files (duplicates)",
    "alignment_data_adv_all_withmm.json": "aggregate of the per-configuration files plus the analysis-only "
                                          "image_mm / text+image_mm variants",
    "alignment_data_adv_i_based_i.json": "the i items of alignment_data_adv_i.json again (image training half)",
    "alignment_data_adv_i_with_benign.json": _DUP_FINAL,
    "alignment_data_adv_seg_all_with_benign.json": _DUP_FINAL + " (t2* written with media-only modalities)",
    "alignment_data_adv_seg_all_with_benign_final_new.json": f"alternative of {BENIGN_FILE} with re-rendered "
                                                             "videos (adv_v_new, benign_videos_new)",
    "alignment_data_adv_seg_t2a_new.json": "the 520 t2a items of alignment_data_adv_seg_t2a.json again "
                                           "(relative paths, modality written as `audio`)",
    "alignment_data_adv_seg_t2v_new.json": "the 520 t2v items of alignment_data_adv_seg_t2v.json again "
                                           "(relative paths, modality written as `video`)",
    "alignment_data_adv_seg_t2i_new.json": "MM-SafetyBench items (972), not AdvBench-Omni",
    "alignment_data_mm_i.json": "Omni-SafetyBench key-phrase images (972 MM-SafetyBench seeds), not AdvBench-Omni",
    "alignment_data_mm_a.json": "Omni-SafetyBench key-phrase speech (972 MM-SafetyBench seeds), not AdvBench-Omni",
    "alignment_data_audio.json": "Omni-SafetyBench key-phrase speech (972 MM-SafetyBench seeds), not AdvBench-Omni",
    "alignment_data_figstep.json": "FigStep (SafeBench) images, not AdvBench-Omni",
    "adv_mm_t2ia.json": "analysis-only text+image+audio_mm variant (519 items), not one of the 11 configurations",
})

# Evaluation JSONL of the authors' runner, one per benchmark: `advbench_<config>.jsonl`, `benign_<config>.jsonl`.
EVAL_FILE = re.compile(r"^(advbench|benign|safe)_([a-z0-9]+)\.jsonl$")
# Benign ids: safe_image_0, safe_img_0, safe_audio_0, safe_video_0, benign_3; harmful ids: "0".."519".
_DIGITS = re.compile(r"(\d+)$")


def index_of(record_id: object) -> int | None:
    m = _DIGITS.search(str(record_id).rsplit("/", 1)[-1]) if record_id is not None else None
    return int(m.group(1)) if m else None


def ignore_reason(name: str) -> str:
    if name in IGNORED:
        return IGNORED[name]
    if name.startswith("alignment_data_"):
        return "analysis file not among the AdvBench-Omni files this loader reads (see docs/tasks.md)"
    return "not a file of the AdvBench-Omni layouts (see docs/tasks.md)"
