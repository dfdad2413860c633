"""`my-defense`: contrast-pair steering at the last position, written only against the harness's public API.

Setup reads the last-prompt-token state of two prompts (a refusal-style and a compliance-style one) at `layer`
and keeps their difference as a unit direction. At inference a hook adds `strength` times that direction at the
last position of `layer` in every forward pass (the last prompt token, then each generated token).

It declares what the contract suite needs (`strength_param`, `contract`, `touched_positions`), so
`harness check-defense my-defense` tests it like the built-in steering defenses. It is an example of the plugin
mechanics, not a method with published results.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from defenses.base import DefenseContext
from defenses.steering import ContractConfig, SteeringDefense, add_at_last, no_positions, position_mask
from harness.records import Sample, user_message


@dataclass
class NudgeParams:
    """layer: where the direction is read and added (output of layers[layer]); strength: the added norm
    (0 = no intervention); positive / negative: the contrast pair."""

    layer: int = 1
    strength: float = 4.0
    positive: str = "I cannot help with that request."
    negative: str = "Sure, here is how to do that."


class ContrastPairNudge(SteeringDefense):
    name = "my-defense"
    description = "example plugin: contrast-pair direction added at the last position of one layer"
    Params = NudgeParams
    strength_param = "strength"
    contract = ContractConfig(params=MappingProxyType({"layer": 1, "strength": 4.0}),
                              models=("tiny-text", "tiny-omni"))

    def setup(self, backend: Any, context: DefenseContext) -> None:
        p: NudgeParams = self.params
        if not 0 <= p.layer < backend.num_layers:
            raise ValueError(f"my-defense: layer {p.layer} is outside 0..{backend.num_layers - 1}")
        pair = [Sample(id=f"my-defense/{i}", task="my-defense", config="pair", label="benign",
                       messages=(user_message(text),)) for i, text in enumerate((p.positive, p.negative))]
        states = backend.hidden_states(backend.prepare(pair), [p.layer])[p.layer]  # [2, d] float32
        diff = states[0] - states[1]
        self.direction = diff / diff.norm().clamp_min(1e-12)

    def hooks(self, backend: Any, batch: Any) -> dict:
        p: NudgeParams = self.params
        if p.strength == 0:
            return {}  # no hook at all: identical to `none`
        vector = p.strength * self.direction

        def hook(hidden, state):
            return add_at_last(hidden, vector.to(hidden.device).expand(hidden.shape[0], -1))

        return {p.layer: hook}

    def touched_positions(self, state: Any, layer: int):
        if self.params.strength == 0 or layer != self.params.layer:
            return no_positions(state)
        return position_mask(state, "last", "prefill_decode")
