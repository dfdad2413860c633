"""What `harness analyze` writes into an analysis folder: analysis.json (schema-versioned), one CSV per table,
SVG figures and vectors.pt (the directions, drifts and golden vectors themselves)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.run.analysis_svg import Series, histogram_chart, line_chart, scatter_chart

LAYER_AXIS = "layer (-1 = input embeddings)"


def _clean(obj: Any) -> Any:
    """JSON without NaN / infinity (they become null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def table_csv(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()})
    return buf.getvalue()


def _by(rows: Sequence[dict[str, Any]], position: str, key: str = "config") -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["position"] == position:
            out.setdefault(r[key], []).append(r)
    return {k: sorted(v, key=lambda r: r["layer"]) for k, v in out.items()}


def _series(groups: dict[str, list[dict[str, Any]]], y: str, lo: str | None = None, hi: str | None = None,
            suffix: str = "") -> list[Series]:
    return [Series(f"{name}{suffix}", [r["layer"] for r in rows], [r[y] for r in rows],
                   [r[lo] for r in rows] if lo else None, [r[hi] for r in rows] if hi else None)
            for name, rows in groups.items()]


def figures(tables: dict[str, list[dict[str, Any]]], positions: Sequence[str], model: str) -> dict[str, str]:
    """File name -> SVG text."""
    out: dict[str, str] = {}
    for pos in positions:
        tag = f"{model}, {pos} read-out"
        crs = _by(tables["crs"], pos)
        out[f"{pos}-crs.svg"] = line_chart(
            f"CRS (d', held-out) per layer - {tag}", LAYER_AXIS, "CRS d' along the text refusal direction",
            _series(crs, "dprime", "dprime_lo", "dprime_hi"), hline=0.0)
        out[f"{pos}-probe.svg"] = line_chart(
            f"Linear probe, held-out accuracy - {tag}", LAYER_AXIS, "probe accuracy (95% Wilson band)",
            _series(crs, "probe_accuracy", "probe_lo", "probe_hi"), hline=0.5)
        proj = {k: v for k, v in _by([r for r in tables["projections"] if r["label"] == "harmful"], pos).items()}
        out[f"{pos}-projection.svg"] = line_chart(
            f"Harmful inputs on the text refusal direction - {tag}", LAYER_AXIS,
            "normalised projection (0 benign text, 1 harmful text)",
            _series(proj, "normalised_mean", "normalised_lo", "normalised_hi"), hline=1.0)
        dirs = _by(tables["directions"], pos)
        golden = _by(tables["golden"], pos, key="position").get(pos, [])
        norm_series = _series(dirs, "norm")
        cos_series = _series({k: v for k, v in dirs.items()}, "cos_text")
        if golden:
            norm_series.append(Series("golden", [r["layer"] for r in golden], [r["norm"] for r in golden]))
            cos_series.append(Series("golden", [r["layer"] for r in golden], [r["cos_text"] for r in golden]))
        out[f"{pos}-refusal-norm.svg"] = line_chart(
            f"Refusal direction norm per configuration - {tag}", LAYER_AXIS, "||mean harmful - mean benign||",
            norm_series)
        out[f"{pos}-refusal-cosine.svg"] = line_chart(
            f"Cosine with the text refusal direction - {tag}", LAYER_AXIS, "cosine with r_text", cos_series)
        if golden:
            k = max(len(r["singular_values"]) for r in golden)
            out[f"{pos}-golden-spectrum.svg"] = line_chart(
                f"Golden vector: singular values of the modality stack - {tag}", LAYER_AXIS, "singular value",
                [Series(f"s{i + 1}", [r["layer"] for r in golden],
                        [r["singular_values"][i] if i < len(r["singular_values"]) else float("nan") for r in golden])
                 for i in range(k)])
        drift = _by(tables["drift"], pos)
        if drift:
            out[f"{pos}-drift-norm.svg"] = line_chart(
                f"Modality drift (paired, media - text) - {tag}", LAYER_AXIS, "||drift|| / ||r_text||",
                _series(drift, "norm_over_gap"))
            out[f"{pos}-drift-cosine.svg"] = line_chart(
                f"Drift against the text refusal direction - {tag}", LAYER_AXIS, "cosine(drift, r_text)",
                _series(drift, "cos_text"), hline=0.0)
            crs_at = {(r["config"], r["layer"]): r["dprime"] for r in tables["crs"] if r["position"] == pos}
            out[f"{pos}-drift-vs-crs.svg"] = scatter_chart(
                f"Drift vs CRS across modalities and layers - {tag}", "||drift|| / ||r_text||", "CRS d' (held-out)",
                [(config, [(r["norm_over_gap"], crs_at.get((config, r["layer"]), float("nan")), f"L{r['layer']}")
                           for r in rows]) for config, rows in drift.items()])
        planted = _by(tables.get("planted", []), pos)
        if planted:
            out[f"{pos}-planted.svg"] = line_chart(
                f"Estimated drift vs the planted vector - {tag}", LAYER_AXIS, "cosine(drift estimate, planted)",
                _series(planted, "cos_planted"), hline=0.95)
        hists: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for r in tables["histograms"]:
            if r["position"] == pos:
                hists.setdefault((r["layer"], r["config"]), []).append(r)
        for (layer, config), rows in sorted(hists.items()):
            groups = []
            for r in rows:
                lo, hi, bins = r["lo"], r["hi"], r["bins"]
                groups.append((r["label"], [lo + i * (hi - lo) / bins for i in range(bins + 1)], r["counts"][1:-1]))
            out[f"{pos}-hist-layer{layer}-{config}.svg"] = histogram_chart(
                f"{config}: projections on the text refusal direction, layer {layer} - {tag}",
                "<h, r_text unit> (held-out; dashed: text threshold)", groups, vline=rows[0]["tau"])
    return out


def planted_table(vectors: dict[str, Any], planted: dict[str, Any], modalities: dict[str, str]) -> list[dict[str, Any]]:
    """cos(drift estimate of a configuration, planted vector of its modality) at every layer and position."""
    rows = []
    for key, vec in vectors.items():
        kind, *rest = key.split("/")
        if kind != "drift":
            continue
        position, config, layer = rest[0], rest[1], int(rest[2])
        truth = planted.get(modalities.get(config, ""))
        if truth is None or truth.shape != vec.shape:
            continue
        norms = float(vec.double().norm() * truth.double().norm())
        cos = float(vec.double().dot(truth.double())) / norms if norms > 1e-12 else float("nan")
        rows.append({"position": position, "layer": layer, "config": config, "modality": modalities[config],
                     "cos_planted": cos, "norm_ratio": float(vec.norm() / truth.norm().clamp_min(1e-12))})
    return sorted(rows, key=lambda r: (r["position"], r["config"], r["layer"]))


def write_outputs(out_dir: Path, meta: dict[str, Any], tables: dict[str, list[dict[str, Any]]],
                  vectors: dict[str, Any], positions: Sequence[str]) -> dict[str, Any]:
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    svgs = figures(tables, positions, str(meta.get("model", "")))
    (out_dir / "figures").mkdir(exist_ok=True)
    for name, text in svgs.items():
        (out_dir / "figures" / name).write_text(text, encoding="utf-8")
    for name, rows in tables.items():
        (out_dir / f"{name}.csv").write_text(table_csv(rows), encoding="utf-8")
    torch.save(vectors, out_dir / "vectors.pt")
    doc = {**meta, "tables": tables, "figures": sorted(f"figures/{n}" for n in svgs),
           "csv": sorted(f"{n}.csv" for n in tables)}
    tmp = out_dir / "analysis.json.tmp"
    tmp.write_text(json.dumps(_clean(doc), indent=1) + "\n", encoding="utf-8")
    tmp.replace(out_dir / "analysis.json")  # last: its presence means the analysis is complete
    return doc
