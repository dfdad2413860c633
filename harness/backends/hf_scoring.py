"""Scoring given continuations under the installed hooks (log-likelihood requests, e.g. lm-eval's).

The prompt is prefilled exactly as for generation (left padding, the last prompt token at T - 1, the `prefill`
ForwardState); the continuation is then fed one token per decode step (the `decode` ForwardState, T == 1), as if
the model had generated it. Every hook therefore sees the passes it sees during generation, and the score of a
continuation is the log-probability the defended model assigns while producing it. A single pass over prompt +
continuation (what lm-eval's own models do) would put the continuation into the prefill and move "the last
prompt token" away from T - 1, which defenses acting at the last position would read wrongly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.backends.base import ContinuationScore, ForwardState, PreparedBatch

if TYPE_CHECKING:
    import torch


class ContinuationScoringMixin:
    """`score_continuations` for `HFBackend` (kept apart so hf_common stays one concern)."""

    def score_continuations(
        self, batch: PreparedBatch, continuations: Sequence[Sequence[int]], *, skip: Sequence[int] | None = None
    ) -> list[ContinuationScore]:
        """Log-probability of each row's continuation token ids after its prompt.

        The first `skip[i]` tokens of row i are fed (teacher-forced) but not scored, e.g. an assistant prefix
        that belongs to the prompt. One prefill, then one decode forward per further token (rows of different
        lengths are padded; a row's score never depends on the others).
        """
        import torch

        size = batch.size
        skip = list(skip) if skip is not None else [0] * size
        if len(continuations) != size or len(skip) != size:
            raise ValueError(f"{len(continuations)} continuations / {len(skip)} skips for a batch of {size} rows")
        if any(len(c) <= k for c, k in zip(continuations, skip, strict=True)):
            raise ValueError("every continuation needs at least one scored token")
        _, cache, logits = self._prefill(batch, (), "last", keep_cache=True)  # type: ignore[attr-defined]
        device = logits.device
        longest = max(len(c) for c in continuations)
        targets = torch.full((size, longest), self.pad_id(), dtype=torch.long)  # type: ignore[attr-defined]
        for row, tokens in enumerate(continuations):
            targets[row, : len(tokens)] = torch.tensor(list(tokens), dtype=torch.long)
        targets = targets.to(device)
        input_ids = batch.inputs["input_ids"]
        attention_mask = batch.inputs["attention_mask"]
        positions = self._prompt_position_ids(batch)[..., -1:]  # type: ignore[attr-defined]
        logprobs: list[torch.Tensor] = []
        greedy: list[torch.Tensor] = []
        for k in range(longest):
            token = targets[:, k]
            logprobs.append(torch.log_softmax(logits, dim=-1).gather(1, token.unsqueeze(1)).squeeze(1))
            greedy.append(logits.argmax(dim=-1) == token)
            if k == longest - 1:
                break
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((size, 1))], dim=1)
            positions = positions + 1
            out = self._forward(ForwardState(phase="decode", batch=batch, step=k + 1), {  # type: ignore[attr-defined]
                "input_ids": token.unsqueeze(1).to(input_ids.device),
                "attention_mask": attention_mask,
                "position_ids": positions,
                self._cache_argument(): cache,  # type: ignore[attr-defined]
                "use_cache": True,
            })
            logits = float_logits(out.logits[:, -1, :])
        lp = torch.stack(logprobs, dim=1).cpu()
        gr = torch.stack(greedy, dim=1).cpu()
        scores = []
        for row, tokens in enumerate(continuations):
            span = slice(skip[row], len(tokens))
            scores.append(ContinuationScore(logprob=float(lp[row, span].double().sum()),
                                            is_greedy=bool(gr[row, span].all()),
                                            token_logprobs=[float(x) for x in lp[row, span]]))
        return scores


def float_logits(logits: Any) -> Any:
    """Logits in float32 at least (half-precision models), float64 kept (exact comparisons on tiny models)."""
    import torch

    return logits if logits.dtype == torch.float64 else logits.float()
