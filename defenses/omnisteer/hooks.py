"""The OmniSteer intervention as a layer hook (docs/reference.md, OmniSteer §3.5).

On every forward pass through a target layer: take the last position h (the last prompt token in prefill, the
newest generated token in each decode step), k = A_L(h) in float32, and add k * d_L at that position only. The
same hook is used at inference and, in sequential training, to produce the inputs of the later layers' adapters,
so training sees exactly what inference does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from defenses.steering import add_at_last

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ForwardState, LayerHook


def steer_hook(adapter: torch.nn.Module, unit: torch.Tensor, *, scale: float = 1.0,
               record: list[torch.Tensor] | None = None) -> LayerHook:
    """A hook adding `scale` * k(h) * `unit` at the last position; k per row is appended to `record` ([B] float32 on
    the model device, one tensor per forward pass, the prefill first) when given. It stays on the device: a copy to
    the CPU in every decode step would wait for the GPU each time; the caller copies once after generation."""
    import torch

    cache: dict[torch.device, tuple[torch.nn.Module, torch.Tensor]] = {}

    def placed(device: torch.device) -> tuple[torch.nn.Module, torch.Tensor]:
        # Adapters stay float32 and move once to the layer's device (models may be split over devices).
        if device not in cache:
            cache[device] = (adapter.to(device), unit.to(device=device, dtype=torch.float32))
        return cache[device]

    def hook(hidden: torch.Tensor, state: ForwardState) -> torch.Tensor:
        module, direction = placed(hidden.device)
        with torch.no_grad():
            k = module(hidden[:, -1, :].float())  # [B, 1]
            if scale != 1.0:
                k = k * scale
            if record is not None:
                record.append(k.detach().squeeze(-1))
            return add_at_last(hidden, k * direction)

    return hook
