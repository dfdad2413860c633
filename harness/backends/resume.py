"""Resumable prefills: keep what a prefill computed up to one layer, so a second prefill of the same batch under
other hooks recomputes only the layers after it.

A defense that probes a batch and then corrects it (ReGap) needs a second prefill only from its first
intervention layer on: the media encoders, the layers before it and their KV cache are the same in both passes.
`Checkpoint(layer)` handed to `prefill(..., checkpoint=c)` is filled during that pass (also when a hook stops the
pass early, after `layer`): the input embeddings (after the media encoders), the raw state at `layer` before any
user hook on it (the input of layers[0] for EMBED, else the output of layers[layer]) and the pass's KV cache.
`prefill(..., resume=c)` then skips the encoders (the embeddings are passed in), makes layers[0..layer] hand back
the stored state and KV entries instead of computing them, and runs the user hooks of `layer` and everything after
it as usual. Hooks on layers before `layer` see stand-in states and their changes are ignored, so a caller resumes
at (or before) its first hooked layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.backends.base import EMBED

if TYPE_CHECKING:
    import torch


@dataclass
class Checkpoint:
    """The state of one prefill at `layer`, filled by the backend during `prefill(..., checkpoint=...)`."""

    layer: int  # EMBED (-1) or a decoder layer index
    embeds: torch.Tensor | None = None  # [B, T, d] input embeddings (media features merged in), before hooks
    hidden: torch.Tensor | None = None  # [B, T, d] raw output of layers[layer] (None for EMBED)
    cache: Any = None  # the pass's KV cache; layers 0..layer are used
    tuple_output: bool = False  # whether the decoder layers return tuples (older transformers)
    position_ids: torch.Tensor | None = None  # the prompt's position ids (mRoPE for Qwen), computed once

    @property
    def ready(self) -> bool:
        return self.embeds is not None and (self.layer == EMBED or self.hidden is not None)


@contextmanager
def capturing(layers: Sequence[Any], checkpoint: Checkpoint) -> Iterator[None]:
    """Fill `checkpoint` during the forward passes of the block (prepended: before any user hook)."""
    handles = []

    def pre(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        checkpoint.embeds = args[0] if args else kwargs["hidden_states"]

    def post(module: Any, args: Any, output: Any) -> None:
        checkpoint.tuple_output = isinstance(output, tuple)
        checkpoint.hidden = output[0] if isinstance(output, tuple) else output

    try:
        handles.append(layers[0].register_forward_pre_hook(pre, with_kwargs=True, prepend=True))
        if checkpoint.layer != EMBED:
            handles.append(layers[checkpoint.layer].register_forward_hook(post, prepend=True))
        yield
    finally:
        for h in handles:
            h.remove()


def _layer_kv(cache: Any, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(cache, "layers"):  # transformers >= 4.56: one object per layer
        layer = cache.layers[index]
        return layer.keys, layer.values
    return cache.key_cache[index], cache.value_cache[index]


@contextmanager
def replaying(layers: Sequence[Any], checkpoint: Checkpoint, cache: Any) -> Iterator[None]:
    """Make layers[0..checkpoint.layer] return the stored state and write their stored KV entries into `cache`
    instead of computing anything (forward hooks of those modules still run)."""
    if not checkpoint.ready:
        raise ValueError("resume from a checkpoint that was not filled (its prefill stopped before the layer)")
    stored = [_layer_kv(checkpoint.cache, i) for i in range(checkpoint.layer + 1)]
    patched = []

    def stand_in(index: int):
        def forward(hidden_states: Any = None, *args: Any, **kwargs: Any) -> Any:
            key, value = stored[index]
            cache.update(key, value, index)
            out = checkpoint.hidden if index == checkpoint.layer else (
                hidden_states if hidden_states is not None else kwargs["hidden_states"])
            return (out,) if checkpoint.tuple_output else out

        return forward

    try:
        for i in range(checkpoint.layer + 1):
            # An instance attribute: module hooks still run around it. One that was there already (accelerate
            # wraps `forward` this way on multi-device models) is put back afterwards.
            patched.append((layers[i], layers[i].__dict__.get("forward")))
            layers[i].forward = stand_in(i)
        yield
    finally:
        for module, previous in patched:
            if previous is None:
                del module.forward
            else:
                module.forward = previous
