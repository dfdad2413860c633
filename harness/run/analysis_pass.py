"""The pass of `harness analyze`: read each batch through the backend's hooks and fold it into the running
statistics (fit part, then held-out part; see harness/run/analyze.py), checkpointing so a stopped pass resumes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.run.analysis_stats import StreamStats

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ModelBackend, PreparedBatch
    from harness.run.analysis_plan import AnalysisSettings, Plan

FULL_MOMENTS_MAX_DIM = 1024


# -- reading one batch ------------------------------------------------------------------------------------
class _Stop(Exception):
    """Raised after the deepest wanted layer: the rest of the forward pass is not needed."""


def content_mask(backend: ModelBackend, batch: PreparedBatch, media_mask: torch.Tensor) -> torch.Tensor:
    """[B, T]: a row's media placeholder tokens when it has any, else its typed request (the user turn's content
    between `<|im_start|>user\\n` and `<|im_end|>`; all non-media prompt tokens for a template without these
    markers). A paired difference then compares the same content carried by two modalities."""
    import torch

    ids = batch.inputs["input_ids"].cpu()
    media = media_mask.cpu().bool()
    prompt = batch.inputs["attention_mask"].cpu().bool()
    tok = getattr(backend, "tokenizer", None)
    start = tok.convert_tokens_to_ids("<|im_start|>") if tok is not None else None
    end = tok.convert_tokens_to_ids("<|im_end|>") if tok is not None else None
    known = start is not None and end is not None and start != getattr(tok, "unk_token_id", None)
    mask = torch.zeros_like(prompt)
    for row, seq in enumerate(ids.tolist()):
        if bool(media[row].any()):
            mask[row] = media[row]
            continue
        starts = [i for i, t in enumerate(seq) if t == start] if known else []
        if len(starts) >= 2:
            begin = starts[-2] + 3  # <|im_start|> user \n
            stop = next((i for i in range(begin, len(seq)) if seq[i] == end), len(seq))
            mask[row, begin:stop] = True
        else:
            mask[row] = prompt[row] & ~media[row]
    return mask


def read(backend: ModelBackend, batch: PreparedBatch, layers: Sequence[int], positions: Sequence[str]
         ) -> dict[tuple[str, int], torch.Tensor]:
    """(position, layer) -> [B, d] float32 on the CPU, from one prefill stopped after the deepest layer."""
    import torch

    deepest = max(layers)
    out: dict[tuple[str, int], torch.Tensor] = {}
    masks: dict[str, torch.Tensor] = {}

    def reader(layer: int):
        def hook(hidden: torch.Tensor, state) -> None:
            if state.phase != "prefill":
                return None
            if "last" in positions:
                out[("last", layer)] = hidden[:, -1, :].float().cpu()
            if "content" in positions:
                if "content" not in masks:
                    masks["content"] = content_mask(backend, batch, state.media_mask).to(hidden.device)
                w = masks["content"].unsqueeze(-1).float()
                out[("content", layer)] = ((hidden.float() * w).sum(1) / w.sum(1).clamp_min(1.0)).cpu()
            if layer == deepest:
                raise _Stop
            return None

        return hook

    with backend.layer_hooks({layer: reader(layer) for layer in layers}), torch.no_grad():
        try:
            backend.prefill(batch, ())
        except _Stop:
            pass
    return out


# -- the pass ----------------------------------------------------------------------------------------------
def _save_state(path: Path, state: dict[str, Any]) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def run_pass(backend: ModelBackend, the_plan: Plan, settings: AnalysisSettings, layers: Sequence[int], *,
             batch_size: int = 8,
             state_path: Path | None = None, progress: bool = False, checkpoint_every: int = 20,
             on_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The pass; returns the state {stats, frozen, held_out}. With `state_path` it resumes from and checkpoints to
    that file. `on_batch` (tests) is called with the number of samples done after each batch."""
    import torch
    from tqdm import tqdm

    from harness.run.analysis_geometry import HeldOut, freeze

    full = moments_kind(settings.moments, backend.hidden_size) == "full"
    state: dict[str, Any]
    if state_path is not None and state_path.exists():
        state = torch.load(state_path, weights_only=False)
        stats = StreamStats.from_dict(state["stats"])
        held = HeldOut.from_dict(state["held_out"]) if state.get("held_out") else None
    else:
        state = {"done": 0, "frozen": None}
        stats = StreamStats(backend.hidden_size, full, pairs=dict(the_plan.pairs))
        held = None
    total = len(the_plan.fit) + len(the_plan.held_out)
    ordered = the_plan.fit + the_plan.held_out

    def checkpoint() -> None:
        if state_path is not None:
            _save_state(state_path, {**state, "stats": stats.to_dict(), "held_out": held.to_dict() if held else None})

    with tqdm(total=total, initial=state["done"], disable=not progress, desc="analyzing", unit="sample") as bar:
        since_save = 0
        while state["done"] < total:
            start = state["done"]
            in_fit = start < len(the_plan.fit)
            if not in_fit and state["frozen"] is None:
                state["frozen"] = freeze(stats, the_plan, settings)
            stop = min(start + batch_size, len(the_plan.fit) if in_fit else total)
            chunk = ordered[start:stop]
            try:
                reads = read(backend, backend.prepare(chunk), layers, settings.positions)
            except BaseException:  # e.g. Ctrl-C: nothing of this batch is folded in yet, so keep what is done
                checkpoint()
                raise
            configs, labels = [s.config for s in chunk], [s.label for s in chunk]
            weights = [the_plan.drift_weights.get(s.id, {}) for s in chunk]
            for (position, layer), rows in reads.items():
                stats.add_batch(position, layer, rows, configs, labels, weights)
            if not in_fit:
                held = held or HeldOut()
                held.add(state["frozen"], reads, configs, labels)
            state["done"] = stop
            bar.update(len(chunk))
            if on_batch is not None:
                on_batch(stop)
            since_save += 1
            if since_save >= checkpoint_every or stop == total:
                checkpoint()
                since_save = 0
    if state["frozen"] is None:  # every sample was in the fit part (cannot happen after plan's checks)
        raise RuntimeError("the held-out part is empty")
    return {"stats": stats, "frozen": state["frozen"], "held_out": held}


def moments_kind(requested: str, dim: int) -> str:
    """`auto`: full second moments up to FULL_MOMENTS_MAX_DIM dimensions, their diagonal above (a 3584-d model
    would need 100 MB per configuration x label x layer for the full matrix)."""
    if requested == "auto":
        return "full" if dim <= FULL_MOMENTS_MAX_DIM else "diag"
    if requested not in ("full", "diag"):
        raise ValueError(f"--moments must be auto, full or diag, got {requested!r}")
    return requested
