"""Layer specifications shared by the steering defenses: `all`, `band:A-B`, single layers, explicit lists.

Indices follow the contract's layer convention (layer L = output of decoder module ``layers[L]``;
harness/backends/base.py). A spec is parsed when a defense's parameters are built (syntax errors fail before
any model loads) and resolved against the model depth at setup time (range errors name the depth, defect D13).

    all             every decoder layer
    band:9-18       layers 9..18, both ends included
    band:25%-50%    the same by depth: a percentage p means layer floor(p / 100 * num_layers), clamped
    12  or  40%     one layer
    [3, 4, 5]  or  "3,4,5"   an explicit list
    embed  or  [embed, 0]    the input embeddings (EMBED = -1: the input of layers[0], after the media encoders'
                             features were merged in), alone or with decoder layers [ours: an extension for
                             ReGap's per-token drift, which can live at the input embeddings]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_POINT = r"\d+(?:\.\d+)?%|\d+"
_BAND = re.compile(rf"^band:\s*({_POINT})\s*-\s*({_POINT})$")
_SINGLE = re.compile(rf"^({_POINT}|embed)$")
EMBED_NAME = "embed"
EMBED_INDEX = -1  # the backends' EMBED


@dataclass(frozen=True)
class LayerSpec:
    """A parsed layer specification; `resolve(num_layers)` gives the sorted layer indices."""

    text: str
    kind: str  # "all" | "band" | "list"
    points: tuple[str, ...] = ()  # band ends or list entries, each "12" or "25%"

    @classmethod
    def parse(cls, spec: str | int | Sequence[int]) -> LayerSpec:
        if isinstance(spec, bool):
            raise ValueError(f"layer spec must be 'all', 'band:A-B', a layer or a list of layers, got {spec!r}")
        if isinstance(spec, int):
            return cls(str(spec), "list", (str(spec),))
        if not isinstance(spec, str):
            items = list(spec)
            if not items or not all((isinstance(i, int) and not isinstance(i, bool)) or i == EMBED_NAME
                                    for i in items):
                raise ValueError(f"a layer list must hold integers (or 'embed'), got {spec!r}")
            return cls(",".join(map(str, items)), "list", tuple(map(str, items)))
        text = spec.strip().replace(" ", "")
        if text == "all":
            return cls(text, "all")
        band = _BAND.match(text)
        if band:
            return cls(text, "band", (band.group(1), band.group(2)))
        entries = [e for e in text.strip("[]").split(",") if e]
        if entries and all(_SINGLE.match(e) for e in entries):
            return cls(text, "list", tuple(entries))
        raise ValueError(f"layer spec {spec!r} is not 'all', 'band:A-B' (indices or percentages), a layer "
                         "(12 or 40%), a list of layers (3,4,5) or 'embed' (the input embeddings)")

    def resolve(self, num_layers: int) -> tuple[int, ...]:
        if num_layers < 1:
            raise ValueError("the model has no decoder layers")
        if self.kind == "all":
            return tuple(range(num_layers))
        idx = [self._index(p, num_layers) for p in self.points]
        if self.kind == "band":
            lo, hi = idx
            if lo > hi:
                raise ValueError(f"layer band {self.text!r} runs backwards ({lo} > {hi})")
            return tuple(range(lo, hi + 1))
        return tuple(sorted(set(idx)))

    def _index(self, point: str, num_layers: int) -> int:
        if point == EMBED_NAME:
            return EMBED_INDEX
        if point.endswith("%"):
            pct = float(point[:-1])
            if not 0.0 <= pct <= 100.0:
                raise ValueError(f"layer spec {self.text!r}: {point} is not a percentage of depth in 0..100")
            return min(int(pct / 100.0 * num_layers), num_layers - 1)
        layer = int(point)
        if not 0 <= layer < num_layers:
            raise ValueError(f"layer spec {self.text!r}: layer {layer} does not exist; the model has "
                             f"{num_layers} decoder layers (0..{num_layers - 1})")
        return layer


def nearest_deeper(num_layers: int, after: int, target_fraction: float) -> int:
    """The layer closest to `target_fraction` of depth that is strictly deeper than `after` (the deepest layer if
    none is); ValueError when `after` is already the last layer."""
    if after >= num_layers - 1:
        raise ValueError(f"no layer is deeper than {after} in a {num_layers}-layer model")
    target = int(target_fraction * num_layers)
    return max(after + 1, min(target, num_layers - 1))
