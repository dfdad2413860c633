"""The organism's training forward passes: tower outputs merged into the input embeddings, then the language model
on a batch that shares one prompt prefix (run once, its KV cache reused for every row)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from organism.batches import Batch, SharedPrefix


def forward_hidden(thinker: Any, prefix: SharedPrefix, batch: Batch, embeds: torch.Tensor) -> torch.Tensor:
    """Last hidden states [B, T, d] of the batch rows given their input embeddings (media merged in), the shared
    prefix run once and its KV cache reused."""
    return _language_model(thinker, prefix, batch, embeds, all_states=False).last_hidden_state


def forward_states(thinker: Any, prefix: SharedPrefix, batch: Batch, embeds: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """As `forward_hidden`, but every layer's states: (input embeddings, output of layer 0, ..., last normed)."""
    return _language_model(thinker, prefix, batch, embeds, all_states=True).hidden_states


def _language_model(thinker: Any, prefix: SharedPrefix, batch: Batch, embeds: torch.Tensor, *, all_states: bool
                    ) -> Any:
    import torch
    from transformers import DynamicCache

    lm = thinker.model.language_model
    cache = DynamicCache(config=thinker.config.get_text_config())
    lm(inputs_embeds=lm.embed_tokens(prefix.input_ids)[None], position_ids=prefix.position_ids[:, None],
       attention_mask=torch.ones(1, len(prefix), dtype=torch.long), cache=cache, use_cache=True)
    size = batch.input_ids.shape[0]
    cache.batch_repeat_interleave(size)
    mask = torch.cat([torch.ones(size, len(prefix), dtype=torch.long), batch.attention_mask], dim=1)
    return lm(inputs_embeds=embeds, attention_mask=mask, position_ids=batch.position_ids, cache=cache,
              use_cache=True, output_hidden_states=all_states)


def tower_features(thinker: Any, batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(image tokens, audio tokens) of the whole batch, each in batch order, from one run of each tower."""
    import torch

    model = thinker.model
    image = audio = None
    if batch.pixel_values is not None:
        image = torch.cat(model.get_image_features(batch.pixel_values, batch.image_grid_thw,
                                                   return_dict=True).pooler_output)
    if batch.input_features is not None:
        audio = model.get_audio_features(batch.input_features, batch.feature_attention_mask,
                                         return_dict=True).last_hidden_state
    return image, audio


def merge_media(thinker: Any, batch: Batch, image: torch.Tensor | None, audio: torch.Tensor | None
                ) -> torch.Tensor:
    """Input embeddings with the tower outputs scattered into the media placeholders (as the thinker does)."""
    embeds = thinker.model.get_input_embeddings()(batch.input_ids)
    cfg = thinker.config
    for token_id, values in ((cfg.audio_token_id, audio), (cfg.image_token_id, image)):
        if values is not None:
            mask = (batch.input_ids == int(token_id)).unsqueeze(-1).expand_as(embeds)
            embeds = embeds.masked_scatter(mask, values.to(embeds.dtype))
    return embeds
