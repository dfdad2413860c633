"""Training the organisms (deterministic for a seed on a given machine and software stack).

`organism` (realistic): the vision tower, audio tower and language model are trained jointly, from random
initialisation, on the mixture of `pool.py` (text safety data; benign image / audio / t2i requests; reading).
Whatever makes image and audio requests escape the text refusal is learned, not planted.

`organism-planted` (organism/planted.py): built on a trained `organism`: the towers' last layers refit
in closed form onto the word embeddings, a known vector per modality added to their biases, and the language
model retrained on the resulting media embeddings with towers and input embeddings frozen.

The recipes (`TrainConfig`, each variant's default) are in recipes.py.

Determinism: fixed seeds for initialisation, data pool and batch order; `torch.use_deterministic_algorithms`;
a fixed thread count (results can differ across thread counts, CPU types and library versions).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from organism.architecture import load_full, new_model
from organism.batches import SharedPrefix, Tensors, collate, prepare_examples, split_prefix
from organism.forward import forward_hidden, forward_states, merge_media, tower_features
from organism.pool import KINDS, build_pool
from organism.recipes import TrainConfig, default_config
from organism.samples import OrganismMedia
from organism.targets import align_encoders, encoded_media, media_word_targets, word_id_lookup

if TYPE_CHECKING:
    import torch

    from organism.align import RefusalCap


@contextmanager
def deterministic(seed: int, threads: int) -> Iterator[None]:
    """Seeded, deterministic torch for the block; the caller's RNG state, thread count and flags come back."""
    import torch

    threads_before = torch.get_num_threads()
    det_before = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(det_before)
        torch.set_num_threads(threads_before)


@dataclass
class TrainResult:
    config: TrainConfig
    seconds: dict[str, float]
    losses: list[float]
    pool_counts: dict[str, int]
    planted: dict[str, Any] = field(default_factory=dict)
    parameters: int = 0
    understanding: dict[str, Any] = field(default_factory=dict)  # what the understanding stage reports


def train(config: TrainConfig, out_dir: Path, cache_dir: Path, *, progress: bool = True,
          log: Callable[[str], None] = print) -> TrainResult:
    """Train `config.variant` and save it (hub layout, with processor) into `out_dir`."""
    if config.variant == "organism-planted" and config.tune_steps:
        return _planted_then_understanding(config, Path(out_dir), Path(cache_dir), progress, log)
    return _train(config, out_dir, cache_dir, progress=progress, log=log)


def _planted_then_understanding(config: TrainConfig, out_dir: Path, cache_dir: Path, progress: bool,
                                log: Callable[[str], None]) -> TrainResult:
    """organism-planted: the planted build (a temporary folder), then the understanding stage on it, run as on any
    loaded base (its own pool, seeding and thread count) with towers and input embeddings frozen."""
    import tempfile

    t_all = time.perf_counter()
    from organism.planted import load_vectors

    with tempfile.TemporaryDirectory(prefix="organism-planted-") as first:
        built = _train(replace(config, tune_steps=0, align=0.0), Path(first), cache_dir, progress=progress, log=log)
        stage = replace(config, base=first, threads=config.tune_threads, pool=config.tune_pool or config.pool)
        tuned = _train(stage, out_dir, cache_dir, progress=progress, log=log, planted_vectors=load_vectors(first))
    seconds = {**{k: v for k, v in built.seconds.items() if k != "total"},
               **{f"stage {k}": v for k, v in tuned.seconds.items() if k != "total"},
               "total": time.perf_counter() - t_all}
    counts = {**built.pool_counts, **{f"stage {k}": v for k, v in tuned.pool_counts.items()}}
    return TrainResult(config, seconds, built.losses + tuned.losses, counts, built.planted, built.parameters,
                       tuned.understanding)


def _train(config: TrainConfig, out_dir: Path, cache_dir: Path, *, progress: bool, log: Callable[[str], None],
           planted_vectors: dict[str, torch.Tensor] | None = None) -> TrainResult:
    """One stage from random initialisation or a trained base. `planted_vectors`: the base is a planted organism
    with these vectors, and this is its understanding stage (media embeddings given, layout examples without the
    planted vectors; the vectors saved with the result)."""
    import tempfile

    from harness.backends.qwen_omni import QwenOmniBackend
    from harness.tiny_models import save_omni

    out_dir = Path(out_dir)
    seconds: dict[str, float] = {}
    planted = config.variant == "organism-planted" and planted_vectors is None
    from_base = planted or bool(config.base)
    # Resolved (perhaps trained) before this run's seeding and clock, so neither the weights nor the recorded time
    # depend on whether the base existed.
    base_dir = _base_dir(config.base, cache_dir, config.seed) if from_base else None
    t_all = time.perf_counter()
    with deterministic(config.seed, config.threads):
        if base_dir is not None:  # a trained organism is the starting point; it is loaded as saved
            model, processor = load_full(base_dir)
            backend = QwenOmniBackend(str(base_dir))
            backend.load()
        else:
            model, processor = new_model(config.arch, config.strip, config.speech, config.seed)
            with tempfile.TemporaryDirectory(prefix="organism-init-") as init_dir:
                save_omni(model, processor, Path(init_dir))  # loaded back through the real backend below
                backend = QwenOmniBackend(init_dir)
                backend.load()
        t0 = time.perf_counter()
        media = OrganismMedia(cache_dir, config.strip, config.speech)
        pool = build_pool(media, config.seed, config.pool)
        seconds["render"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tensors = prepare_examples(backend, pool.examples(), progress=progress)
        seconds["prepare"] = time.perf_counter() - t0
        thinker = backend.model
        prefix, tensors = split_prefix(tensors, _media_token_ids(thinker))
        buckets = {k: [t for t in tensors if t.kind == k] for k in KINDS}
        pad = backend.pad_id()
        report: dict[str, Any] = {}
        stage: dict[str, Any] = {}
        t0 = time.perf_counter()
        if planted:
            from organism.planted import without_planted

            report = _plant(thinker, tensors, config)
            seconds["refit"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            losses = _train_lm(thinker, prefix, buckets, config, pad, progress,
                               media_embeds=without_planted(encoded_media(thinker, tensors), tensors,
                                                            report["vectors"]))
        else:
            if config.encoder_steps:
                align_encoders(thinker, tensors, config, progress)
                seconds["encoders"] = time.perf_counter() - t0
                t0 = time.perf_counter()
            targets = media_word_targets(tensors, config) if config.slot_loss else None
            losses = [] if from_base else _train_lm(thinker, prefix, buckets, config, pad, progress,
                                                    word_targets=targets)
            if not from_base:
                seconds["train"] = time.perf_counter() - t0
            if config.tune_steps:
                t0 = time.perf_counter()
                given = None
                if planted_vectors is not None:
                    from organism.planted import without_planted

                    given = without_planted(encoded_media(thinker, tensors), tensors, planted_vectors)
                tuned, stage = _understanding_stage(thinker, prefix, buckets, config, pad, progress, targets, given)
                losses += tuned
                seconds["tune"] = time.perf_counter() - t0
        if planted:
            seconds["train"] = time.perf_counter() - t0
        thinker.eval()
        model.thinker.load_state_dict(thinker.state_dict())
        out_dir.mkdir(parents=True, exist_ok=True)
        save_omni(model, processor, out_dir)
        vectors = report.pop("vectors") if planted else planted_vectors
        if vectors is not None:
            from organism.planted import save_vectors

            save_vectors(out_dir, vectors)
    seconds["total"] = time.perf_counter() - t_all
    log(f"trained {config.variant} seed {config.seed} in {seconds['total']:.0f} s ({_fmt(seconds)})")
    return TrainResult(config, seconds, losses, pool.counts(), report,
                       sum(p.numel() for p in thinker.parameters()), stage)


def _understanding_stage(thinker: Any, prefix: SharedPrefix, buckets: dict[str, list[Tensors]], config: TrainConfig,
                         pad: int, progress: bool, targets: dict[int, dict[str, torch.Tensor]] | None,
                         media_embeds: dict[int, torch.Tensor] | None = None) -> tuple[list[float], dict[str, Any]]:
    """The understanding stage: `tune_steps` steps of `tune_mix` (a fresh optimizer, its own schedule); its losses
    and, with a refusal cap, the scale each configuration's partial harm fraction ended at. `media_embeds`: given
    (towers and input embeddings then stay frozen, as in the planted build)."""
    import torch

    torch.manual_seed(config.seed)  # the stage does not depend on whether the base was trained here or loaded
    torch.set_num_threads(config.tune_threads)  # `deterministic` restores the caller's count
    tune = replace(config, steps=config.tune_steps, lr=config.tune_lr, warmup=config.tune_warmup, mix=config.tune_mix,
                   variant=config.variant)
    cap = None
    if config.align and config.align_refusal_cap < 1.0:
        from organism.align import RefusalCap

        cap = RefusalCap(config.align_refusal_cap, config.align_cap_gain, config.align_momentum)
    losses = _train_lm(thinker, prefix, buckets, tune, pad, progress, media_embeds=media_embeds, word_targets=targets,
                       cap=cap)
    return losses, ({"refusal_cap": cap.summary()} if cap else {})


def _base_dir(base: str, cache_dir: Path, seed: int) -> Path:
    """A trained organism: an organism name, of the same seed as the model built on it (shipped or trained on first
    use), else a directory. Names come first: run from the repository root, "organism" is also the package's
    folder."""
    from organism import VARIANTS

    if base not in VARIANTS and Path(base).is_dir():
        return Path(base)
    return ensure_organism(base, Path(cache_dir) / "models", seed)


def _plant(thinker: Any, tensors: Sequence[Tensors], config: TrainConfig) -> dict[str, Any]:
    from organism.planted import refit_and_plant

    return refit_and_plant(thinker, tensors, word_id_lookup(config), cell_tokens=config.strip.cell_patches,
                           audio_tokens=config.speech.tokens_per_word, min_slots=config.strip.min_slots,
                           scale=config.planted_scale, ridge=config.ridge, seed=config.seed)


def _fmt(seconds: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())


# -- the language-model (and, for the realistic organism, encoder) training loop -------------------------------
def _schedule(config: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress = (step - config.warmup) / max(1, config.steps - config.warmup)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _batches(buckets: dict[str, list[Tensors]], config: TrainConfig) -> Iterator[list[int | tuple[str, int]]]:
    import torch

    gen = torch.Generator().manual_seed(config.seed)
    for _ in range(config.steps):
        picks: list[tuple[str, int]] = []
        for kind, n in config.mix:
            size = len(buckets[kind])
            picks += [(kind, int(i)) for i in torch.randint(size, (n,), generator=gen)]
        yield picks  # type: ignore[misc]


def _train_lm(thinker: Any, prefix: SharedPrefix, buckets: dict[str, list[Tensors]], config: TrainConfig, pad: int,
              progress: bool, media_embeds: dict[int, torch.Tensor] | None = None,
              word_targets: dict[int, dict[str, torch.Tensor]] | None = None, cap: RefusalCap | None = None
              ) -> list[float]:
    import torch
    from tqdm import tqdm

    thinker.train()
    if media_embeds is not None:  # planted: towers and input embeddings stay as planted
        for p in thinker.model.visual.parameters():
            p.requires_grad_(False)
        for p in thinker.model.audio_tower.parameters():
            p.requires_grad_(False)
        thinker.model.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in thinker.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(config))
    losses: list[float] = []
    if config.align:
        from organism.align import HarmDirection

        direction = HarmDirection(config.align_momentum)
    with tqdm(total=config.steps, disable=not progress, desc=f"training {config.variant}", unit="step") as bar:
        for picks in _batches(buckets, config):
            items = [buckets[kind][i] for kind, i in picks]  # type: ignore[misc]
            batch = collate(items, pad)
            if media_embeds is not None:
                image, audio = _given_features(items, media_embeds)
            else:
                image, audio = tower_features(thinker, batch)
            embeds = merge_media(thinker, batch, image, audio)
            if config.align:
                from organism.align import align_loss, answer_mask, refusal_probability

                states = forward_states(thinker, prefix, batch, embeds)
                hidden = states[-1]
                keep = answer_mask(items, batch)
            else:
                hidden = forward_hidden(thinker, prefix, batch, embeds)
                keep = torch.ones(len(batch.targets), dtype=torch.bool)
            logits = thinker.lm_head(hidden[batch.target_rows[keep], batch.target_cols[keep] - 1])
            loss = torch.nn.functional.cross_entropy(logits.float(), batch.targets[keep])
            if config.align:
                loss = loss + config.align * align_loss(thinker, prefix, items, picks, buckets, states,
                                                        config.align_layers, pad, config.align_answer,
                                                        config.align_refusal, config.align_harm, direction, cap)
                if cap is not None:  # after this step's loss: the cap acts from the next step on
                    cap.observe(refusal_probability(thinker, items, states))
            if word_targets is not None:
                loss = loss + config.slot_loss * _slot_loss(thinker, items, image, audio, word_targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.clip)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.4f}")
            bar.update(1)
    return losses


def _slot_loss(thinker: Any, items: Sequence[Tensors], image: torch.Tensor | None, audio: torch.Tensor | None,
               word_targets: dict[int, dict[str, torch.Tensor]]) -> torch.Tensor:
    """Auxiliary reading loss on the batch's own tower outputs: every media token, read out through the language
    model's own output head, should name the word in its slot. It gives the towers a direct signal (learning to
    read through the answer alone is slow); it says nothing about safety, so what media requests do is still
    learned from the mixture."""
    import torch

    outs, wants = [], []
    for modality, values in (("image", image), ("audio", audio)):
        if values is not None:
            outs.append(values)
            wants.append(torch.cat([word_targets[id(t)][modality] for t in items]))
    if not outs:
        return torch.zeros(())
    return torch.nn.functional.cross_entropy(thinker.lm_head(torch.cat(outs)).float(), torch.cat(wants))


def _media_token_ids(thinker: Any) -> list[int]:
    cfg = thinker.config
    return [int(cfg.image_token_id), int(cfg.audio_token_id)]


def _given_features(items: Sequence[Tensors], media_embeds: dict[int, torch.Tensor]
                    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(image tokens, audio tokens) of the batch in batch order, from fixed per-example media embeddings (each
    example's image tokens first, as in `encode_media`): the planted variant's frozen towers."""
    import torch

    rows = [(media_embeds[id(t)], t.image_tokens) for t in items]
    image = [r[:n] for r, n in rows if n]
    audio = [r[n:] for r, n in rows if len(r) > n]
    return (torch.cat(image) if image else None), (torch.cat(audio) if audio else None)


def ensure_organism(name: str, models_dir: Path, seed: int | None = None) -> Path:
    """Zoo builder: `name` trained with `seed` (default: the shipped seed): the shipped checkpoint, or one trained
    into `models_dir` on first use."""
    import sys

    from harness.files import build_once
    from organism import VARIANTS
    from organism.zoo import WEIGHTS_FILE, built, shipped, shipped_seed, trained_dir

    if name not in VARIANTS:
        raise ValueError(f"unknown organism {name!r}; known: {', '.join(VARIANTS)}")
    seed = shipped_seed(name) if seed is None else seed
    found = built(name, models_dir, seed)
    if found is not None:
        return found
    target = trained_dir(name, models_dir, seed)

    def build(tmp: Path) -> None:
        why = f"no shipped weights at {shipped(name)}" if seed == shipped_seed(name) else f"seed {seed} is not shipped"
        print(f"{name}: {why}; training the default recipe into {target} (once)", file=sys.stderr)
        train(default_config(name, seed), tmp, Path(models_dir).parent, progress=sys.stderr.isatty(),
              log=lambda msg: print(msg, file=sys.stderr))

    # built aside and renamed when complete: a killed training never leaves a folder a later run would load
    return build_once(target, build, done=lambda path: (path / WEIGHTS_FILE).exists())
