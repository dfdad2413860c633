"""Arditi et al. (2024) direction selection (docs/reference.md, ReGap §14.1; andyrdt/refusal_direction
`select_direction.py`), adapted to the harness's layer convention.

For each candidate layer l with difference-of-means direction r_l (last prompt token, output of layers[l]):
- bypass score: mean refusal score of harmful validation prompts with r_hat_l ablated everywhere;
- induce score: mean refusal score of harmless validation prompts with r_l (coefficient 1, raw) added at layer l,
  every prompt position;
- KL: mean KL(p_base || p_ablated) of the last-position next-token distribution on harmless validation prompts.
Filters: KL > kl_max, induce score < 0, or l in the last (1 - max_layer_fraction) of the layers are discarded;
the survivor with the lowest bypass score wins. Nothing survives -> an error with the table (no silent choice).

Refusal score = log p - log(1 - p), p = total next-token probability of the refusal tokens at the last prompt
position (Arditi: "I" and "As" for Qwen; each string's first token id).

Deviations from the original, forced by the hook contract and stated here: candidates are the last prompt token
only (Arditi also scans the other post-instruction template tokens), read at the *output* of layers[l] rather
than its input (resid_pre), and ablation projects r_hat out of the embeddings (EMBED) and every decoder-layer
output, not also out of each attention / MLP output inside a layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from harness.backends.base import EMBED

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ForwardState, LayerHook, ModelBackend
    from harness.records import Sample


@dataclass(frozen=True)
class Candidate:
    layer: int
    bypass: float | None
    induce: float | None
    kl: float | None
    discarded: str  # "" for a survivor, else the reason

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SelectionError(ValueError):
    """No candidate direction survived the Arditi filters."""


def refusal_token_ids(backend: ModelBackend, tokens: Sequence[str]) -> tuple[list[int], list[str]]:
    """First token id of each refusal string (deduplicated) and notes for strings that are several tokens."""
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is None:
        raise TypeError(f"backend {type(backend).__name__} exposes no tokenizer for the refusal score")
    ids: list[int] = []
    notes: list[str] = []
    for text in tokens:
        encoded = tokenizer.encode(text, add_special_tokens=False)
        if not encoded:
            raise ValueError(f"refusal token {text!r} encodes to nothing")
        if len(encoded) > 1:
            notes.append(f"refusal token {text!r} is {len(encoded)} tokens; its first ({encoded[0]}) is used")
        if encoded[0] not in ids:
            ids.append(int(encoded[0]))
    return ids, notes


def last_logits(backend: ModelBackend, samples: Sequence[Sample], hooks: dict[int, Any] | None = None,
                batch_size: int = 8) -> torch.Tensor:
    """[N, vocab] float32 next-token logits at the last prompt position, under `hooks`."""
    import torch

    out = []
    with backend.layer_hooks(hooks or {}):
        for start in range(0, len(samples), batch_size):
            batch = backend.prepare(list(samples[start:start + batch_size]))
            logits = backend.prefill(batch, (), keep_cache=True).last_logits
            out.append(logits.float().cpu())
    return torch.cat(out)


def refusal_score(logits: torch.Tensor, token_ids: Sequence[int], eps: float = 1e-8) -> torch.Tensor:
    """[N] log p - log(1 - p) with p the summed probability of `token_ids`."""
    import torch

    p = torch.softmax(logits.double(), dim=-1)[:, list(token_ids)].sum(dim=-1)
    return (torch.log(p + eps) - torch.log(1 - p + eps)).float()


def kl_divergence(base: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """[N] KL(softmax(base) || softmax(other))."""
    import torch

    lp, lq = torch.log_softmax(base.double(), -1), torch.log_softmax(other.double(), -1)
    return (lp.exp() * (lp - lq)).sum(-1).float()


def ablation_hook(unit: torch.Tensor) -> LayerHook:
    """Project `unit` out of the hidden states at every position (computed in float32)."""
    import torch

    def hook(hidden: torch.Tensor, state: ForwardState) -> torch.Tensor:
        r = unit.to(device=hidden.device, dtype=torch.float32)
        h = hidden.float()
        return (h - (h @ r).unsqueeze(-1) * r).to(hidden.dtype)

    return hook


def addition_hook(vector: torch.Tensor) -> LayerHook:
    """Add `vector` at every real prompt position of a prefill (for the induce score)."""
    from defenses.steering import add_vector

    def hook(hidden: torch.Tensor, state: ForwardState) -> torch.Tensor | None:
        if state.phase != "prefill" or state.prompt_mask is None:
            return None
        return add_vector(hidden, state.prompt_mask, vector)

    return hook


def ablate_everywhere(backend: ModelBackend, unit: torch.Tensor) -> dict[int, LayerHook]:
    hook = ablation_hook(unit)
    return {layer: hook for layer in (EMBED, *range(backend.num_layers))}


def select_direction(backend: ModelBackend, directions: dict[int, torch.Tensor], harmful_val: Sequence[Sample],
                     harmless_val: Sequence[Sample], token_ids: Sequence[int], *, kl_max: float = 0.1,
                     max_layer_fraction: float = 0.8, batch_size: int = 8) -> tuple[int, list[Candidate]]:
    """The selected layer and the table of every candidate (raw directions keyed by layer)."""
    limit = int(max_layer_fraction * backend.num_layers)  # Arditi: layer >= int(n_layers * (1 - 0.2)) is pruned
    base_harmless = last_logits(backend, harmless_val, batch_size=batch_size)
    table: list[Candidate] = []
    for layer, raw in sorted(directions.items()):
        if layer >= limit:
            table.append(Candidate(layer, None, None, None, f"in the last {1 - max_layer_fraction:.0%} of layers"))
            continue
        unit = raw / raw.norm().clamp_min(1e-12)
        ablate = ablate_everywhere(backend, unit)
        bypass = float(refusal_score(last_logits(backend, harmful_val, ablate, batch_size), token_ids).mean())
        induce_logits = last_logits(backend, harmless_val, {layer: addition_hook(raw)}, batch_size)
        induce = float(refusal_score(induce_logits, token_ids).mean())
        kl = float(kl_divergence(base_harmless, last_logits(backend, harmless_val, ablate, batch_size)).mean())
        reason = ""
        if kl > kl_max:
            reason = f"KL {kl:.3g} > {kl_max}"
        elif induce < 0:
            reason = f"induce score {induce:.3g} < 0"
        table.append(Candidate(layer, bypass, induce, kl, reason))
    survivors = [c for c in table if not c.discarded]
    if not survivors:
        rows = "; ".join(f"layer {c.layer}: {c.discarded}" for c in table)
        raise SelectionError(f"refusal-steer: no candidate direction passed the Arditi filters ({rows})")
    best = min(survivors, key=lambda c: (c.bypass, c.layer))
    return best.layer, table
