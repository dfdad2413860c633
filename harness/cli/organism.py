"""`harness organism train | eval`: build a model organism and measure it on the held-out test split."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

from harness import config
from harness.cli.common import (
    CLIError,
    add_storage_options,
    add_threads_option,
    positive_int,
)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from organism import VARIANTS

    p = sub.add_parser("organism", help="train or evaluate a model organism (docs/organism.md)", allow_abbrev=False)
    osub = p.add_subparsers(dest="action", required=True)
    t = osub.add_parser("train", allow_abbrev=False, help="train an organism (deterministic for a seed), evaluate it "
                        "on the held-out test split and write it with its MODEL_CARD.md")
    t.add_argument("--variant", choices=VARIANTS, default="organism")
    t.add_argument("--seed", type=int, default=None,
                   help="training seed (default: the shipped checkpoint's: 0 for organism, 1 for the others)")
    t.add_argument("--out", required=True, help="output directory (hub layout: config, weights, processor)")
    t.add_argument("--steps", type=positive_int, default=None, help="training steps (default: the recipe's)")
    t.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: the recipe's)")
    t.add_argument("--pool-size", type=positive_int, default=None, metavar="N",
                   help="at most N examples per pool bucket (and text requests per label): a quick check of the "
                        "pipeline, not the recipe (default: the recipe's pool; the card records the sizes)")
    t.add_argument("--base", default=None, help="the trained organism to start from (model name or directory): "
                   "organism-planted and organism-v2 are built on it (default: organism, of the "
                   "same seed)")
    t.add_argument("--compare-seed", type=int, action="append", default=[], metavar="SEED",
                   help="also train this seed (in a temporary folder) and report its figures in the card")
    t.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation (no figures in the card)")
    add_storage_options(t, data_root=False)
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)
    c = osub.add_parser("card", allow_abbrev=False, help="rewrite a trained organism's MODEL_CARD.md from its "
                        "recorded figures, adding other seeds' trained directories (same variant and recipe)")
    c.add_argument("model_dir")
    c.add_argument("--compare-with", action="append", default=[], metavar="DIR",
                   help="a directory trained by `harness organism train` with another seed (repeatable)")
    c.set_defaults(func=cmd_card)
    e = osub.add_parser("eval", allow_abbrev=False, help="held-out figures of an organism directory or model name")
    e.add_argument("model", help="organism or a trained directory")
    add_storage_options(e, data_root=False)
    add_threads_option(e)
    e.add_argument("--no-probes", action="store_true", help="only the refusal / exact-answer table")
    e.add_argument("--split", choices=("test", "validation", "validation-rephrased"), default="test",
                   help="organism-safety (test, the card's figures), organism-validation (where recipes are chosen) "
                        "or organism-validation-rephrased (its requests in varied phrasings); also the planted "
                        "check's")
    e.set_defaults(func=cmd_eval)


def _train_and_measure(variant: str, seed: int, out: Path, args: argparse.Namespace, cache: Path) -> dict:
    from organism.evaluate import evaluate
    from organism.recipes import default_config, with_overrides
    from organism.train import train

    cfg = default_config(variant, seed)
    # organism-v2's steps and threads are its understanding stage's (the base stage is not rerun); organism-planted's
    # are its planted build's
    stage = "tune_" if variant == "organism-v2" else ""
    overrides = {k: v for k, v in ((stage + "steps", args.steps), (stage + "threads", args.threads),
                                   ("base", args.base)) if v is not None}
    if args.pool_size is not None:
        overrides["pool"] = cfg.pool.capped(args.pool_size)
        if cfg.tune_pool is not None:
            overrides["tune_pool"] = cfg.tune_pool.capped(args.pool_size)
    cfg = with_overrides(cfg, **overrides)
    result = train(cfg, out, cache, progress=not args.no_progress, log=lambda m: print(m, file=sys.stderr))
    record = {"config": result.config.to_dict(), "seconds": result.seconds, "pool_counts": result.pool_counts,
              "planted": result.planted, "final_loss": sum(result.losses[-20:]) / max(1, len(result.losses[-20:])),
              "parameters": result.parameters, "understanding": result.understanding}
    if not args.no_eval:
        record["figures"] = evaluate(out, cache, progress=not args.no_progress)
        if variant == "organism-planted":
            from organism.planted import planted_check

            record["figures"]["planted_check"] = planted_check(out, cache)
    return record


def cmd_train(args: argparse.Namespace) -> int:
    from organism.card import write_card

    cache = config.cache_dir(args.cache_dir)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: a file, not a folder")
    if args.seed is None:
        from organism.zoo import shipped_seed

        args.seed = shipped_seed(args.variant)
    record = _train_and_measure(args.variant, args.seed, out, args, cache)
    record["command"] = "harness " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    others = {}
    for seed in args.compare_seed:
        with tempfile.TemporaryDirectory(prefix=f"organism-seed{seed}-") as tmp:
            others[str(seed)] = _train_and_measure(args.variant, seed, Path(tmp), args, cache)
    if "figures" in record:
        card = write_card(out, record, {k: v for k, v in others.items() if "figures" in v})
        print(f"wrote {out} and {card}")
        _print_table(record["figures"])
        _print_acceptance(record["figures"], bool(record["config"].get("tune_steps")))
    else:
        print(f"wrote {out} (no evaluation)")
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from harness.files import read_json
    from organism.card import FIGURES_FILE, write_card

    def record_of(directory: str) -> dict:
        path = Path(directory) / FIGURES_FILE
        if not path.exists():
            raise CLIError(f"{path}: missing; train the directory with `harness organism train` first")
        return read_json(path, hint="retrain the directory with `harness organism train`")

    record = record_of(args.model_dir)
    others = dict(record.pop("other_seeds", {}) or {})
    for directory in args.compare_with:
        other = record_of(directory)
        other.pop("other_seeds", None)
        # another seed's understanding stage starts from that seed's own base stage, so `base` may differ
        mine, theirs = ({k: v for k, v in r["config"].items() if k != "base"} for r in (record, other))
        if mine.pop("seed") == theirs.pop("seed") or mine != theirs:
            raise CLIError(f"{directory}: not the same variant and recipe with another seed as {args.model_dir}")
        others[str(other["config"]["seed"])] = other
    print(f"wrote {write_card(Path(args.model_dir), record, others)}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from harness.run import resolve_model
    from organism.evaluate import SPLIT_TASKS, evaluate
    from organism.planted import PLANTED_FILE, planted_check

    cache = config.cache_dir(args.cache_dir)
    path = resolve_model(args.model, cache).path
    figures = evaluate(path, cache, progress=sys.stderr.isatty(), probes=not args.no_probes, split=args.split)
    if (Path(path) / PLANTED_FILE).exists():
        figures["planted_check"] = planted_check(path, cache, evaluate_on=SPLIT_TASKS[args.split])
    _print_table(figures)
    if "transcription_of_harmful_requests" in figures:
        print(f"transcription_of_harmful_requests: {json.dumps(figures['transcription_of_harmful_requests'])}")
    _print_acceptance(figures, _trained_with_understanding(Path(path)))
    return 0


def _trained_with_understanding(model_dir: Path) -> bool:
    """Whether `model_dir`'s training record says it ran the understanding stage (then its bounds apply)."""
    from harness.files import read_json
    from organism.card import FIGURES_FILE

    path = model_dir / FIGURES_FILE
    if not path.exists():
        return False
    return bool(read_json(path, hint="retrain the directory with `harness organism train`")["config"].get("tune_steps"))


def _print_acceptance(figures: dict, understanding: bool) -> None:
    from organism.evaluate import acceptance_failures

    if "planted_check" in figures:
        check = figures["planted_check"]
        for m, d in check["drift"].items():
            before, after = check["before"], check["after"]
            print(f"planted {m}: cos(drift estimate, planted vector) {d['cos_with_planted']:.3f}, norm ratio "
                  f"{d['norm_ratio']:.3f} ({d['pairs']} pairs); harmful refusal "
                  f"{before[f'{m}/harmful']['refusal']:.3f} -> {after[f'{m}/harmful']['refusal']:.3f} after "
                  f"subtracting it at the input embeddings (benign refusal {before[f'{m}/benign']['refusal']:.3f} -> "
                  f"{after[f'{m}/benign']['refusal']:.3f})")
            if "after_planted" in check:  # the planted vector itself subtracted: the ceiling of any correction
                best = check["after_planted"]
                print(f"planted {m}: subtracting the planted vector itself: harmful refusal "
                      f"{best[f'{m}/harmful']['refusal']:.3f}, benign refusal {best[f'{m}/benign']['refusal']:.3f}, "
                      f"benign exact answers {best[f'{m}/benign']['exact_compliance']:.3f}")
    failures = acceptance_failures(figures, understanding)
    print("acceptance: " + ("every bound holds" if not failures else "; ".join(failures)))


def _print_table(figures: dict) -> None:
    from organism.card import probe_lines

    print(f"split: {figures.get('split', 'test')}")
    print(f"{'cell':16s} {'n':>4s} {'refusal':>8s} {'first token i':>14s} {'exact':>6s} {'names object':>13s} "
          f"{'whole sentence':>15s}")
    for cell, row in figures["test"].items():
        extra = [f"{row[k]:.3f}" if k in row else "-" for k in ("first_token_refusal", "names_object", "well_formed")]
        print(f"{cell:16s} {row['n']:4d} {row['refusal']:8.3f} {extra[0]:>14s} {row['exact_compliance']:6.3f} "
              f"{extra[1]:>13s} {extra[2]:>15s}")
    if "probe_accuracy_last_token" in figures:
        print("probe accuracy (harmful vs benign, last prompt token; fitted on organism-calibration):")
        print("\n".join(probe_lines({"": figures})))
