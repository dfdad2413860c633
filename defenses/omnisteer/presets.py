"""Per-model OmniSteer hyperparameters (docs/reference.md, OmniSteer §3.2-3.3) and how a model picks its preset.

The three published models' values come from the reference training scripts [code]. Each exists in the default
`sequential` mode (adapters trained in the order they are applied, defect D3) and as a `-reference` variant in
`independent` mode (every adapter trained on unmodified activations, as the reference code did) for reproduction.
The `tiny` preset only makes the plumbing run on the 3-layer random models. Presets for other models must be
chosen on a validation split and say so in `source`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from harness.registry import UnknownNameError

Mode = Literal["sequential", "independent"]
MODES: tuple[str, ...] = ("sequential", "independent")


@dataclass(frozen=True)
class Preset:
    name: str
    layers: tuple[int, ...]
    a: float  # harmful target: projection >= a * n_L
    b: float  # benign pull: projection <= -b * n_L
    beta_h: float  # L1 weight on k for harmful items
    beta_s: float  # L1 weight on k for benign items
    lr: float
    epochs: int = 3
    batch_size: int = 4
    bottleneck: int = 128
    mode: Mode = "sequential"
    data: str | None = None  # default calibration selector, where the preset belongs to a harness model
    validation: str | None = None  # default validation selector
    data_part: str = ""  # default part of `data`'s sources (e.g. "0-80%")
    validation_part: str = ""  # default part of `validation`'s sources (e.g. "80-100%" of the same task)
    source: str = ""
    beta_scales: tuple[float, ...] = (1.0,)  # L1 weights tried per layer, x (beta_h, beta_s) (train.fit_scaled)


_PUBLISHED = (
    Preset("qwen2.5-omni-7b", (15, 16, 17), 0.3, 0.5, 0.01, 0.05, 1e-3,
           source="reference train.sh / train_safety_adapter_qwen.py [code]"),
    Preset("baichuan-omni-1.5", (15, 16, 17, 18, 19, 20), 0.8, 0.4, 0.01, 0.02, 1e-3,
           source="reference train_safety_adapter_baichuan.py [code]"),
    Preset("minicpm-o-2.6", (13, 14, 15, 16, 17), 10.0, 3.0, 0.005, 0.01, 5e-4,
           source="reference train_safety_adapter_minicpm_o.py [code]"),
)
_REFERENCE = tuple(
    replace(p, name=f"{p.name}-reference", mode="independent",
            source=f"{p.source}; independent mode as in the reference code (defect D3 reproduced on purpose)")
    for p in _PUBLISHED
)
_TINY = (
    Preset("tiny", (0, 1), 0.3, 0.5, 0.01, 0.05, 1e-3, epochs=2,
           source="plumbing only: the tiny random 3-layer models (hidden size 64)"),
    # Trained as the paper trains it: golden vectors and adapters from the calibration split with media (every
    # configuration, harmful and benign); checkpoints chosen on a held-out fifth of the same split's sources, so
    # organism-validation stays free for tuning the inference strength (`scale`) and the test split is never seen.
    # 20 epochs (the paper's lr): of five schedules (lr 1e-3 / 3e-3 / 1e-2 x 3 / 10 / 20 epochs), the lowest held-out
    # objective summed over layers and averaged over four organisms (both variants, seeds 0 and 1); 3 epochs over 292
    # items (228 steps) left the adapters where they started (docs/reference.md, OmniSteer §3.2).
    # The L1 weights at 1, 0.3 and 0.1 times Qwen's, per layer, the one that leaves the most held-out items on the
    # right side of their hinge kept: the organisms' golden norms run from 17 to 78, and at the larger ones Qwen's
    # L1 weights hold k at 0 (an organism-v2 seed trained nothing with them).
    Preset("organism", (1, 2), 0.3, 0.5, 0.01, 0.05, 1e-3, epochs=20, data="organism-calibration",
           validation="organism-calibration", data_part="0-80%", validation_part="80-100%",
           beta_scales=(1.0, 0.3, 0.1),
           source="the 4-layer model organisms: the Qwen2.5-Omni-7B loss parameters at the two middle layers, 20 "
                  "epochs; trained on organism-calibration [0-80%] with media, checkpoints on organism-calibration "
                  "[80-100%], the L1 weights per layer at 1, 0.3 or 0.1 times those by held-out hinge satisfaction "
                  "[project]; the strength (scale) is tuned on organism-validation (benchmarks/defense_tuning.py)"),
)
PRESETS = MappingProxyType({p.name: p for p in (*_PUBLISHED, *_REFERENCE, *_TINY)})

# Model name (alias, hub id or path; matched case-insensitively) -> preset, for `preset=auto`.
_AUTO: tuple[tuple[str, str], ...] = (
    (r"qwen2\.5-omni-7b", "qwen2.5-omni-7b"),
    (r"baichuan-omni-1d5|baichuan-omni-1\.5", "baichuan-omni-1.5"),
    (r"minicpm-o-2_6|minicpm-o-2\.6", "minicpm-o-2.6"),
    (r"^tiny-(omni|vl|text)$", "tiny"),
    (r"^organism(-planted|-v2)?$", "organism"),
)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UnknownNameError("omnisteer preset", name, sorted(PRESETS))
    return PRESETS[name]


def auto_preset(model_name: str) -> Preset:
    """The preset for a model as the user named it (a hub id, a name, or a local directory: then its folder name
    counts too, e.g. a retrained organism in DIR/organism); an error naming the presets when none matches."""
    from pathlib import PurePath

    for name in dict.fromkeys((model_name, PurePath(model_name).name)):
        for pattern, preset in _AUTO:
            if re.search(pattern, name, flags=re.IGNORECASE):
                return PRESETS[preset]
    raise ValueError(f"omnisteer: no preset for model {model_name!r}; pass preset=NAME "
                     f"({', '.join(sorted(PRESETS))}) or layers=[...] with the loss parameters")
