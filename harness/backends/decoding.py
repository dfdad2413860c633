"""Choosing the next token from last-position logits, per `GenerationConfig`.

Greedy by default. Sampling uses transformers' own logits warpers in `generate`'s order (temperature, top-k,
top-p). The repetition penalty follows `RepetitionPenaltyLogitsProcessor` but counts only real tokens (prompt
tokens under the attention mask and generated tokens), not left padding, so a row's output does not depend on
the batch it is in. Sampling draws from torch's global RNG; the runner seeds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.records import GenerationConfig

if TYPE_CHECKING:
    import torch


class TokenChooser:
    def __init__(self, config: GenerationConfig) -> None:
        from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        if config.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {config.max_new_tokens}")
        if config.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be positive, got {config.repetition_penalty}")
        self.config = config
        self.warpers = LogitsProcessorList()
        if config.do_sample:
            if config.temperature != 1.0:
                self.warpers.append(TemperatureLogitsWarper(config.temperature))
            if config.top_k and config.top_k > 0:
                self.warpers.append(TopKLogitsWarper(config.top_k))
            if config.top_p < 1.0:
                self.warpers.append(TopPLogitsWarper(config.top_p))

    @property
    def uses_penalty(self) -> bool:
        return self.config.repetition_penalty != 1.0

    def __call__(self, logits: torch.Tensor, seen: torch.Tensor | None) -> torch.Tensor:
        """Next token per row from float32 logits [B, V]; `seen` [B, V] marks tokens already in each row."""
        import torch

        scores = logits
        if self.uses_penalty and seen is not None:
            p = self.config.repetition_penalty
            penalised = torch.where(scores < 0, scores * p, scores / p)
            scores = torch.where(seen, penalised, scores)
        if not self.config.do_sample:
            return scores.argmax(dim=-1)
        scores = self.warpers(None, scores)  # the warpers used here ignore input_ids
        probs = torch.softmax(scores, dim=-1)
        return torch.multinomial(probs, num_samples=1).squeeze(-1)
