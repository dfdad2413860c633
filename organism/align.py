"""The understanding stage's representation alignment (`TrainConfig.align`; organism-v2, docs/organism.md): a
media request and its typed twin should have the same hidden states at the last prompt token and at the first
teacher-forced answer positions.

Media requests of both labels are fed for this loss only: their rows get no answer target (no refusal, no
compliance; the answer tokens, the typed request's answer, are only teacher-forced input), only the distance of
their states to the typed twin's (detached) at the chosen layers, centred per configuration and position within the
step, so a constant offset per configuration may remain (a drift, as in real models). The twins' harmful-minus-benign
direction at the last prompt token can be weighed less or more (`refusal_weight`), one weight for every configuration
or one per alignment bucket (speech needs more of it than images to become separable; docs/organism.md), and at a
given layer a harmful media request can be aligned to its twin moved back along that direction, so that it carries
only a fraction of the typed harm component there (`harm_fraction`, per layer: the harm is read in full at one layer
and only partly passed on at the next, so it is understood without the refusal being carried over in full). The
direction is this batch's, or a running mean over steps (`HarmDirection`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from organism.batches import Batch, SharedPrefix, Tensors

ALIGN_KINDS: tuple[str, ...] = ("align-image", "align-audio", "align-t2i")
TWIN_KINDS: tuple[str, ...] = ("twin-image", "twin-audio", "twin-t2i")


def twin_kind(kind: str) -> str:
    return "twin-" + kind.removeprefix("align-")


def answer_mask(items: Sequence[Tensors], batch: Batch) -> torch.Tensor:
    """Which of the batch's answer targets are trained (those of rows that are not alignment rows)."""
    import torch

    keep = torch.tensor([t.kind not in ALIGN_KINDS for t in items])
    return keep[batch.target_rows]


def weigh_direction(diff: torch.Tensor, direction: torch.Tensor, weight: float | Sequence[float]) -> torch.Tensor:
    """`diff` with its component along `direction` scaled so that its squared length counts `weight` times (one
    weight, or one per row of `diff`)."""
    import torch

    unit = direction / direction.norm().clamp_min(1e-8)
    if isinstance(weight, (int, float)):
        shrink: float | torch.Tensor = 1.0 - weight ** 0.5
    else:
        shrink = (1.0 - torch.tensor(list(weight), dtype=diff.dtype).sqrt())[:, None]
    return diff - shrink * (diff @ unit)[:, None] * unit[None]


RefusalWeight = float | Mapping[str, float] | Sequence[tuple[str, float]]


class HarmDirection:
    """The typed twins' harmful-minus-benign state at the last prompt token per layer: a running mean over training
    steps (`momentum` > 0; less noisy than one batch's ten rows), or this batch's alone (0)."""

    def __init__(self, momentum: float = 0.0) -> None:
        self.momentum = momentum
        self.by_layer: dict[int, torch.Tensor] = {}

    def update(self, layer: int, batch: torch.Tensor | None) -> torch.Tensor | None:
        """The direction to use for `layer` after seeing this batch's (None: the batch lacks a label)."""
        if not self.momentum:
            return batch
        last = self.by_layer.get(layer)
        if batch is not None:
            last = batch if last is None else self.momentum * last + (1 - self.momentum) * batch
            self.by_layer[layer] = last
        return last


class RefusalCap:
    """Integral control of the harm fraction per alignment bucket: each step, the running mean (`momentum`) of the
    bucket's refusal probability (`refusal_probability`) minus `target`, times `gain`, is added to the bucket's
    reduction, kept within [0, 1]; the fraction of its harmful rows at every layer aligned with a fraction below 1
    is that fraction x (1 - reduction). While the running mean stays below the target nothing changes (a run that
    never crosses it is the run without the cap, bit for bit)."""

    def __init__(self, target: float, gain: float, momentum: float = 0.0) -> None:
        self.target = target
        self.gain = gain
        self.momentum = momentum
        self.mean: dict[str, float] = {}
        self.reduction: dict[str, float] = {}

    def scale(self, kind: str) -> float:
        return 1.0 - self.reduction.get(kind, 0.0)

    def observe(self, refusal_probability: Mapping[str, float]) -> None:
        for kind, p in refusal_probability.items():
            last = self.mean.get(kind)
            mean = self.mean[kind] = p if last is None else self.momentum * last + (1 - self.momentum) * p
            self.reduction[kind] = min(1.0, max(0.0, self.reduction.get(kind, 0.0) + self.gain * (mean - self.target)))

    def summary(self) -> dict[str, float]:
        """The scale each bucket's partial harm fraction ended at (1: never reduced)."""
        return {kind: round(self.scale(kind), 4) for kind in ALIGN_KINDS if kind in self.mean}


def refusal_probability(thinker: Any, items: Sequence[Tensors], states: Sequence[torch.Tensor]) -> dict[str, float]:
    """Per alignment bucket, the mean over its harmful rows of the probability of the refusal's first token (the
    typed twin's first answer token, teacher-forced in the row) at the last prompt token: the chance that the
    answer starts as a refusal. Read without gradient."""
    import torch

    rows = [b for b, t in enumerate(items) if t.kind in ALIGN_KINDS and t.label == "harmful"]
    if not rows:
        return {}
    with torch.no_grad():
        at = torch.tensor([items[b].answer_start - 1 for b in rows])
        first = torch.tensor([int(items[b].input_ids[items[b].answer_start]) for b in rows])
        probs = thinker.lm_head(states[-1][torch.tensor(rows), at]).float().softmax(-1)
        chance = probs[torch.arange(len(rows)), first].tolist()
    by_kind: dict[str, list[float]] = {}
    for b, p in zip(rows, chance):
        by_kind.setdefault(items[b].kind, []).append(p)
    return {kind: sum(v) / len(v) for kind, v in by_kind.items()}


def row_weights(refusal_weight: RefusalWeight, kinds: Sequence[str]) -> float | list[float] | None:
    """A value per alignment row: one for every row, or one per row by its alignment bucket (1 for a bucket not
    named); None where every value is 1."""
    if isinstance(refusal_weight, (int, float)):
        return None if refusal_weight == 1.0 else float(refusal_weight)
    by_kind = dict(refusal_weight)
    unknown = set(by_kind) - set(ALIGN_KINDS)
    if unknown:
        raise ValueError(f"refusal weights for unknown alignment buckets {sorted(unknown)}")
    weights = [float(by_kind.get(k, 1.0)) for k in kinds]
    return None if all(w == 1.0 for w in weights) else weights


def layer_fractions(harm_fraction: float | Mapping[int, float] | Sequence[tuple[int, float]],
                    layers: Sequence[int]) -> dict[int, float]:
    """The fraction of the typed harm component a harmful media request is aligned to, per aligned layer."""
    if isinstance(harm_fraction, (int, float)):
        return {layer: float(harm_fraction) for layer in layers}
    by_layer = {int(k): float(v) for k, v in dict(harm_fraction).items()}
    unknown = set(by_layer) - set(layers)
    if unknown:
        raise ValueError(f"harm fractions for layers {sorted(unknown)} that are not aligned (layers {list(layers)})")
    return {layer: by_layer.get(layer, 1.0) for layer in layers}


def align_loss(thinker: Any, prefix: SharedPrefix, items: Sequence[Tensors], picks: Sequence[tuple[str, int]],
               buckets: dict[str, list[Tensors]], states: Sequence[torch.Tensor], layers: Sequence[int],
               pad: int, answer_positions: int = 0, refusal_weight: RefusalWeight = 1.0,
               harm_fraction: float | Mapping[int, float] | Sequence[tuple[int, float]] = 1.0,
               direction: HarmDirection | None = None, cap: RefusalCap | None = None) -> torch.Tensor:
    """Mean squared distance (over `layers`, in units of the twins' mean squared norm) between each alignment row's
    last-prompt-token state (and its first `answer_positions` teacher-forced answer tokens, the twin's answer) and
    its typed twin's, after removing the mean difference per configuration and position. At the last prompt token a
    harmful row's target is its twin moved back by (1 - `harm_fraction` of the layer; 1 for a layer not named) of the
    harmful-minus-benign direction, whose component counts `refusal_weight` times; `cap` scales a fraction below 1
    per alignment bucket."""
    import torch

    from organism.batches import collate
    from organism.forward import forward_states

    rows = [b for b, t in enumerate(items) if t.kind in ALIGN_KINDS]
    if not rows:
        return torch.zeros(())
    twins = [buckets[twin_kind(picks[b][0])][picks[b][1]] for b in rows]
    twin_batch = collate(twins, pad)
    with torch.no_grad():
        twin_states = forward_states(thinker, prefix, twin_batch,
                                     thinker.model.get_input_embeddings()(twin_batch.input_ids))
    # the last prompt token and the first `answer_positions` teacher-forced answer tokens (same answer in both)
    steps = range(answer_positions + 1)
    last = torch.tensor([items[b].answer_start - 1 + j for b in rows for j in steps])
    twin_last = torch.tensor([t.answer_start - 1 + j for t in twins for j in steps])
    row_ids = torch.tensor([b for b in rows for _ in steps])
    twin_ids = torch.tensor([i for i in range(len(twins)) for _ in steps])
    kinds = [f"{items[b].kind}:{j}" for b in rows for j in steps]
    row_kinds = [items[b].kind for b in rows for _ in steps]
    weights = row_weights(refusal_weight, row_kinds)
    fractions = layer_fractions(harm_fraction, layers)
    direction = direction or HarmDirection()
    total = torch.zeros(())
    for layer in layers:
        mine = states[layer + 1][row_ids, last]
        theirs = twin_states[layer + 1][twin_ids, twin_last].detach()
        diff = mine - theirs
        if weights is not None or fractions[layer] != 1.0:  # the harmful-minus-benign direction, at the last token
            last_step = torch.tensor([j == 0 for _ in rows for j in steps])
            harm = torch.tensor([items[b].label == "harmful" for b in rows for _ in steps])
            r = None
            if (harm & last_step).any() and (~harm & last_step).any():
                r = theirs[harm & last_step].mean(0) - theirs[~harm & last_step].mean(0)
            r = direction.update(layer, r)
            if r is not None and fractions[layer] != 1.0:
                kept = torch.tensor([fractions[layer] * (cap.scale(items[b].kind) if cap else 1.0)
                                     for b in rows for _ in steps])
                shift = (harm & last_step).float() * (1.0 - kept)
                diff = mine - (theirs - shift[:, None] * r[None])
            if r is not None and weights is not None:
                diff = torch.where(last_step[:, None], weigh_direction(diff, r, weights), diff)
        for kind in set(kinds):
            sel = torch.tensor([k == kind for k in kinds])
            centred = diff[sel] - diff[sel].mean(0, keepdim=True)
            total = total + (centred.pow(2).sum(-1).mean() / theirs.pow(2).sum(-1).mean()) * sel.sum() / len(kinds)
    return total / len(layers)
