"""The geometry a steering defense relies on, per layer, measured on calibration / validation data only:

- separability: accuracy of a harmful-vs-benign difference-of-means probe at the last prompt token, fitted on
  `--calibration` and tested on `--validation`, per media configuration and layer (what OmniSteer's adapters and
  ReGap's probe must read);
- refusal projection: mean normalised projection z = <h - mu_B, r> / ||r||^2 on the text refusal direction per
  configuration x label and layer (0 at the benign-text mean, 1 at the harmful-text mean);
- harm probe score per harmful object (which harmful requests the model does not represent as harmful);
- drift: ||delta|| / ||r|| and cos(delta, r_hat) of the paired last-token drift per modality and layer (ReGap's
  estimate), and the per-token drift at the input embeddings (norm over the mean word-embedding norm); on
  `organism-planted` also its cosine with the planted vectors.

    python -m benchmarks.defense_geometry --model organism-planted --out results/geometry_organism_planted.txt
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.defense_table import add_common_args
    from defenses.regap.geometry import fit_geometry
    from defenses.regap.params import ReGapParams
    from defenses.regap.tokens import fit_token_drift, row_of
    from defenses.toolkit.collect import collect
    from defenses.toolkit.directions import cosine
    from harness import config
    from organism.evaluate import probe_figures
    from harness.run import default_registries, make_backend, samples_loader
    from tasks.base import TaskContext

    p = argparse.ArgumentParser(prog="python -m benchmarks.defense_geometry", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    add_common_args(p, methods=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    cache = config.cache_dir(args.cache_dir)
    registries = default_registries(args.include_path)
    task_context = TaskContext(cache_dir=cache, data_root=config.data_root(args.data_root))
    loader = samples_loader(registries, task_context)
    calibration, validation = loader(args.calibration), loader(args.validation)
    backend = make_backend(registries, args.model, cache, backend=args.backend, dtype=args.dtype, device=args.device)
    backend.load()
    layers = list(range(backend.num_layers))
    lines = [f"geometry of {args.model}: fitted on {args.calibration}, tested on {args.validation}",
             "command: python -m benchmarks.defense_geometry " + " ".join(sys.argv[1:] if argv is None else argv)]
    configs = sorted({s.config for s in validation if s.config != "text"})
    sep = probe_figures(backend, calibration, validation, configs)
    lines.append("\nseparability (harmful vs benign probe accuracy at the last prompt token) per layer:")
    for c, row in sep.items():
        lines.append(f"  {c}: " + ", ".join(f"L{layer} {acc:.2f}" for layer, acc in row.items()))
    acts = collect(backend, validation, layers, batch_size=16)
    lines += _harm_by_object(backend, calibration, acts, configs, sep)
    geometry = fit_geometry(backend, calibration, ReGapParams(calibration=args.calibration))
    lines.append("\nrefusal projection z per layer (0 = benign-text mean, 1 = harmful-text mean), validation means:")
    for c in ["text", *configs]:
        for label in ("harmful", "benign"):
            m = acts.mask(config=c, label=label)
            if not bool(m.any()):
                continue
            zs = [float(geometry.directions[layer].normalised_projection(acts.states[layer][m]).mean())
                  for layer in layers]
            lines.append(f"  {c}/{label}: " + ", ".join(f"L{layer} {z:+.2f}" for layer, z in zip(layers, zs)))
    lines.append("\nlast-token drift per layer: ||delta|| / ||r|| and cos(delta, r_hat):")
    for sig, rows in geometry.diagnostics().items():
        lines.append(f"  {sig}: " + ", ".join(f"L{r['layer']} {r['norm_over_gap']:.2f} / {r['cos']:+.2f}"
                                              for r in rows))
    tokens = fit_token_drift(backend, calibration, classes="both", estimator="paired", batch_size=16)
    embed = backend.model.get_input_embeddings().weight.detach().float()
    word_norm = float(embed.norm(dim=-1).mean())
    planted = _planted(backend.model_name)
    lines.append(f"\nper-token drift at the input embeddings (norm over the mean norm of all token embeddings, "
                 f"{word_norm:.3f})"
                 + (", cos with the planted vector" if planted else "") + ":")
    for sig, table in tokens.drifts.items():
        v = table[row_of(-1)]
        extra = f", cos with planted {cosine(v, planted[sig]):.3f}" if planted and sig in planted else ""
        lines.append(f"  {sig}: {float(v.norm()) / word_norm:.2f}{extra}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


def _harm_by_object(backend: Any, calibration: Sequence[Any], validation: Any, configs: Sequence[str],
                    sep: dict[str, dict[int, float]]) -> list[str]:
    """The harm probe's score of the harmful validation requests (`validation`: their collected states), per object
    (the sample's `object` metadata), at each configuration's best layer: which harmful requests the model does not
    represent as harmful."""
    from defenses.toolkit.collect import collect
    from defenses.toolkit.directions import diff_of_means

    lines = ["\nharm probe score per harmful object at the best layer (0 = benign mean, 1 = harmful mean of "
             "calibration), validation means:"]
    for c in configs:
        harmful = validation.subset(validation.mask(config=c, label="harmful",
                                                    where=lambda s: bool(s.metadata.get("object"))))
        if not harmful.samples or not sep.get(c):
            continue
        layer = max(sep[c], key=lambda k: sep[c][k])
        cal = collect(backend, [s for s in calibration if s.config == c], [layer], batch_size=16)
        z = diff_of_means(cal, layer).normalised_projection(harmful.states[layer])
        by_object: dict[str, list[float]] = {}
        for sample, value in zip(harmful.samples, z.tolist()):
            by_object.setdefault(sample.metadata["object"], []).append(value)
        lines.append(f"  {c} (L{layer}): " + ", ".join(f"{o} {sum(v) / len(v):+.2f}"
                                                         for o, v in sorted(by_object.items())))
    return lines


def _planted(model_dir: str) -> dict[str, Any] | None:
    from organism.planted import PLANTED_FILE, load_vectors

    return load_vectors(model_dir) if (Path(model_dir) / PLANTED_FILE).exists() else None


if __name__ == "__main__":
    sys.exit(main())
