"""Defense comparison on any model that has calibration, validation and test data (by default the model
organism): refusal of harmful and acceptance of benign test items per modality for `none`, ReGap (`orth` and
`full` drift), OmniSteer, refusal-steer at a matched vector norm and Self-Reminder, with the geometry diagnostics
that say where a gain comes from.

    # the model organism (its own splits; the defaults):
    python -m benchmarks.defense_table --out results/defenses_organism.json
    # ReGap ablations only:
    python -m benchmarks.defense_table --methods none,regap,regap-full,regap-fixed,regap-fixed-full,regap-par
    # plumbing on a tiny random model, one task split by source (0-40 % / 40-70 % / 70-100 %):
    python -m benchmarks.defense_table --model tiny-omni --methods none,regap --calibration smoke \\
        --calibration-part 0-40% --validation smoke --validation-part 40-70% --test smoke --test-part 70-100%

Every defense calibrates on the calibration / validation selectors only; the test split is used for nothing but
the reported numbers (and each defense refuses calibration data that overlap it). Verdicts come from the keyword
judge (a refusal proxy): harmful refusal = refusal verdicts / judged harmful items, benign acceptance =
1 - refusal verdicts / judged benign items, with Wilson 95 % intervals.

`refusal-steer` is matched to ReGap: it adds alpha * r_hat (unit refusal direction from text calibration data) at
ReGap's intervention layers, on the same positions (every prompt token, prefill), with alpha = the mean norm of
ReGap's `orth` correction vector at lambda_strong over media signatures and intervention layers. So the two
differ in direction only: drift correction versus injected refusal.

CRS of the self-rectification score (ReGap §6 in docs/reference.md, candidates a, c, d) on the test split per media modality,
uncorrected and with the probe's correction: the "restored separability" the paper reports, measured here.

Geometry diagnostics (per modality and intervention / diagnostic layer, from ReGap's calibration artifact):
cos(drift, r_hat) and the "refusal injected by the full correction", -<delta, r_hat> / ||r||: how far subtracting
the full drift moves an input along the refusal direction, in units of the text harmful-benign gap. The `orth`
variant injects exactly 0 there by construction, so a gain of `orth` over `none` is drift correction, while a gain
of `full` beyond `orth` (or of refusal-steer) can come from injected refusal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.files import read_json

# name -> (registered defense, parameters on top of the family's shared ones). Families: ReGap methods take the
# shared calibration / validation selectors and parts and --param; "steer" methods take data / validation; the
# rest take nothing. MATCHED marks values filled in from ReGap's calibrated geometry.
MATCHED = "<matched to regap>"
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "none": ("none", {}),
    "regap": ("regap", {}),
    "regap-full": ("regap-full", {}),
    "regap-full-fullprefill": ("regap-full", {"resume_prefill": False}),
    "regap-tokens": ("regap-tokens", {}),
    "regap-fixed": ("regap-fixed", {}),
    "regap-fixed-full": ("regap-fixed", {"variant": "full"}),
    "regap-par": ("regap", {"variant": "par"}),
    "omnisteer": ("omnisteer", {}),
    "refusal-steer": ("refusal-steer", {"vector": "unit", "positions": "all", "phase": "prefill",
                                        "layers": MATCHED, "alpha": MATCHED}),
    "self-reminder": ("self-reminder", {}),
}
DEFAULT_METHODS = "none,regap,regap-full,omnisteer,refusal-steer,self-reminder"


def add_common_args(p: argparse.ArgumentParser, *, methods: str | None) -> None:
    """Model, data selectors, methods and device options shared by the defense benchmarks."""
    from harness import config

    p.add_argument("--model", default="organism")
    p.add_argument("--backend", default=None)
    p.add_argument("--calibration", default="organism-calibration")
    p.add_argument("--calibration-part", default="")
    p.add_argument("--validation", default="organism-validation")
    p.add_argument("--validation-part", default="")
    p.add_argument("--test", default="organism-safety", help="test task selector (held out)")
    p.add_argument("--test-part", default="", help="part of the test selector's sources, e.g. 70-100%%")
    if methods is not None:
        p.add_argument("--methods", default=methods, help=f"comma-separated, from {', '.join(METHODS)}")
        p.add_argument("--method-param", action="append", metavar="METHOD:KEY=VALUE", default=[],
                       help="parameter for one method, e.g. omnisteer:scale=2 (repeatable)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="ReGap parameter for every ReGap method")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None, help=f"cache directory (default: ${config.CACHE_ENV} or ~/.cache)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--include-path", action="append", default=[])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.defense_table", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    add_common_args(p, methods=DEFAULT_METHODS)
    p.add_argument("--limit", type=int, default=None, help="at most N test samples per configuration x label")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--out", default=None, help="write the full results as JSON here")
    p.add_argument("--tuned", default=None, metavar="FILE",
                   help="a benchmarks.defense_tuning result: run none and every tuned defense once with its chosen "
                        "setting (model and seed from the file)")
    return p.parse_args(argv)


def tuned_methods(path: str, args: argparse.Namespace) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, registered defense, parameters) for none and each defense the tuning file chose a setting for; sets
    the model and seed from the file."""
    tuned = json.loads(Path(path).read_text())
    if args.model != "organism" and args.model != tuned["model"]:
        raise SystemExit(f"--tuned {path} was tuned for model {tuned['model']!r}, not {args.model!r}")
    args.model, args.seed = tuned["model"], int(tuned["seed"])
    out: list[tuple[str, str, dict[str, Any]]] = [("none", "none", {})]
    for name, entry in tuned["defenses"].items():
        if entry["params"] is None:
            print(f"{name}: no grid point within the benign-cost bound on validation; not run", file=sys.stderr)
            continue
        key = entry["strength_param"]
        out.append((f"{name} ({key}={entry['params'][key]:g})", name, dict(entry["params"])))
    return out


def rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per modality: harmful refusal and benign acceptance (Wilson 95 %) from keyword verdicts."""
    from harness.metrics import LabelCounts, benign_acceptance, refusal_rate

    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        for modality in (r["modality"], "all-media" if r["modality"] != "text" else None):
            if modality:
                groups[(modality, r["label"])].append(r["verdict"])
    out: dict[str, Any] = {}
    for (modality, label), verdicts in sorted(groups.items()):
        counts = LabelCounts.of(verdicts)
        rate = refusal_rate(counts) if label == "harmful" else benign_acceptance(counts)
        key = "harmful_refusal" if label == "harmful" else "benign_acceptance"
        out.setdefault(modality, {})[key] = {**rate.to_dict(), "unknown": counts.unknown}
    return out


def method_params(name: str, args: argparse.Namespace, matched: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters `name` runs with: its family's shared calibration selectors, its own fixed ones, values
    matched to ReGap, then --method-param overrides."""
    from harness.config import key_values

    defense_name, extra = METHODS[name]
    if defense_name.startswith("regap"):
        shared = {"calibration": args.calibration, "calibration_part": args.calibration_part,
                  "validation": args.validation, "validation_part": args.validation_part,
                  **key_values(args.param, "param")}
    elif defense_name in ("omnisteer", "refusal-steer"):
        shared = {"data": args.calibration, "validation": args.validation}
    else:
        shared = {}
    params = {**shared, **extra}
    for key, value in params.items():
        if value == MATCHED:
            if not matched:
                raise SystemExit(f"{name} is matched to ReGap's geometry: list 'regap' before it in --methods")
            params[key] = matched[key]
    own = [item.split(":", 1)[1] for item in args.method_param if item.split(":", 1)[0] == name]
    return {**params, **key_values(own, "method-param")}


def matched_to_regap(info: dict[str, Any]) -> dict[str, Any] | None:
    """refusal-steer's layers and alpha: ReGap's intervention layers and the mean norm of its `orth` correction
    (lambda_strong x the drift's component orthogonal to r_hat) over media signatures and those layers."""
    import math

    manifest = read_json(Path(info["artifacts"]["geometry"]) / "manifest.json")
    settings = info["settings"]
    layers = list(settings["intervention_layers"])
    norms = [math.sqrt(max(row["norm"] ** 2 - row["dot"] ** 2, 0.0))
             for sig, rows in manifest["extra"]["diagnostics"].items() if sig != "pooled"
             for row in rows if row["layer"] in layers]
    if not norms:  # e.g. a per-token drift at the input embeddings: nothing at the last token to match
        return None
    return {"layers": layers, "alpha": float(settings.get("lambda_strong", 1.0)) * sum(norms) / len(norms)}


def run_method(name: str, params: dict[str, Any], backend: Any, registries: Any, test: list[Any],
               args: argparse.Namespace, task_context: Any) -> dict[str, Any]:
    return evaluate(METHODS[name][0] if name in METHODS else name, params, backend, registries, test, args,
                    task_context, label=name, diagnostics=True)


def evaluate(defense_name: str, params: dict[str, Any], backend: Any, registries: Any, test: list[Any],
             args: argparse.Namespace, task_context: Any, *, label: str | None = None,
             diagnostics: bool = False) -> dict[str, Any]:
    """Set up the registered defense `defense_name` with `params` (calibrating or training on its own data; the
    evaluated samples are checked against it), answer `test` and judge the answers with the keyword judge."""
    from harness.records import Generation, GenerationConfig
    from harness.run import defense_context
    from judges.base import JudgeItem
    from judges.keyword import KeywordJudge

    name = label or defense_name
    defense = registries.defenses.get(defense_name)(**params)
    t0 = time.perf_counter()
    defense.setup(backend, defense_context(registries, args.model, task_context, seed=args.seed,
                                           evaluation_samples=test, show_progress=False))
    setup_s = time.perf_counter() - t0
    config = GenerationConfig(max_new_tokens=args.max_new_tokens)
    ordered = sorted(test, key=lambda s: (s.modality, len(s.text), s.id))
    judge = KeywordJudge()
    rows: list[dict[str, Any]] = []
    gen_s = 0.0
    for start in range(0, len(ordered), args.batch_size):
        chunk = ordered[start:start + args.batch_size]
        t0 = time.perf_counter()
        outputs = defense.generate(backend, chunk, config)
        gen_s += time.perf_counter() - t0
        items = [JudgeItem(s, Generation(sample_id=s.id, task=s.task, config=s.config, label=s.label,
                                         modality=s.modality, response=o.text)) for s, o in zip(chunk, outputs)]
        for s, o, v in zip(chunk, outputs, judge.score(items)):
            rows.append({"id": s.id, "modality": s.modality, "label": s.label, "verdict": v.label,
                         "response": o.text, "info": o.info})
        print(f"  {name}: {len(rows)}/{len(ordered)}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    result = {"defense": defense_name, "params": params, "status": getattr(defense, "status", ""),
              "setup_s": setup_s, "generate_s": gen_s, "rates": rates(rows), "rows": rows}
    if defense_name != "none":
        result["defense_info"] = defense.info()
    if defense_name.startswith("regap"):
        result["decisions"] = decision_summary(rows)
        if diagnostics and defense.calibrated.settings.adaptive:
            result["crs"] = crs_before_after(backend, defense, test, args.batch_size)
    return result


def decision_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per modality and label: share of rows given a non-zero lambda, mean z, cache reuse; AUROC of z."""
    import torch

    from defenses.toolkit.crs import auroc

    out: dict[str, Any] = {}
    by_modality: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["modality"] != "text":
            by_modality[r["modality"]].append(r)
    for modality, group in sorted(by_modality.items()):
        entry: dict[str, Any] = {}
        for label in ("harmful", "benign"):
            sel = [r["info"] for r in group if r["label"] == label]
            if not sel:
                continue
            zs = [i["z"] for i in sel if i.get("z") is not None]
            entry[label] = {"n": len(sel), "corrected_share": sum(i["lambda"] != 0 for i in sel) / len(sel),
                            "mean_lambda": sum(i["lambda"] for i in sel) / len(sel),
                            "mean_z": sum(zs) / len(zs) if zs else None,
                            "cache_reused_share": sum(bool(i.get("cache_reused")) for i in sel) / len(sel)}
        zh = [r["info"]["z"] for r in group if r["label"] == "harmful" and r["info"].get("z") is not None]
        zb = [r["info"]["z"] for r in group if r["label"] == "benign" and r["info"].get("z") is not None]
        if zh and zb:
            entry["z_auroc"] = auroc(torch.tensor(zh), torch.tensor(zb))
        out[modality] = entry
    return out


def crs_before_after(backend: Any, defense: Any, test: list[Any], batch_size: int) -> dict[str, Any]:
    """CRS (docs/reference.md, ReGap §6) of the self-rectification score on the test split, per media modality,
    without correction and with the probe's correction: z (mean normalised projection over the diagnostic layers)
    of harmful vs benign items, against the text items' z (or the anchors 1 / 0 when the test has no text)."""
    import dataclasses

    import torch

    from defenses.regap.policy import score_samples
    from defenses.regap.probe import Prober
    from defenses.toolkit.crs import crs

    cal = defense.calibrated
    rows = [s for s in test if s.label in ("harmful", "benign")]
    before = score_samples(backend, Prober(cal.geometry, dataclasses.replace(cal.settings, lambda_probe=0.0),
                                           cal.prober.device), rows, batch_size)
    after = score_samples(backend, cal.prober, rows, batch_size)
    harmful = torch.tensor([s.label == "harmful" for s in rows])
    text = torch.tensor([s.modality == "text" for s in rows])
    text_h = before[text & harmful] if bool((text & harmful).any()) else torch.tensor([1.0])
    text_b = before[text & ~harmful] if bool((text & ~harmful).any()) else torch.tensor([0.0])
    out: dict[str, Any] = {}
    for modality in sorted({s.modality for s in rows if s.modality != "text"}):
        m = torch.tensor([s.modality == modality for s in rows])
        if not bool((m & harmful).any()) or not bool((m & ~harmful).any()):
            continue
        out[modality] = {
            when: dataclasses.asdict(crs(z[m & harmful], z[m & ~harmful], text_h, text_b, tau_rule="midpoint"))
            for when, z in (("uncorrected", before), ("probe_corrected", after))
        }
    return out


def geometry_table(info: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    """cos(drift, r_hat) and the refusal the full correction injects, at intervention and diagnostic layers."""
    manifest = read_json(Path(info["artifacts"]["geometry"]) / "manifest.json")
    settings = info["settings"]
    layers = sorted(set(settings["intervention_layers"]) | set(settings["diagnostic_layers"]))
    out: dict[str, list[dict[str, float]]] = {}
    for sig, per_layer in manifest["extra"]["diagnostics"].items():
        out[sig] = [{"layer": row["layer"], "cos": row["cos"], "injected_full": -row["dot"] / max(row["gap"], 1e-12),
                     "norm_over_gap": row["norm_over_gap"],
                     "role": ("int" if row["layer"] in settings["intervention_layers"] else "")
                     + ("diag" if row["layer"] in settings["diagnostic_layers"] else "")}
                    for row in per_layer if row["layer"] in layers]
    return out


def format_report(results: dict[str, Any]) -> str:
    lines = [f"command: {results['command']}",
             f"model {results['model']}, seed {results.get('seed')}, test {results['test']} ({results['n_test']} items), "
             f"keyword judge, {results['max_new_tokens']} new tokens; rates with Wilson 95 % intervals"]
    if results.get("tuned"):
        lines.append(f"settings tuned on validation only: {results['tuned']}; ReGap's text cells are none's (no hook "
                     "on text-only batches)")
    methods = results["methods"]
    modalities = sorted({m for r in methods.values() for m in r["rates"]})
    lines.append("| method | " + " | ".join(f"{m} harmful refusal | {m} benign acceptance" for m in modalities)
                 + " | generate s |")
    lines.append("|" + "---|" * (2 * len(modalities) + 2))
    for name, r in methods.items():
        cells = []
        for m in modalities:
            for key in ("harmful_refusal", "benign_acceptance"):
                rate = r["rates"].get(m, {}).get(key)
                cells.append(f"{rate['value']:.3f} [{rate['low']:.2f}-{rate['high']:.2f}] ({rate['k']}/{rate['n']})"
                             if rate and rate["n"] else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r['generate_s']:.1f} |")
    for name, r in methods.items():
        for modality, table in (r.get("crs") or {}).items():
            cells = "; ".join(f"{when}: d'={c['dprime']:+.2f} cond={c['threshold_conditional']:+.2f} "
                              f"AUROC={c['auroc']:.2f}" for when, c in table.items())
            lines.append(f"CRS of z, {name}, {modality}: {cells}")
    if results.get("matched_to_regap"):
        m = results["matched_to_regap"]
        lines.append(f"refusal-steer matched to ReGap: alpha * r_hat at layers {m['layers']}, alpha = {m['alpha']:.4f} "
                     "(mean norm of ReGap's orth correction)")
    shown: set[str] = set()
    for name, table in results.get("geometry", {}).items():
        if json.dumps(table, sort_keys=True) in shown:
            continue
        shown.add(json.dumps(table, sort_keys=True))
        lines.append(f"\ngeometry used by {name} (calibration artifact): cos(drift, r_hat) / refusal injected by "
                     "the full correction (text-gap units) per layer")
        for sig, rows in table.items():
            cells = ", ".join(f"L{r['layer']}{'[' + r['role'] + ']' if r['role'] else ''}: {r['cos']:+.3f} / "
                              f"{r['injected_full']:+.3f}" for r in rows)
            lines.append(f"  {sig}: {cells}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from defenses.toolkit.splits import take_part
    from harness import config
    from harness.run import default_registries, load_backend, resolve_model, samples_loader
    from tasks.base import TaskContext, select

    args = parse_args(argv)
    unknown = [m for m in args.methods.split(",") if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    tuned = tuned_methods(args.tuned, args) if args.tuned else None
    cache = config.cache_dir(args.cache_dir)
    registries = default_registries(args.include_path)
    task_context = TaskContext(cache_dir=cache, data_root=config.data_root(args.data_root))
    loader = samples_loader(registries, task_context)
    test = select(take_part(loader(args.test), args.test_part, args.seed), args.limit, args.seed)
    resolved = resolve_model(args.model, cache, build=False)  # for its notes
    backend = load_backend(registries, args.model, cache, backend=args.backend, dtype=args.dtype, device=args.device)
    results: dict[str, Any] = {
        "command": "python -m benchmarks.defense_table " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": args.model, "seed": args.seed, "notes": list(resolved.notes), "test": args.test,
        "test_part": args.test_part,
        "n_test": len(test), "judge": "keyword (default preset)", "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size, "methods": {}, "geometry": {},
    }
    matched: dict[str, Any] | None = None
    if tuned is not None:
        results["tuned"] = args.tuned
        media = [s for s in test if s.modality != "text"]
        for label, defense, params in tuned:
            print(f"{label} ...", file=sys.stderr)
            # ReGap installs no hook for a text-only batch: its text answers are none's, so only media are run.
            items = media if defense.startswith("regap") else test
            r = evaluate(defense, params, backend, registries, items, args, task_context, label=label)
            if items is media and "none" in results["methods"]:
                r["rates"]["text"] = results["methods"]["none"]["rates"]["text"]
                r["text_from_none"] = True
            results["methods"][label] = r
    for name in ([] if tuned is not None else args.methods.split(",")):
        print(f"{name} ...", file=sys.stderr)
        result = run_method(name, method_params(name, args, matched), backend, registries, test, args,
                            task_context)
        results["methods"][name] = result
        if name == "regap":
            matched = matched_to_regap(result["defense_info"])
            results["matched_to_regap"] = matched
        if METHODS[name][0].startswith("regap"):
            results["geometry"][name] = geometry_table(result["defense_info"])
    print(format_report(results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1, default=str) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
