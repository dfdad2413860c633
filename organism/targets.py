"""Per-token media targets: which word each media token's slot holds (the slot-reading loss, the encoder alignment
and the planted variant's refit regress onto those words' input embeddings), and the towers' outputs computed once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from organism.batches import Tensors, encode_media, slot_targets

if TYPE_CHECKING:
    import torch

# `config` below is an organism.train.TrainConfig (not imported: train imports this module).


def word_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    ids = []
    for w in words:
        enc = tokenizer.encode(" " + w, add_special_tokens=False)
        if len(enc) != 1:
            raise AssertionError(f"word {w!r} is not a single token")
        ids.append(enc[0])
    return ids


def word_id_lookup(config: Any) -> Callable[[Sequence[str]], list[int]]:
    """words -> their single-token ids in the organism tokenizer (cached per word list)."""
    import functools

    from organism.architecture import build_tokenizer

    tok = build_tokenizer(config.arch)
    cached = functools.lru_cache(maxsize=None)(lambda words: tuple(word_ids(tok, words)))
    return lambda words: list(cached(tuple(words)))


def media_word_targets(tensors: Sequence[Tensors], config: Any) -> dict[int, dict[str, torch.Tensor]]:
    """Token id of the word in every media token's slot, per modality, per example (keyed by id()); examples
    without media get empty targets."""
    import torch

    lookup = word_id_lookup(config)
    out = {}
    for t in tensors:
        parts = slot_targets(t, lookup, config.strip.cell_patches, config.speech.tokens_per_word,
                             config.strip.min_slots)
        if -1 in parts["image"]:
            raise AssertionError("slot targets need strips without blank cells")
        out[id(t)] = {k: torch.tensor(v, dtype=torch.long) for k, v in parts.items()}
    return out


def align_encoders(thinker: Any, tensors: Sequence[Tensors], config: Any, progress: bool
                   ) -> tuple[list[Tensors], dict[int, torch.Tensor]]:
    """Regress the vision and audio towers (MSE) onto the language model's input embedding of the word in each
    slot; returns the media examples and their per-token target ids."""
    import torch
    from tqdm import tqdm

    embed = thinker.model.get_input_embeddings().weight.detach()
    targets = {k: torch.cat([v["image"], v["audio"]]) for k, v in media_word_targets(tensors, config).items()}
    with_media = [t for t in tensors if t.media_words]
    towers = [thinker.model.visual, thinker.model.audio_tower]
    params = [p for tower in towers for p in tower.parameters()]
    opt = torch.optim.AdamW(params, lr=config.encoder_lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / config.encoder_steps)))
    gen = torch.Generator().manual_seed(config.seed + 1)
    with tqdm(total=config.encoder_steps, disable=not progress, desc="aligning encoders", unit="step") as bar:
        for _ in range(config.encoder_steps):
            items = [with_media[int(i)] for i in torch.randint(len(with_media), (config.encoder_batch,),
                                                                generator=gen)]
            out = torch.cat([encode_media(thinker, t) for t in items])
            want = embed[torch.cat([targets[id(t)] for t in items])]
            loss = torch.nn.functional.mse_loss(out, want)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(mse=f"{float(loss.detach()):.2e}")
            bar.update(1)
    return with_media, targets


def encoded_media(thinker: Any, tensors: Sequence[Tensors]) -> dict[int, torch.Tensor]:
    """The towers' output for every example (keyed by id()), computed once (the planted variant's towers are frozen)."""
    import torch

    with torch.no_grad():
        return {id(t): encode_media(thinker, t).detach() for t in tensors}
