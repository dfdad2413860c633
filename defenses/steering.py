"""What a steering defense declares so the contract suite (`defenses.contract`) can test it without knowing it.

A *steering defense* changes hidden states through `ModelBackend.layer_hooks` and has one strength knob. It
declares, as class attributes and one method:

- `strength_param`: the name of the `Params` field that scales the intervention; with that field set to 0 the
  defense must produce output bit-identical to `none` (the simplest way: install no hooks at all);
- `contract`: parameters that make the defense act on the tiny random models cheaply (e.g. a small calibration
  set), and which tiny models it can run on;
- `touched_positions(state, layer)`: the [B, T] positions the hooks on `layer` change in the forward pass
  described by `state`. The contract compares it with the positions that actually changed.

Discovery is by attribute (`is_steering`), so a defense need not subclass `SteeringDefense`: ReGap or a
third-party defense can declare the same three things on its own base.

The position helpers below are the vocabulary the built-in defenses use (docs/reference.md, OmniSteer §3.5,
regap.md 7 and 13): the last prompt token of every row is position T - 1 in prefill (left padding), every decode
step has T == 1, and nothing is ever added at pad positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from defenses.base import Defense

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ForwardState

TINY_MODELS: tuple[str, ...] = ("tiny-omni", "tiny-vl", "tiny-text")
PositionSet = Literal["all", "last", "media"]
PhaseSet = Literal["prefill", "prefill_decode"]
POSITION_SETS: tuple[str, ...] = ("all", "last", "media")
PHASE_SETS: tuple[str, ...] = ("prefill", "prefill_decode")


@dataclass(frozen=True)
class ContractConfig:
    """How the contract suite instantiates a defense on the tiny models."""

    # Parameters that make the defense act (non-zero strength) and calibrate in seconds on a tiny model.
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # The tiny models (`harness list models`) the defense can run on, e.g. only those with two modalities.
    models: tuple[str, ...] = TINY_MODELS


class SteeringDefense(Defense):
    """Base of the built-in steering defenses. Subclasses set `strength_param` and implement
    `touched_positions`; `contract` defaults to the defense's own default parameters on every tiny model."""

    strength_param: ClassVar[str] = ""
    contract: ClassVar[ContractConfig] = ContractConfig()

    def strength(self) -> float:
        return float(getattr(self.params, self.strength_param))

    def touched_positions(self, state: ForwardState, layer: int) -> torch.Tensor:
        """[B, T] bool on the hidden states' device: the positions the hooks on `layer` change in this pass."""
        raise NotImplementedError


def is_steering(cls: type) -> bool:
    """True for a defense class that declares a strength parameter and the positions it touches."""
    name = getattr(cls, "strength_param", "")
    return bool(name) and callable(getattr(cls, "touched_positions", None))


def contract_config(cls: type) -> ContractConfig:
    config = getattr(cls, "contract", None)
    return config if isinstance(config, ContractConfig) else ContractConfig()


# -- position masks ------------------------------------------------------------------------------------------
def state_shape(state: ForwardState) -> tuple[int, int]:
    """(B, T) of the hidden states in the pass `state` describes (T == 1 during decode)."""
    if state.phase == "decode":
        return state.batch_size, 1
    if state.prompt_mask is None:
        raise RuntimeError("a prefill pass without a prompt mask")
    return int(state.prompt_mask.shape[0]), int(state.prompt_mask.shape[1])


def no_positions(state: ForwardState, device: Any = None) -> torch.Tensor:
    import torch

    return torch.zeros(state_shape(state), dtype=torch.bool, device=device)


def position_mask(state: ForwardState, positions: PositionSet, phases: PhaseSet, device: Any = None) -> torch.Tensor:
    """[B, T] bool mask of the positions a hook with this (positions, phases) setting changes in one pass.

    Prefill: `all` = every real prompt token (never padding), `last` = the last prompt token (T - 1),
    `media` = the image / audio / video placeholder tokens. Decode (T == 1): the new token for `all` and `last`
    when `phases` is `prefill_decode`, nothing otherwise; `media` never acts during decode (a generated token is
    not a media token).
    """
    import torch

    if positions not in POSITION_SETS:
        raise ValueError(f"positions must be one of {POSITION_SETS}, got {positions!r}")
    if phases not in PHASE_SETS:
        raise ValueError(f"phase must be one of {PHASE_SETS}, got {phases!r}")
    shape = state_shape(state)
    if state.phase == "decode":
        on = phases == "prefill_decode" and positions in ("all", "last")
        return torch.full(shape, on, dtype=torch.bool, device=device)
    if positions == "last":
        mask = torch.zeros(shape, dtype=torch.bool, device=device)
        mask[:, -1] = True
        return mask
    if state.prompt_mask is None or state.media_mask is None:
        raise RuntimeError("a prefill pass without prompt / media masks")
    if positions == "all":
        return state.prompt_mask.to(device=device, dtype=torch.bool)
    return (state.prompt_mask & state.media_mask).to(device=device, dtype=torch.bool)


def add_vector(hidden: torch.Tensor, mask: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """A new tensor: `hidden` + `vector` (float32, [d] or [B, d]) at the `mask` positions, cast back to the
    model dtype; untouched positions keep their exact bits (torch.where, not an added zero)."""
    import torch

    vec = vector.to(device=hidden.device, dtype=torch.float32)
    vec = vec.view(1, 1, -1) if vec.dim() == 1 else vec.unsqueeze(1)
    changed = (hidden.float() + vec).to(hidden.dtype)
    return torch.where(mask.to(hidden.device).unsqueeze(-1), changed, hidden)


def add_at_last(hidden: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """A new tensor with per-row float32 `vectors` [B, d] added at the last position only (computed in fp32,
    cast back, as OmniSteer's reference hook does). Cheaper than `add_vector` for long prompts: one copy."""
    import torch

    last = (hidden[:, -1, :].float() + vectors).to(hidden.dtype)
    return torch.cat([hidden[:, :-1, :], last.unsqueeze(1)], dim=1)
