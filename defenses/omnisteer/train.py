"""Training OmniSteer adapters on cached last-token features (docs/reference.md, OmniSteer §3.3; defects D3, D5, D7,
D18).

Modes:
- `sequential` (default): layers are trained in the order they are applied. The features of layer L are the
  last-token states of layer L read with the already trained adapters of the earlier target layers active
  (the very hook used at inference), so each adapter is trained on the input distribution it sees at inference.
  One prefill per sample per layer stage.
- `independent` (reproduction of the reference): every adapter is trained on unmodified activations, all layers
  from one prefill per sample; at inference layer L+1's adapter then sees inputs already moved by layer L's
  (defect D3, reproduced on purpose).

Per layer: the L1 weights can be tried at several scales (`beta_scales`, [project]: the paper sets beta_h, beta_s
per model; the hinge pulls k by 1/n per unit and the L1 term holds it by beta, so with a large golden norm n the
paper's Qwen values keep k at 0), each scale trained from the same start, and the adapter that leaves the most
validation items on the right side of their hinge kept (the first scale on ties; the validation objective cannot
compare scales, it contains them). Each fit: balanced, seeded sampling (the minority class is oversampled to the
majority count each epoch, batches of `batch_size`), AdamW, hinge + L1 loss. Checkpoints are evaluated on the
validation features every `eval_every` steps, at every epoch end and at step 0; the one with the lowest validation
objective (the training loss on the whole validation set) is kept, the earliest on ties
(`checkpoint=best_validation`, default; the zero adapter of step 0 can win, which means "do not intervene at this
layer"). `checkpoint=last` keeps the final step instead. The rule and its outcome are recorded (D18).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from defenses.omnisteer.adapter import hinge_l1_loss, make_adapter
from defenses.omnisteer.features import Golden, compute_golden, golden_modalities, harmful_mask
from defenses.omnisteer.hooks import steer_hook
from defenses.omnisteer.presets import MODES
from defenses.toolkit.collect import collect

if TYPE_CHECKING:
    import torch

    from defenses.toolkit.calibration_data import CalibrationSplit
    from harness.backends.base import ModelBackend

CHECKPOINT_RULES = ("best_validation", "last")
SELECTION_RULES = {
    "best_validation": ("lowest validation objective (hinge + L1, mean harmful + mean benign over the whole "
                        "validation set) among checkpoints at step 0, every eval_every steps and each epoch end; "
                        "earliest on ties"),
    "last": "the final step (validation objective logged, not used for selection)",
}


@dataclass(frozen=True)
class TrainConfig:
    """Resolved training settings; all of them go into the artifact's parameters and hash."""

    preset: str
    layers: tuple[int, ...]
    a: float
    b: float
    beta_h: float
    beta_s: float
    lr: float
    epochs: int
    batch_size: int
    bottleneck: int
    mode: str
    golden_modalities: tuple[str, ...] | None
    seed: int = 0
    eval_every: int = 50
    checkpoint: str = "best_validation"
    collect_batch_size: int = 8
    beta_scales: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"omnisteer: mode must be one of {MODES}, got {self.mode!r}")
        if self.checkpoint not in CHECKPOINT_RULES:
            raise ValueError(f"omnisteer: checkpoint must be one of {CHECKPOINT_RULES}, got {self.checkpoint!r}")
        if not self.layers or list(self.layers) != sorted(set(self.layers)):
            raise ValueError(f"omnisteer: layers must be a non-empty increasing list, got {list(self.layers)}")
        for name in ("epochs", "batch_size", "bottleneck", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"omnisteer: {name} must be >= 1")
        if not self.beta_scales or any(x <= 0 for x in self.beta_scales):
            raise ValueError(f"omnisteer: beta_scales must be positive numbers, got {list(self.beta_scales)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = list(self.layers)
        d["golden_modalities"] = list(self.golden_modalities) if self.golden_modalities else None
        if tuple(self.beta_scales) == (1.0,):  # the paper's single setting: artifacts keep their earlier hash
            del d["beta_scales"]
        else:
            d["beta_scales"] = list(self.beta_scales)
        return d


@dataclass
class LayerFit:
    layer: int
    state: dict[str, torch.Tensor]
    chosen_step: int
    steps: int
    chosen_val: float
    log: list[dict[str, float]] = field(default_factory=list)
    diagnostics: dict[str, float] = field(default_factory=dict)
    tried: dict[str, float] = field(default_factory=dict)  # validation hinge satisfaction per L1 scale tried


@dataclass
class Trained:
    config: TrainConfig
    golden: Golden
    fits: dict[int, LayerFit]
    modalities: tuple[str, ...]
    n_train: dict[str, int]
    n_val: dict[str, int]


def balanced_order(harmful: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Indices of one epoch: all majority-class items and the minority class oversampled to the same count
    (whole shuffled passes, then a partial one), shuffled together."""
    import torch

    pos = harmful.nonzero().flatten()
    neg = (~harmful).nonzero().flatten()
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("omnisteer: training needs harmful and benign items")
    target = max(len(pos), len(neg))

    def upsample(idx: torch.Tensor) -> torch.Tensor:
        reps = [idx[torch.randperm(len(idx), generator=generator)] for _ in range(math.ceil(target / len(idx)))]
        return torch.cat(reps)[:target]

    both = torch.cat([upsample(pos), upsample(neg)])
    return both[torch.randperm(len(both), generator=generator)]


def _objective(adapter: torch.nn.Module, feats: torch.Tensor, harm: torch.Tensor, unit: torch.Tensor, norm: float,
               c: TrainConfig) -> float:
    import torch

    with torch.no_grad():
        k = adapter(feats).squeeze(-1)
        return float(hinge_l1_loss(k, feats @ unit, harm, norm, a=c.a, b=c.b, beta_h=c.beta_h, beta_s=c.beta_s))


def _satisfied(adapter: torch.nn.Module | None, feats: torch.Tensor, harm: torch.Tensor, unit: torch.Tensor,
               norm: float, c: TrainConfig) -> float:
    """Share of items on the right side of their hinge (harmful proj >= a n, benign proj <= -b n)."""
    import torch

    with torch.no_grad():
        proj = feats @ unit
        if adapter is not None:
            proj = proj + adapter(feats).squeeze(-1)
        ok = torch.where(harm, proj >= c.a * norm, proj <= -c.b * norm)
        return float(ok.float().mean())


def fit_layer(layer: int, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
              unit: torch.Tensor, norm: float, c: TrainConfig, *,
              on_step: Callable[[int, float], None] | None = None) -> LayerFit:
    """Fit one adapter on cached features; `train` / `val` are (features [N, d] float32, harmful [N] bool)."""
    import torch

    feats, harm = train[0].float(), train[1]
    vfeats, vharm = val[0].float(), val[1]
    unit = unit.float()
    adapter = make_adapter(feats.shape[1], c.bottleneck, seed=c.seed + layer)
    optimiser = torch.optim.AdamW(adapter.parameters(), lr=c.lr)
    generator = torch.Generator().manual_seed(c.seed * 1_000_003 + layer)
    proj0 = feats @ unit

    chosen_val = _objective(adapter, vfeats, vharm, unit, norm, c)
    best_state = {k: v.detach().clone() for k, v in adapter.state_dict().items()}
    chosen, step = 0, 0
    log: list[dict[str, float]] = [{"step": 0, "epoch": 0, "train_loss": float("nan"), "val_loss": chosen_val}]
    running: list[float] = []

    def checkpoint(epoch: int) -> None:
        nonlocal chosen_val, best_state, chosen
        value = _objective(adapter, vfeats, vharm, unit, norm, c)
        mean = sum(running) / len(running) if running else float("nan")
        log.append({"step": step, "epoch": epoch, "train_loss": mean, "val_loss": value})
        running.clear()
        if c.checkpoint == "last" or value < chosen_val:  # `last`: every checkpoint replaces the previous one
            chosen_val, chosen = value, step
            best_state = {k: v.detach().clone() for k, v in adapter.state_dict().items()}

    adapter.train()
    for epoch in range(1, c.epochs + 1):
        order = balanced_order(harm, generator)
        for start in range(0, len(order), c.batch_size):
            idx = order[start:start + c.batch_size]
            k = adapter(feats[idx]).squeeze(-1)
            loss = hinge_l1_loss(k, proj0[idx], harm[idx], norm, a=c.a, b=c.b, beta_h=c.beta_h, beta_s=c.beta_s)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            running.append(float(loss.detach()))
            if on_step is not None:
                on_step(step, running[-1])
            if step % c.eval_every == 0:
                checkpoint(epoch)
        if step % c.eval_every != 0:
            checkpoint(epoch)
    adapter.eval()
    adapter.load_state_dict(best_state)
    diagnostics = {
        "train_hinge_ok_before": _satisfied(None, feats, harm, unit, norm, c),
        "train_hinge_ok_after": _satisfied(adapter, feats, harm, unit, norm, c),
        "val_hinge_ok_before": _satisfied(None, vfeats, vharm, unit, norm, c),
        "val_hinge_ok_after": _satisfied(adapter, vfeats, vharm, unit, norm, c),
    }
    return LayerFit(layer, best_state, chosen, step, chosen_val, log, diagnostics)


def fit_scaled(layer: int, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
               unit: torch.Tensor, norm: float, c: TrainConfig, *,
               on_step: Callable[[int, float], None] | None = None) -> LayerFit:
    """`fit_layer` once per L1 scale in `c.beta_scales`; the fit with the highest validation hinge satisfaction
    (the first scale on ties), its scale and every scale's satisfaction in its diagnostics."""
    fits = {scale: fit_layer(layer, train, val, unit, norm,
                             replace(c, beta_h=c.beta_h * scale, beta_s=c.beta_s * scale), on_step=on_step)
            for scale in c.beta_scales}
    scale = max(fits, key=lambda x: fits[x].diagnostics["val_hinge_ok_after"])  # the first on ties
    best = fits[scale]
    if len(fits) > 1:
        best.diagnostics["beta_scale"] = scale
        best.tried = {f"{x:g}": f.diagnostics["val_hinge_ok_after"] for x, f in fits.items()}
    return best


def steps_per_layer(harmful: torch.Tensor, c: TrainConfig) -> int:
    n = 2 * max(int(harmful.sum()), int((~harmful).sum()))
    return len(c.beta_scales) * c.epochs * math.ceil(n / c.batch_size)


def train(backend: ModelBackend, split: CalibrationSplit, c: TrainConfig, *, progress: bool = False,
          echo: Callable[[str], None] | None = None) -> Trained:
    """Golden vectors, then one adapter per target layer in order (see the module docstring for the modes)."""
    from tqdm import tqdm

    for layer in c.layers:
        if not 0 <= layer < backend.num_layers:
            raise ValueError(f"omnisteer: layer {layer} is outside 0..{backend.num_layers - 1} of this model")
    say = echo or (lambda _msg: None)
    modalities = golden_modalities(split.train, c.golden_modalities)
    train_harm, val_harm = harmful_mask(split.train), harmful_mask(split.validation)

    def read(samples: Sequence, layers: Sequence[int], hooks: dict | None, what: str):
        return collect(backend, samples, layers, position="last", batch_size=c.collect_batch_size,
                       extra_hooks=hooks, progress=progress, desc=what)

    # One unhooked pass gives every layer's golden vector and, in independent mode, every layer's features.
    base_train = read(split.train, c.layers, None, "features (unmodified)")
    base_val = read(split.validation, c.layers, None, "validation features (unmodified)")
    golden = compute_golden(base_train, c.layers, modalities)
    say(f"golden vectors from {', '.join(modalities)} at layers {list(c.layers)}: norms "
        + ", ".join(f"{g.norm:.3g}" for g in golden.vectors.values()))

    fits: dict[int, LayerFit] = {}
    hooks: dict[int, Any] = {}
    total = sum(steps_per_layer(train_harm, c) for _ in c.layers)
    with tqdm(total=total, disable=not progress, desc="training adapters", unit="step") as bar:
        for i, layer in enumerate(c.layers):
            if c.mode == "sequential" and i > 0:
                feats = read(split.train, [layer], hooks, f"features layer {layer}").states[layer]
                vfeats = read(split.validation, [layer], hooks, f"validation layer {layer}").states[layer]
            else:
                feats, vfeats = base_train.states[layer], base_val.states[layer]
            g = golden.vectors[layer]

            def on_step(step: int, loss: float, layer: int = layer) -> None:
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(layer=layer, loss=f"{loss:.4f}")

            fit = fit_scaled(layer, (feats, train_harm), (vfeats, val_harm), g.unit, g.norm, c, on_step=on_step)
            fits[layer] = fit
            say(f"layer {layer}: {fit.steps} steps, kept step {fit.chosen_step} (validation objective "
                f"{fit.chosen_val:.4f}); validation hinge satisfied {fit.diagnostics['val_hinge_ok_before']:.0%} -> "
                f"{fit.diagnostics['val_hinge_ok_after']:.0%}" + scale_choice(fit.diagnostics.get("beta_scale", 1.0),
                                                                             fit.tried))
            if c.mode == "sequential":
                adapter = make_adapter(feats.shape[1], c.bottleneck)
                adapter.load_state_dict(fit.state)
                adapter.eval()
                hooks[layer] = steer_hook(adapter, g.unit)
    return Trained(c, golden, fits, modalities, _counts(split.train), _counts(split.validation))


def scale_choice(scale: float, tried: dict[str, float]) -> str:
    """The L1 scale kept and each tried scale's validation hinge satisfaction, as printed during and after training
    ("" when one scale was tried)."""
    if not tried:
        return ""
    return (f"; L1 scale {scale:g} kept (validation hinge satisfied per scale: "
            + ", ".join(f"{k} {v:.0%}" for k, v in tried.items()) + ")")


def _counts(samples: Sequence) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        key = f"{s.modality}/{s.label}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))
