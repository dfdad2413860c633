"""`harness train omnisteer`: fit OmniSteer's golden vectors and adapters once, with a progress bar and a loss
log, into the defense cache that `harness run --defense omnisteer` reads (and optionally copy it to `--out`).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

from harness.cli.common import (CLIError, add_defense_param_options, add_include_path_option, add_model_options,
                                add_storage_options, defense_params, task_context)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a defense that needs training (omnisteer)", allow_abbrev=False)
    tsub = p.add_subparsers(dest="defense", required=True)
    o = tsub.add_parser(
        "omnisteer", allow_abbrev=False, help="golden vectors + per-layer adapters on cached last-token features",
        description="Train OmniSteer for one model: golden refusal vectors from the calibration data, then one "
                    "adapter per target layer (sequential by default) with checkpoint selection on validation. "
                    "The artifact lands in the cache used by `harness run --defense omnisteer` with the same "
                    "parameters.")
    add_model_options(o)
    add_storage_options(o)
    o.add_argument("--data", default=None,
                   help="calibration task selector, e.g. organism-calibration (default: the preset's)")
    o.add_argument("--data-part", default=None, help="part of --data's sources, e.g. 0-80%% (default: the preset's)")
    o.add_argument("--validation", default=None,
                   help="validation task selector (default: the preset's, else 20%% of --data held out)")
    o.add_argument("--validation-part", default=None,
                   help="part of --validation's sources for checkpoint selection, e.g. 80-100%% of the same task, "
                        "so the split a run evaluates or tunes on stays unseen (default: the preset's)")
    o.add_argument("--preset", default=None, help="preset name (default: auto from the model name)")
    add_defense_param_options(o, short=True)
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--out", default=None, help="also copy the artifact directory here (use with artifact=DIR)")
    o.add_argument("--force", action="store_true", help="retrain even when the cached artifact exists")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_include_path_option(o)
    o.set_defaults(func=cmd_train_omnisteer)


def cmd_train_omnisteer(args: argparse.Namespace) -> int:
    from defenses.omnisteer.defense import OmniSteer
    from harness.run import default_registries, defense_context, load_backend

    params = defense_params(args)
    params["train"] = True
    for key in ("data", "data_part", "validation", "validation_part"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.preset:
        params["preset"] = args.preset
    defense = OmniSteer(**params)  # unknown or invalid parameters fail before the model loads
    registries = default_registries(args.include_path)
    _check_before_loading(args, registries)
    tasks = task_context(args)
    backend = load_backend(registries, args.model, tasks.cache_dir, backend=args.backend, revision=args.revision,
                           dtype=args.dtype, device=args.device, system_prompt=args.system_prompt)
    context = defense_context(registries, args.model, tasks, seed=args.seed, show_progress=not args.no_progress)
    loaded = defense.prepare_artifact(backend, context, force=args.force)
    print_summary(loaded.manifest)
    print(f"artifact: {loaded.path}")
    if args.out:
        out = Path(args.out)
        if out.exists():  # _check_before_loading made sure it holds an artifact, nothing else
            shutil.rmtree(out)
        shutil.copytree(loaded.path, out)
        print(f"copied to {out}; use it with: --defense omnisteer --defense-param artifact={out}")
    return 0


def _check_before_loading(args: argparse.Namespace, registries) -> None:
    """Task names, the preset and `--out` are the user's: refuse them before a model loads. An existing `--out`
    is replaced only when it holds an artifact (its manifest.json), never another folder or a file."""
    from defenses.omnisteer.presets import get_preset
    from harness.run import check_task_names

    check_task_names(registries, args.data, args.validation)
    if args.preset and args.preset != "auto":
        get_preset(args.preset)
    if args.out:
        out = Path(args.out)
        if out.exists() and not (out.is_dir() and ((out / "manifest.json").exists() or not any(out.iterdir()))):
            raise CLIError(f"--out {out}: exists and is not an OmniSteer artifact folder; give a new folder")


def print_summary(manifest, out=None) -> None:
    """Golden-vector diagnostics, the checkpoint chosen per layer and the loss log (train / validation)."""
    from defenses.omnisteer.train import scale_choice

    out = out or sys.stdout  # looked up per call: a default of sys.stdout would pin the stream of import time
    extra = manifest.extra
    train = manifest.params
    print(f"omnisteer {train['preset']} ({train['mode']}), layers {train['layers']}, a={train['a']} b={train['b']} "
          f"beta_h={train['beta_h']} beta_s={train['beta_s']} lr={train['lr']} epochs={train['epochs']} "
          f"batch={train['batch_size']} seed={train['seed']}", file=out)
    print(f"data: {manifest.data}; train {sum(extra['n_train'].values())}, validation "
          f"{sum(extra['n_validation'].values())} samples", file=out)
    for layer, row in extra["golden"].items():
        parts = ", ".join(f"{k}={v:.3g}" for k, v in row.items())
        print(f"  golden layer {layer}: {parts}", file=out)
    print(f"checkpoint rule: {extra['selection_rule']}", file=out)
    for layer, sel in extra["selection"].items():
        print(f"  layer {layer}: kept step {sel['chosen_step']} of {sel['steps']} (validation objective "
              f"{sel['validation_objective']:.4f}); validation hinge satisfied {sel['val_hinge_ok_before']:.0%} -> "
              f"{sel['val_hinge_ok_after']:.0%}"
              + scale_choice(sel.get("beta_scale", 1.0), sel.get("val_hinge_ok_by_beta_scale") or {}), file=out)
    print("loss log (step: train / validation):", file=out)
    for layer, log in extra["loss_log"].items():
        cells = [f"{int(e['step'])}: {_fmt(e['train_loss'])} / {_fmt(e['val_loss'])}" for e in log]
        print(f"  layer {layer}: " + "; ".join(cells), file=out)


def _fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
