"""`harness organism train | eval`: build a model organism and measure it on the held-out test split."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

from harness import config


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from harness.organism import VARIANTS

    p = sub.add_parser("organism", help="train or evaluate a model organism (docs/organism.md)", allow_abbrev=False)
    osub = p.add_subparsers(dest="action", required=True)
    t = osub.add_parser("train", allow_abbrev=False, help="train an organism (deterministic for a seed), evaluate it "
                        "on the held-out test split and write it with its MODEL_CARD.md")
    t.add_argument("--variant", choices=VARIANTS, default="organism")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="output directory (hub layout: config, weights, processor)")
    t.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: the recipe's)")
    t.add_argument("--compare-seed", type=int, action="append", default=[], metavar="SEED",
                   help="also train this seed (in a temporary folder) and report its figures in the card")
    t.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation (no figures in the card)")
    t.add_argument("--cache-dir", default=None, help=f"cache for rendered media (default: ${config.CACHE_ENV})")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)
    e = osub.add_parser("eval", allow_abbrev=False, help="held-out figures of an organism directory or model name")
    e.add_argument("model", help="organism or a trained directory")
    e.add_argument("--cache-dir", default=None)
    e.add_argument("--no-probes", action="store_true", help="only the refusal / exact-answer table")
    e.set_defaults(func=cmd_eval)


def _train_and_measure(variant: str, seed: int, out: Path, args: argparse.Namespace, cache: Path) -> dict:
    from harness.organism.evaluate import evaluate
    from harness.organism.train import default_config, train, with_overrides

    cfg = default_config(variant, seed)
    overrides = {k: v for k, v in (("steps", args.steps), ("threads", args.threads)) if v is not None}
    cfg = with_overrides(cfg, **overrides)
    result = train(cfg, out, cache, progress=not args.no_progress, log=lambda m: print(m, file=sys.stderr))
    record = {"config": result.config.to_dict(), "seconds": result.seconds, "pool_counts": result.pool_counts,
              "planted": result.planted, "final_loss": sum(result.losses[-20:]) / max(1, len(result.losses[-20:])),
              "parameters": result.parameters}
    if not args.no_eval:
        record["figures"] = evaluate(out, cache, progress=not args.no_progress)
    return record


def cmd_train(args: argparse.Namespace) -> int:
    from harness.organism.card import write_card
    from harness.organism.evaluate import acceptance_failures

    cache = config.cache_dir(args.cache_dir)
    out = Path(args.out)
    record = _train_and_measure(args.variant, args.seed, out, args, cache)
    record["command"] = "harness " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    others = {}
    for seed in args.compare_seed:
        with tempfile.TemporaryDirectory(prefix=f"organism-seed{seed}-") as tmp:
            others[str(seed)] = _train_and_measure(args.variant, seed, Path(tmp), args, cache).get("figures", {})
    if "figures" in record:
        card = write_card(out, record, {k: v for k, v in others.items() if v})
        print(f"wrote {out} and {card}")
        _print_table(record["figures"])
        failures = acceptance_failures(record["figures"])
        print("acceptance: " + ("every bound holds" if not failures else "; ".join(failures)))
    else:
        print(f"wrote {out} (no evaluation)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from harness.organism.evaluate import acceptance_failures, evaluate
    from harness.zoo import resolve_model

    cache = config.cache_dir(args.cache_dir)
    path = resolve_model(args.model, cache).path
    figures = evaluate(path, cache, progress=sys.stderr.isatty(), probes=not args.no_probes)
    _print_table(figures)
    for key in ("transcription_of_harmful_requests", "probe_accuracy_last_token"):
        if key in figures:
            print(f"{key}: {json.dumps(figures[key])}")
    failures = acceptance_failures(figures)
    print("acceptance: " + ("every bound holds" if not failures else "; ".join(failures)))
    return 0


def _print_table(figures: dict) -> None:
    print(f"{'cell':16s} {'n':>4s} {'refusal':>8s} {'exact':>6s}")
    for cell, row in figures["test"].items():
        print(f"{cell:16s} {row['n']:4d} {row['refusal']:8.3f} {row['exact_compliance']:6.3f}")
