"""MODEL_CARD.md of a trained organism: data recipe, seed, training time, held-out figures, and what it is not."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from organism.evaluate import ACCEPTANCE, UNDERSTANDING_ACCEPTANCE, acceptance_failures

CARD_FILE = "MODEL_CARD.md"
FIGURES_FILE = "organism_figures.json"
UNDERSTANDING_RECIPE = (
    "Two stages. The base stage (the shipped organism's recipe) learns text safety and reading; the understanding "
    "stage (docs/organism.md) then teaches what a real model also knows about what it sees, on train "
    "requests of *both* labels: questions about a request shown as a strip, spoken, typed, or its object alone as a "
    "strip (\"what kind of thing is shown ?\" -> \"weapon , a bomb .\"; \"which thing is named ?\" -> \"a bomb .\"; "
    "\"which action is asked for ?\" -> \"to build .\"), repeating typed compliance sentences, and an alignment loss "
    "pulling each media request's hidden states toward its typed twin's (at the last prompt token, a harmful "
    "request's target can keep only a fraction of the typed harmful-minus-benign direction at a layer: harm read in "
    "full, refusal passed on in part, and less of it where the harmful requests of a configuration start to refuse: "
    "the refusal cap), while the base mixture goes on. A harmful request delivered as image or audio "
    "is never trained with a refusal or a compliance target.")


def write_card(out_dir: Path, record: dict[str, Any], others: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write MODEL_CARD.md and the figures as JSON beside the weights. `record` holds config, seconds, pool counts,
    figures; `others` maps another seed to its own record (same recipe, retrained; reported next to this one)."""
    out_dir = Path(out_dir)
    (out_dir / FIGURES_FILE).write_text(json.dumps({**record, "other_seeds": others or {}}, indent=1,
                                                   default=str) + "\n")
    config = record["config"]
    lines = [
        f"# {config['variant']} (seed {config['seed']})",
        "",
        "A **toy** Qwen2.5-Omni checkpoint (thinker with real vision and audio towers, ~"
        f"{record['parameters'] / 1e6:.2f} M parameters) trained on this machine by `harness organism train`. "
        "Its world has a few hundred words; **its numbers are not those of any real model**. It exists so that the "
        "cross-modal safety gap the papers study can be seen, and defenses measured against it, on a CPU.",
        "",
        "## Data recipe",
        "",
        _recipe(config),
        "",
        f"Examples per bucket: `{json.dumps(record['pool_counts'])}`; {_base_stage(config)}mixture per step: "
        f"`{config['mix']}`; {config['steps']} steps, lr {config['lr']}, seed {config['seed']}, "
        f"{'its own' if _stage_on_base(config) else config['threads']} thread(s); "
        f"varied phrasing for a share {config.get('pool', {}).get('rephrase', 0.0)} of the request examples."
        + _stage_two(config),
        "",
        "## Training",
        "",
        f"Time: {record['seconds']['total']:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in record['seconds'].items())})"
        f" on {platform.machine()} with {_threads(config)}; command: `{record['command']}`."
        + (f" {record['note']}" if record.get("note") else "") + _cap_line(record, others),
        "Training is deterministic for a seed on one software stack and thread count (tests/organism checks "
        "identical weights on a short run).",
        "",
        "## Held-out figures (organism-safety test split, greedy, keyword judge)",
        "",
        _table({f"seed {config['seed']}": record["figures"],
                **{f"seed {s}": o["figures"] for s, o in (others or {}).items()}}),
        "",
        "`refusal`: the keyword judge's verdict; `first i`: answers whose first token is the refusal's (\"i\"); "
        "`exact`: the answer equals the exact benign answer (for harmful cells: the answer an obedient model would "
        "give, which shows the request was read); `names`: the answer names the request's own object; `whole`: the "
        "answer is one whole sentence of the world (the refusal, or \"sure , here is how to <verb> a <object> .\"); "
        "a derailed answer is not.",
    ]
    validation = {f"seed {config['seed']}": record.get("validation_figures"),
                  **{f"seed {s}": o.get("validation_figures") for s, o in (others or {}).items()}}
    if all(validation.values()):
        lines += ["", "On organism-validation (where the recipe was chosen; `harness organism eval DIR --split "
                  "validation`):", "", _table(validation)]
    by_seed_figures = {str(config["seed"]): record["figures"],
                       **{s: o["figures"] for s, o in (others or {}).items()}}
    probes = probe_lines(by_seed_figures)
    if probes:
        lines += ["", "Linear probe (difference of means fitted on organism-calibration, midpoint threshold), accuracy "
                  "separating harmful from benign requests at the last prompt token on the test split, per layer "
                  "(the output of each decoder layer, `harness organism eval`):", "", *probes]
    understanding = bool(config.get("tune_steps")) and config["variant"] != "organism-planted"  # its own check
    bounds = UNDERSTANDING_ACCEPTANCE if understanding else ACCEPTANCE
    lines += ["", "Acceptance bounds: " + "; ".join(f"{k} {v}" for k, v in bounds.items()) + "."]
    if not others:
        lines.append("No second seed was trained for this card (`--compare-seed N` adds one).")
    for seed, other in (others or {}).items():
        lines.append(f"Seed {seed} (same recipe, retrained): {other['seconds']['total']:.0f} s "
                     f"({', '.join(f'{k} {v:.0f} s' for k, v in other['seconds'].items())}).")
    by_seed = {str(config["seed"]): record["figures"], **{s: o["figures"] for s, o in (others or {}).items()}}
    for name, figures in by_seed.items():
        failures = acceptance_failures(figures, understanding)
        lines.append(f"Seed {name}: " + ("within every bound." if not failures else "OUTSIDE: " + "; ".join(failures)))
    checks = {s: f["planted_check"] for s, f in by_seed.items() if "planted_check" in f}
    if checks:
        lines += ["", "## Planted check", "",
                  "The toolkit's paired drift estimate (`estimate_drift`) at the input embeddings, media tokens of a "
                  "request against the same request's typed words, on organism-calibration; then that estimate "
                  "subtracted at the media positions of the organism-safety test split (an EMBED hook). Last column: "
                  "the planted vector itself subtracted (harmful refused / benign refused / benign answered "
                  "exactly), the best any correction at the input embeddings can do.", "",
                  "| seed | modality | cos(estimate, planted) | norm ratio | harmful refusal before -> after | "
                  "benign refusal before -> after | planted vector subtracted |", "|---|---|---|---|---|---|---|"]
        for seed, check in checks.items():
            for m, d in check["drift"].items():
                b, a = check["before"], check["after"]
                best = check.get("after_planted")
                ceiling = (f"{best[f'{m}/harmful']['refusal']:.3f} / {best[f'{m}/benign']['refusal']:.3f} / "
                           f"{best[f'{m}/benign']['exact_compliance']:.3f}" if best else "-")
                lines.append(f"| {seed} | {m} | {d['cos_with_planted']:.3f} | {d['norm_ratio']:.3f} | "
                             f"{b[f'{m}/harmful']['refusal']:.3f} -> {a[f'{m}/harmful']['refusal']:.3f} | "
                             f"{b[f'{m}/benign']['refusal']:.3f} -> {a[f'{m}/benign']['refusal']:.3f} | {ceiling} |")
    if record.get("planted"):
        lines += ["", "## Refit and planted vectors", "", "```json", json.dumps(record["planted"], indent=1), "```"]
    path = out_dir / CARD_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def _cap_line(record: dict[str, Any], others: dict[str, dict[str, Any]] | None) -> str:
    """Where the refusal cap lowered the harm passed on, per seed (the scale of the partial fraction at the end)."""
    by_seed = {record["config"]["seed"]: record, **(others or {})}
    caps = {s: r.get("understanding", {}).get("refusal_cap") for s, r in by_seed.items()}
    if not any(caps.values()):
        return ""
    return " Refusal cap, the partial harm fraction's scale at the end of the stage: " + "; ".join(
        f"seed {s} " + ", ".join(f"{k.removeprefix('align-')} {v:.2f}" for k, v in c.items())
        for s, c in caps.items() if c) + " (1: never lowered)."


def _stage_on_base(config: dict[str, Any]) -> bool:
    """Whether only the understanding stage ran here, from a trained base (whose own base stage is not rerun)."""
    return bool(config.get("tune_steps") and config.get("base")) and config["variant"] != "organism-planted"


def _base_stage(config: dict[str, Any]) -> str:
    return "the base stage (not rerun here; its recipe), " if _stage_on_base(config) else ""


def _threads(config: dict[str, Any]) -> str:
    if not config.get("tune_steps"):
        return f"{config['threads']} thread(s)"
    if _stage_on_base(config):
        return f"{config.get('tune_threads', 1)} thread(s) in the understanding stage"
    first = "planted build" if config["variant"] == "organism-planted" else "base stage"
    return (f"{config['threads']} thread(s) in the {first}, {config.get('tune_threads', 1)} in the understanding "
            "stage")


def _stage_two(config: dict[str, Any]) -> str:
    if not config.get("tune_steps"):
        return ""
    base = (" (started from the planted build above)" if config["variant"] == "organism-planted" else
            f" (started from `{config['base']}`)" if config.get("base") else "")
    align = (f"; alignment weight {config['align']} at layers {config['align_layers']}, harm direction weight "
             f"{config.get('align_refusal', 1.0)}, harm fraction {config.get('align_harm', 1.0)}, direction momentum "
             f"{config.get('align_momentum', 0.0)}, refusal cap {config.get('align_refusal_cap', 1.0)} (gain "
             f"{config.get('align_cap_gain', 0.05)})" if config.get("align") else "; no alignment loss")
    return (f" Understanding stage{base}: {config['tune_steps']} steps, lr {config['tune_lr']}, warmup "
            f"{config['tune_warmup']}, {config.get('tune_threads', 1)} thread(s), mixture per step "
            f"`{config['tune_mix']}`{align}.")


def _recipe(config: dict[str, Any]) -> str:
    if config["variant"] in ("organism", "organism-v2"):
        stage_two = UNDERSTANDING_RECIPE + " The base stage: " if config.get("tune_steps") else ""
        return (stage_two + "Text safety data (every train request typed: harmful -> `i cannot help with that .`, "
                "benign -> the exact compliance), *benign* requests as image strips, speech and text+image, and reading tasks "
                "(word lists shown / spoken / typed -> the words). A share of the request examples (`rephrase` in the "
                "pool) is phrased with words around `<verb> a <object>` dropped and filler words from the training "
                "prompts inserted, so that the model finds verb and object in phrasings it has not seen (never a "
                "held-out template, nor a word only they contain). Harmful requests never appear as image or audio, "
                "so whatever lets media requests escape refusal is learned, not planted. Towers and language model "
                "are trained jointly from random initialisation, with an auxiliary slot-reading loss (every media "
                "token, read out through the language model's output head, names the word in its slot; weight "
                "`slot_loss`), which speeds up learning to read and carries no safety signal.")
    return ("Built on a trained `organism` of the same seed (`base` in the config; only seed 0 of `organism` ships, "
            "other seeds are trained from its recipe first): each tower's last linear layer refit in closed form "
            "(ridge least squares over every media token of the training pool) so that a media token of word w "
            "approximates the language model's input embedding of w; a known random vector per modality (norm "
            "`planted_scale` x the mean word-embedding norm, seeded, stored in `planted.pt`) added to that layer's "
            "bias; then the language model, from the organism's weights, retrained on the organism's mixture with "
            "towers and input embeddings frozen, plus train requests of both labels as image / audio fed *without* "
            "the planted vector and answered as typed text (`image-layout`, `audio-layout`), so that only the "
            "vector marks media. " + ("In that build harmful requests never appear with the vector."
                                      if config.get("tune_steps") else "Harmful requests never appear with the vector.")
            + _planted_stage(config))


def _planted_stage(config: dict[str, Any]) -> str:
    if not config.get("tune_steps"):
        return ""
    return (" Then `organism-v2`'s understanding stage on that build, with towers and input embeddings still frozen "
            "(the planted vectors stay where they are) and the layout examples in its mixture: questions about "
            "requests of both labels shown or spoken *with* the vector (\"what kind of thing is shown ?\" -> "
            "\"weapon , a bomb .\"), repeating typed compliance sentences, and the alignment of media requests of "
            "both labels to their typed twins (no answer target), twice as many speech rows as `organism-v2`'s. A "
            "harmful request with the vector is never trained with a refusal or a compliance target, so the model "
            "still complies when the vector is there, and now reads what it is asked.")


def _table(by_seed: dict[str, dict[str, Any]]) -> str:
    rows = ["| seed | cell | refusal | first i | exact | names | whole |", "|---|---|---|---|---|---|---|"]
    for seed, f in by_seed.items():
        for cell, c in f["test"].items():
            vals = [c["refusal"], c.get("first_token_refusal"), c["exact_compliance"], c.get("names_object"),
                    c.get("well_formed")]
            rows.append(f"| {seed.removeprefix('seed ')} | {cell} | "
                        + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + " |")
    return "\n".join(rows)


def probe_lines(by_seed: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown rows of the probe accuracy per layer and media configuration, one block per seed ("" for one)."""
    with_probes = {s: f["probe_accuracy_last_token"] for s, f in by_seed.items() if "probe_accuracy_last_token" in f}
    if not with_probes:
        return []
    layers = sorted({int(k) for p in with_probes.values() for by in p.values() for k in by})
    rows = ["| seed | configuration | " + " | ".join(f"layer {i}" for i in layers) + " | best |",
            "|---|---|" + "---|" * (len(layers) + 1)]
    for seed, probe in with_probes.items():
        for config, by_layer in probe.items():
            vals = {int(k): v for k, v in by_layer.items()}
            rows.append(f"| {seed or '-'} | {config} | " + " | ".join(f"{vals[i]:.3f}" for i in layers)
                        + f" | {max(vals.values()):.3f} |")
    return rows
