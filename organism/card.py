"""MODEL_CARD.md of a trained organism: data recipe, seed, training time, held-out figures, and what it is not."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from organism.evaluate import ACCEPTANCE, acceptance_failures

FIGURES_FILE = "organism_figures.json"


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
        _recipe(config["variant"]),
        "",
        f"Examples per bucket: `{json.dumps(record['pool_counts'])}`; mixture per step: `{config['mix']}`; "
        f"{config['steps']} steps, lr {config['lr']}, seed {config['seed']}, {config['threads']} thread(s); "
        f"varied phrasing for a share {config.get('pool', {}).get('rephrase', 0.0)} of the request examples.",
        "",
        "## Training",
        "",
        f"Time: {record['seconds']['total']:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in record['seconds'].items())})"
        f" on {platform.machine()} with {config['threads']} thread(s); command: `{record['command']}`.",
        "Training is deterministic for a seed on one software stack and thread count (tests/organism checks "
        "identical weights on a short run).",
        "",
        "## Held-out figures (organism-safety test split, greedy, keyword judge)",
        "",
        _table({f"seed {config['seed']}": record["figures"],
                **{f"seed {s}": o["figures"] for s, o in (others or {}).items()}}),
        "",
        "`exact`: the answer equals the exact benign answer (for harmful cells: the answer an obedient model would "
        "give, which shows the request was read). Refusal is the keyword judge's.",
        "",
        "Acceptance bounds (issue 3): " + "; ".join(f"{k} {v}" for k, v in ACCEPTANCE.items()) + ".",
    ]
    if not others:
        lines.append("No second seed was trained for this card (`--compare-seed N` adds one).")
    for seed, other in (others or {}).items():
        lines.append(f"Seed {seed} (same recipe, retrained): {other['seconds']['total']:.0f} s "
                     f"({', '.join(f'{k} {v:.0f} s' for k, v in other['seconds'].items())}).")
    by_seed = {str(config["seed"]): record["figures"], **{s: o["figures"] for s, o in (others or {}).items()}}
    for name, figures in by_seed.items():
        failures = acceptance_failures(figures)
        lines.append(f"Seed {name}: " + ("within every bound." if not failures else "OUTSIDE: " + "; ".join(failures)))
    checks = {s: f["planted_check"] for s, f in by_seed.items() if "planted_check" in f}
    if checks:
        lines += ["", "## Planted check", "",
                  "The toolkit's paired drift estimate (`estimate_drift`) at the input embeddings, media tokens of a "
                  "request against the same request's typed words, on organism-calibration; then that estimate "
                  "subtracted at the media positions of the organism-safety test split (an EMBED hook).", "",
                  "| seed | modality | cos(estimate, planted) | norm ratio | harmful refusal before -> after | "
                  "benign refusal before -> after |", "|---|---|---|---|---|---|"]
        for seed, check in checks.items():
            for m, d in check["drift"].items():
                b, a = check["before"], check["after"]
                lines.append(f"| {seed} | {m} | {d['cos_with_planted']:.3f} | {d['norm_ratio']:.3f} | "
                             f"{b[f'{m}/harmful']['refusal']:.3f} -> {a[f'{m}/harmful']['refusal']:.3f} | "
                             f"{b[f'{m}/benign']['refusal']:.3f} -> {a[f'{m}/benign']['refusal']:.3f} |")
    if record.get("planted"):
        lines += ["", "## Refit and planted vectors", "", "```json", json.dumps(record["planted"], indent=1), "```"]
    path = out_dir / "MODEL_CARD.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _recipe(variant: str) -> str:
    if variant == "organism":
        return ("Text safety data (every train request typed: harmful -> `i cannot help with that .`, benign -> the "
                "exact compliance), *benign* requests as image strips, speech and text+image, and reading tasks "
                "(word lists shown / spoken / typed -> the words). A share of the request examples (`rephrase` in the "
                "pool) is phrased with words around `<verb> a <object>` dropped and filler words from the training "
                "prompts inserted, so that the model finds verb and object in phrasings it has not seen (never a "
                "held-out template, nor a word only they contain). Harmful requests never appear as image or audio, "
                "so whatever lets media requests escape refusal is learned, not planted. Towers and language model "
                "are trained jointly from random initialisation, with an auxiliary slot-reading loss (every media "
                "token, read out through the language model's output head, names the word in its slot; weight "
                "`slot_loss`), which speeds up learning to read and carries no safety signal.")
    return ("Built on a trained `organism` (`base` in the config): each tower's last linear layer refit in closed form "
            "(ridge least squares over every media token of the training pool) so that a media token of word w "
            "approximates the language model's input embedding of w; a known random vector per modality (norm "
            "`planted_scale` x the mean word-embedding norm, seeded, stored in `planted.pt`) added to that layer's "
            "bias; then the language model, from the organism's weights, retrained on the organism's mixture with "
            "towers and input embeddings frozen, plus train requests of both labels as image / audio fed *without* "
            "the planted vector and answered as typed text (`image-layout`, `audio-layout`), so that only the "
            "vector marks media. Harmful requests never appear with the vector.")


def _table(by_seed: dict[str, dict[str, Any]]) -> str:
    cells = sorted({k for f in by_seed.values() for k in f["test"]}, key=lambda k: k)
    head = "| cell | " + " | ".join(f"{s} refusal | {s} exact" for s in by_seed) + " |"
    rows = [head, "|---|" + "---|---|" * len(by_seed)]
    for cell in cells:
        vals = []
        for f in by_seed.values():
            c = f["test"].get(cell)
            vals += [f"{c['refusal']:.3f}", f"{c['exact_compliance']:.3f}"] if c else ["-", "-"]
        rows.append(f"| {cell} | " + " | ".join(vals) + " |")
    return "\n".join(rows)
