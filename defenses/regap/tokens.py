"""Per-token drift [ours: an extension of the reconstruction, not from the paper].

The reconstruction reads the drift at the last prompt token of each decoder layer (the paper's read-out). A drift
that a media encoder adds to every token it emits (e.g. `organism-planted`'s known vector at the input embeddings)
is invisible there at the input embeddings, where the last prompt token is a template token, and is mixed with
everything else the prompt carries at later layers. With `drift_reading=media_tokens` ReGap estimates, at the input
embeddings (EMBED) and at every decoder layer,

    delta_L^m = mean over pairs of [ mean over the media request's media tokens of h_L
                                     - mean over its typed twin's request tokens of h_L ]

(defenses/toolkit/request.py says which tokens), on requests delivered entirely by media (pure-media signatures such
as `image`, `audio`: there the media tokens carry the same words as the typed twin). A signature that mixes typed
text and media (`image+text`) uses the drift of its media kind (`image`), since its media tokens carry only part
of the request. The correction subtracts lambda * v_L at the media positions (`positions=media`) of the chosen
layers, `embed` included. The refusal direction used by the `orth` / `par` variants is read the same way (typed
harmful minus typed benign request tokens).

Rows of the stored tables: row 0 is EMBED, row L + 1 is decoder layer L.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from defenses.toolkit.drift import drift_diagnostics, estimate_drift, pooled_drift

if TYPE_CHECKING:
    import torch

    from harness.backends.base import ModelBackend
    from harness.records import Sample

EMBED = -1
POOLED = "pooled"
TEXT = "text"


def row_of(layer: int) -> int:
    """Table row of a layer (EMBED = -1 -> 0)."""
    return layer + 1


def pure_media(modality: str) -> bool:
    return bool(modality) and TEXT not in modality.split("+")


@dataclass
class TokenDrift:
    drifts: dict[str, torch.Tensor]  # pure-media signature (and POOLED) -> [num_layers + 1, d]
    refusal: torch.Tensor  # [num_layers + 1, d] typed harmful minus typed benign request-token means
    n_pairs: dict[str, int]
    skipped: dict[str, str] = field(default_factory=dict)

    def key(self, modality: str, scope: str) -> tuple[str, str]:
        """(drift key, how chosen) for a modality with media: its own, its media kind's, else the pooled drift."""
        if scope == "pooled":
            return POOLED, "pooled"
        if modality in self.drifts:
            return modality, "exact"
        kinds = sorted(p for p in modality.split("+") if p != TEXT)
        same = [s for s in self.drifts if s != POOLED and sorted(s.split("+")) == kinds]
        if same:
            return same[0], "same-media"
        return POOLED, "pooled-fallback"

    def diagnostics(self) -> dict[str, list[dict[str, float]]]:
        out: dict[str, list[dict[str, float]]] = {}
        for key, table in self.drifts.items():
            out[key] = [{"layer": i - 1, **drift_diagnostics(table[i], self.refusal[i]),
                         "gap": float(self.refusal[i].norm())} for i in range(table.shape[0])]
        return out

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"tokrefusal": self.refusal, **{f"tokdrift.{k}": v for k, v in self.drifts.items()}}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> TokenDrift | None:
        if "tokrefusal" not in tensors:
            return None
        drifts = {name[len("tokdrift."):]: t for name, t in tensors.items() if name.startswith("tokdrift.")}
        return cls(drifts, tensors["tokrefusal"], {k: int(v) for k, v in (extra.get("token_pairs") or {}).items()},
                   dict(extra.get("token_skipped") or {}))


def fit_token_drift(backend: ModelBackend, samples: list[Sample], *, classes: str, estimator: str,
                    batch_size: int, progress: bool = False) -> TokenDrift:
    import torch

    from defenses.toolkit.collect import collect
    from defenses.toolkit.directions import diff_of_means

    rows = [s for s in samples if s.modality == TEXT or pure_media(s.modality)]
    layers = [EMBED, *range(backend.num_layers)]
    acts = collect(backend, rows, layers, position="request", batch_size=batch_size, progress=progress,
                   desc="ReGap per-token drift")
    refusal = torch.stack([diff_of_means(acts, layer, modality=TEXT).raw.float() for layer in layers])
    drifts: dict[str, torch.Tensor] = {}
    n_pairs: dict[str, int] = {}
    skipped: dict[str, str] = {}
    per_layer: dict[int, list] = {layer: [] for layer in layers}
    for sig in sorted({s.modality for s in rows if s.modality != TEXT}):
        try:
            found = [estimate_drift(acts, layer, sig, classes=classes, estimator=estimator) for layer in layers]
        except ValueError as exc:
            skipped[sig] = str(exc)
            continue
        drifts[sig] = torch.stack([d.vector.float() for d in found])
        n_pairs[sig] = found[0].n_pairs
        for layer, d in zip(layers, found):
            per_layer[layer].append(d)
    if not drifts:
        raise ValueError("ReGap drift_reading=media_tokens found no pure-media calibration samples (image, audio, "
                         f"video without typed text) with text twins; skipped: {skipped}")
    drifts[POOLED] = torch.stack([pooled_drift(per_layer[layer]) for layer in layers])
    n_pairs[POOLED] = sum(n_pairs.values())
    return TokenDrift(drifts, refusal, n_pairs, skipped)
