"""Collect hidden states of a labelled sample set through the backend's public hook API.

Positions (per row, read during the prefill pass only):
- `last`:  the last prompt token (the token that ends `<|im_start|>assistant\\n`), the read-out of the papers;
- `mean`:  mean over real (non-pad) prompt tokens;
- `media`: mean over image / audio / video placeholder positions (rows without media give NaN);
- `text`:  mean over real prompt tokens that are not media placeholders;
- `request`: [ours] mean over the request's own tokens: media placeholders for rows with media, the typed request
  (without chat template) for text-only rows (defenses/toolkit/request.py), so paired media / text rows compare
  the same words.
The slice or masked mean is taken on the model device and only [B, d] rows are copied to the CPU (defect D4).
The forward pass stops after the deepest requested layer, since nothing later is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from harness.backends.base import ForwardState, ModelBackend, PreparedBatch
from harness.records import Sample

if TYPE_CHECKING:
    import torch

Position = Literal["last", "mean", "media", "text", "request"]
POSITIONS: tuple[str, ...] = ("last", "mean", "media", "text", "request")


class _StopForward(Exception):
    """Raised by the deepest read-out hook to skip the remaining layers."""


@dataclass
class Activations:
    """Hidden states of N samples at some layers; row i belongs to `samples[i]`."""

    layers: tuple[int, ...]
    position: str
    samples: list[Sample]
    states: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> [N, d] float32 (CPU)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    def mask(self, *, label: str | None = None, modality: str | None = None, config: str | None = None,
             where: Callable[[Sample], bool] | None = None) -> torch.Tensor:
        import torch

        keep = [(label is None or s.label == label) and (modality is None or s.modality == modality)
                and (config is None or s.config == config) and (where is None or where(s)) for s in self.samples]
        return torch.tensor(keep, dtype=torch.bool)

    def subset(self, mask: torch.Tensor) -> Activations:
        idx = mask.nonzero().flatten().tolist()
        return Activations(self.layers, self.position, [self.samples[i] for i in idx],
                           {layer: t[mask] for layer, t in self.states.items()})


def _reduce(hidden: torch.Tensor, state: ForwardState, position: str, typed: torch.Tensor | None = None
            ) -> torch.Tensor:
    import torch

    if position == "last":
        return hidden[:, -1, :].float()
    if state.prompt_mask is None or state.media_mask is None:
        raise RuntimeError("prompt/media masks missing in a prefill pass")
    prompt = state.prompt_mask.to(hidden.device).bool()
    media = state.media_mask.to(hidden.device).bool()
    if position == "request":
        from defenses.toolkit.request import request_mask

        assert typed is not None
        mask = request_mask(typed, prompt, media)
    else:
        mask = {"mean": prompt, "media": prompt & media, "text": prompt & ~media}[position]
    weights = mask.unsqueeze(-1).to(torch.float32)
    total = (hidden.float() * weights).sum(dim=1)
    count = weights.sum(dim=1)
    return total / count  # rows with no such position give NaN on purpose


def _merge_hooks(extra_hooks: Mapping[int, Any] | None, readers: Mapping[int, Any]) -> dict[int, list]:
    """Extra hooks first, so the read-outs see their modifications."""
    hooks: dict[int, list] = {}
    for layer, fns in (extra_hooks or {}).items():
        hooks.setdefault(layer, []).extend(fns if isinstance(fns, (list, tuple)) else [fns])
    for layer, fn in readers.items():
        hooks.setdefault(layer, []).append(fn)
    return hooks


def read_batch(
    backend: ModelBackend,
    batch: PreparedBatch,
    layers: Sequence[int],
    *,
    position: Position = "last",
    extra_hooks: Mapping[int, Any] | None = None,
) -> dict[int, torch.Tensor]:
    """States [B, d] (float32, CPU) of an already prepared batch at `layers`, from one prefill that stops after
    the deepest of them. For defenses that probe the very batch they are about to generate (e.g. a classifier
    on hidden states), so the prompts are not processed twice."""
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    wanted = tuple(sorted(set(layers)))
    if not wanted:
        raise ValueError("read_batch needs at least one layer")
    deepest = wanted[-1]
    current: dict[int, torch.Tensor] = {}
    typed = None
    if position == "request":
        from defenses.toolkit.request import typed_request_mask

        typed = typed_request_mask(backend, batch)

    def reader(layer: int):
        def hook(hidden: torch.Tensor, state: ForwardState) -> None:
            if state.phase != "prefill":
                return None
            current[layer] = _reduce(hidden, state, position, typed).detach().cpu()
            if layer == deepest:
                raise _StopForward
            return None

        return hook

    with backend.layer_hooks(_merge_hooks(extra_hooks, {layer: reader(layer) for layer in wanted})):
        try:
            backend.prefill(batch, ())
        except _StopForward:
            pass
    missing = [layer for layer in wanted if layer not in current]
    if missing:
        raise RuntimeError(f"no hidden states captured at layers {missing}")
    return {layer: current[layer] for layer in wanted}


def collect(
    backend: ModelBackend,
    samples: Sequence[Sample],
    layers: Sequence[int],
    *,
    position: Position = "last",
    batch_size: int = 8,
    extra_hooks: Mapping[int, Any] | None = None,
    progress: bool = False,
    desc: str = "collecting",
) -> Activations:
    """Run the prompts of `samples` (prefill only) and return their states at `layers`.

    `extra_hooks` (layer -> hook) are installed first, so the read-out sees their modifications: this is how
    a defense reads states *after* its own correction (e.g. ReGap's self-rectification probe, or OmniSteer's
    sequential training, which reads layer L with the adapters of earlier layers active).
    """
    import torch
    from tqdm import tqdm

    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    wanted = tuple(sorted(set(layers)))
    if not wanted:
        raise ValueError("collect needs at least one layer")
    chunks: dict[int, list[torch.Tensor]] = {layer: [] for layer in wanted}
    ordered = list(samples)
    with tqdm(total=len(ordered), disable=not progress, desc=desc, unit="sample") as bar:
        for start in range(0, len(ordered), batch_size):
            batch = backend.prepare(ordered[start:start + batch_size])
            states = read_batch(backend, batch, wanted, position=position, extra_hooks=extra_hooks)
            for layer in wanted:
                chunks[layer].append(states[layer])
            bar.update(batch.size)
    return Activations(wanted, position, ordered, {layer: torch.cat(chunks[layer]) for layer in wanted})
