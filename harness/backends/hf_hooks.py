"""PyTorch hook plumbing behind `ModelBackend.layer_hooks` and the hidden-state read-outs.

User hooks see the output of a decoder layer (or, for `EMBED`, the hidden-states input of layers[0]) together
with the `ForwardState` the backend set for the forward pass under way. Read-outs are hooks of our own that
slice the needed positions on the model device, registered after the user hooks so they see modified states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from harness.backends.base import EMBED, ForwardState, LayerHook, Positions

if TYPE_CHECKING:
    import torch
    from torch.utils.hooks import RemovableHandle

StateGetter = Callable[[], ForwardState]


def check_layer(layer: object, num_layers: int) -> int:
    """`layer` if it is EMBED (-1) or a decoder-layer index, else ValueError."""
    if isinstance(layer, bool) or not isinstance(layer, int) or not EMBED <= layer < num_layers:
        raise ValueError(f"layer {layer!r} is not EMBED (-1) or a layer index in 0..{num_layers - 1}")
    return layer


def normalize_hooks(
    hooks: Mapping[int, LayerHook | Sequence[LayerHook]], num_layers: int
) -> dict[int, list[LayerHook]]:
    """Validate layer indices (EMBED or 0..num_layers-1) and turn every value into a list of hooks."""
    out: dict[int, list[LayerHook]] = {}
    for layer, value in hooks.items():
        check_layer(layer, num_layers)
        fns = [value] if callable(value) else list(value)
        if not all(callable(f) for f in fns):
            raise TypeError(f"hooks for layer {layer} must be callables (hidden, state) -> tensor | None")
        if fns:
            out[layer] = fns
    return out


def _apply(fns: list[LayerHook], hidden: torch.Tensor, state: ForwardState, layer: int) -> torch.Tensor | None:
    """Run hooks in order, each on the previous one's result; None when none of them replaced the tensor."""
    changed = False
    for fn in fns:
        new = fn(hidden, state)
        if new is None:
            continue
        if new.shape != hidden.shape:
            raise ValueError(f"hook on layer {layer} returned shape {tuple(new.shape)}, expected {tuple(hidden.shape)}")
        hidden, changed = new, True
    return hidden if changed else None


def install_layer_hooks(
    layers: Sequence[Any], hooks: dict[int, list[LayerHook]], get_state: StateGetter
) -> list[RemovableHandle]:
    """Register the hooks; the caller removes the returned handles (also on error)."""
    handles: list[RemovableHandle] = []
    try:
        for layer, fns in sorted(hooks.items()):
            if layer == EMBED:
                handles.append(layers[0].register_forward_pre_hook(_pre_hook(fns, get_state), with_kwargs=True))
            else:
                handles.append(layers[layer].register_forward_hook(_post_hook(fns, get_state, layer)))
    except BaseException:
        remove_all(handles)
        raise
    return handles


def remove_all(handles: list[RemovableHandle]) -> None:
    for handle in handles:
        handle.remove()
    handles.clear()


def _post_hook(fns: list[LayerHook], get_state: StateGetter, layer: int) -> Callable[..., Any]:
    def hook(module: Any, args: Any, output: Any) -> Any:
        # Decoder layers return a tensor in transformers 5; older ones (and some remote code) return a tuple.
        hidden = output if not isinstance(output, tuple) else output[0]
        new = _apply(fns, hidden, get_state(), layer)
        if new is None:
            return None  # keep the layer's own output object: bit-identical
        return new if not isinstance(output, tuple) else (new, *output[1:])

    return hook


def _pre_hook(fns: list[LayerHook], get_state: StateGetter) -> Callable[..., Any]:
    def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args:
            new = _apply(fns, args[0], get_state(), EMBED)
            return None if new is None else ((new, *args[1:]), kwargs)
        new = _apply(fns, kwargs["hidden_states"], get_state(), EMBED)
        return None if new is None else (args, {**kwargs, "hidden_states": new})

    return hook


def reduce_positions(hidden: torch.Tensor, positions: Positions, prompt_mask: torch.Tensor) -> torch.Tensor:
    """[B, d] (last / mean over real prompt tokens) or [B, T, d] (all), float32 on CPU; sliced on the device."""
    if positions == "last":
        return hidden[:, -1, :].float().cpu()  # left padding: the last prompt token is at T - 1 in every row
    if positions == "mean":
        mask = prompt_mask.to(device=hidden.device, dtype=hidden.dtype).unsqueeze(-1)
        summed = (hidden.float() * mask.float()).sum(dim=1)
        return (summed / mask.float().sum(dim=1).clamp_min(1.0)).cpu()
    if positions == "all":
        return hidden.float().cpu()
    raise ValueError(f"positions must be 'last', 'mean' or 'all', got {positions!r}")


@contextmanager
def readouts(
    layers: Sequence[Any], wanted: Sequence[int], positions: Positions, prompt_mask: torch.Tensor
) -> Iterator[dict[int, torch.Tensor]]:
    """Capture reduced hidden states of `wanted` layers (EMBED = input of layers[0]) during the block."""
    captured: dict[int, torch.Tensor] = {}
    handles: list[RemovableHandle] = []

    def post(layer: int) -> Callable[..., None]:
        def hook(module: Any, args: Any, output: Any) -> None:
            hidden = output if not isinstance(output, tuple) else output[0]
            captured[layer] = reduce_positions(hidden, positions, prompt_mask)

        return hook

    def pre(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        captured[EMBED] = reduce_positions(hidden, positions, prompt_mask)

    try:
        for layer in dict.fromkeys(wanted):
            if layer == EMBED:
                handles.append(layers[0].register_forward_pre_hook(pre, with_kwargs=True))
            else:
                handles.append(layers[layer].register_forward_hook(post(layer)))
        yield captured
    finally:
        remove_all(handles)
