"""Training tensors: each example is prepared once through the backend's own `prepare` and batched per step.

Using `backend.prepare` (chat template with the backend's system prompt, media loading, the real processor)
means a model is trained on exactly the token and feature layout it meets at evaluation time. Every example
is prepared once; a step only pads and concatenates tensors (right padding, with mRoPE positions computed per
example by the model's own `get_rope_index`, so they equal the left-padded positions of generation).

Every prompt starts with the same system turn. `split_prefix` cuts that shared prefix off, so a training step
runs it once (batch of one) and feeds its KV cache to the whole batch: the same computation as running every
row in full (a test checks it), at about half the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.records import Sample

if TYPE_CHECKING:
    import torch

    from harness.backends.qwen_omni import QwenOmniBackend


@dataclass
class Example:
    """A prompt (as a Sample) and the answer the model is trained to give."""

    sample: Sample
    answer: str
    kind: str  # mixture bucket, e.g. "text-harmful", "read-audio"
    # Words shown / spoken in each media part, in part order (the planted variant's encoder targets).
    media_words: tuple[tuple[str, ...], ...] = ()


@dataclass
class Tensors:
    """One prepared example: prompt + answer ids and the example's own media inputs."""

    input_ids: torch.Tensor  # [T] prompt followed by answer and <|im_end|>
    answer_start: int  # index of the first answer token
    position_ids: torch.Tensor  # [3, T]
    pixel_values: torch.Tensor | None  # [patches, 1176] of this example's images
    image_grid_thw: torch.Tensor | None  # [n_images, 3]
    audio_features: list[torch.Tensor]  # [128, frames] per audio (valid frames only)
    kind: str
    media_words: tuple[tuple[str, ...], ...] = ()
    label: str = ""  # the request's label (alignment rows use it; answer targets never do)

    @property
    def image_tokens(self) -> int:
        """Image placeholder tokens of this example (2 x 2 patches merge into one token)."""
        return 0 if self.image_grid_thw is None else int(self.image_grid_thw.prod(-1).sum()) // 4


def prepare_examples(backend: QwenOmniBackend, examples: Sequence[Example], *, batch_size: int = 32,
                     progress: bool = False) -> list[Tensors]:
    import torch
    from tqdm import tqdm

    tok = backend.tokenizer
    end = tok.convert_tokens_to_ids("<|im_end|>")
    thinker = backend.model
    out: list[Tensors] = []
    with tqdm(total=len(examples), disable=not progress, desc="preparing examples", unit="ex") as bar:
        for start in range(0, len(examples), batch_size):
            chunk = list(examples[start:start + batch_size])
            batch = backend.prepare([e.sample for e in chunk])
            inputs = batch.inputs
            pixels = _split_rows(inputs.get("pixel_values"), inputs.get("image_grid_thw"), chunk, "image")
            audio = _audio_rows(inputs.get("input_features"), inputs.get("feature_attention_mask"), chunk)
            for row, example in enumerate(chunk):
                prompt = inputs["input_ids"][row][inputs["attention_mask"][row].bool()].cpu()
                answer = torch.tensor(tok.encode(example.answer, add_special_tokens=False) + [end])
                ids = torch.cat([prompt, answer])
                grid = pixels[row][1]
                lengths = torch.tensor([a.shape[1] for a in audio[row]]) if audio[row] else None
                with torch.no_grad():
                    pos, _ = thinker.get_rope_index(ids[None], grid, None, torch.ones_like(ids)[None], False,
                                                    lengths, None)
                out.append(Tensors(ids, len(prompt), pos[:, 0], pixels[row][0], grid, audio[row], example.kind,
                                   example.media_words, example.sample.label or ""))
            bar.update(len(chunk))
    return out


def _split_rows(pixel_values: Any, grid: Any, chunk: list[Example], kind: str) -> list[tuple[Any, Any]]:
    import torch

    counts = [sum(1 for p in e.sample.parts if p.type == kind) for e in chunk]
    if pixel_values is None:
        return [(None, None)] * len(chunk)
    sizes = grid.prod(-1).tolist()
    patches = list(pixel_values.cpu().split(sizes))
    rows, i = [], 0
    for n in counts:
        if n:
            rows.append((torch.cat(patches[i:i + n]), grid[i:i + n].cpu()))
        else:
            rows.append((None, None))
        i += n
    return rows


def _audio_rows(features: Any, mask: Any, chunk: list[Example]) -> list[list[Any]]:
    counts = [sum(1 for p in e.sample.parts if p.type == "audio") for e in chunk]
    rows: list[list[Any]] = []
    i = 0
    for n in counts:
        rows.append([features[j][:, : int(mask[j].sum())].cpu().clone() for j in range(i, i + n)])
        i += n
    return rows


@dataclass
class Batch:
    input_ids: torch.Tensor  # [B, T] right-padded
    attention_mask: torch.Tensor  # [B, T]
    position_ids: torch.Tensor  # [3, B, T]
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None
    input_features: torch.Tensor | None  # [n_audio, 128, F]
    feature_attention_mask: torch.Tensor | None
    target_rows: torch.Tensor  # answer tokens: row and position of the token predicted ...
    target_cols: torch.Tensor  # ... from the hidden state at position col - 1
    targets: torch.Tensor

    def model_inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                                  "position_ids": self.position_ids}
        if self.pixel_values is not None:
            inputs.update(pixel_values=self.pixel_values, image_grid_thw=self.image_grid_thw)
        if self.input_features is not None:
            inputs.update(input_features=self.input_features, feature_attention_mask=self.feature_attention_mask)
        return inputs


def collate(items: Sequence[Tensors], pad_id: int) -> Batch:
    import torch

    size, length = len(items), max(len(t.input_ids) for t in items)
    ids = torch.full((size, length), pad_id, dtype=torch.long)
    mask = torch.zeros((size, length), dtype=torch.long)
    pos = torch.zeros((3, size, length), dtype=torch.long)
    rows, cols = [], []
    for b, t in enumerate(items):
        n = len(t.input_ids)
        ids[b, :n], mask[b, :n], pos[:, b, :n] = t.input_ids, 1, t.position_ids
        for c in range(t.answer_start, n):
            rows.append(b)
            cols.append(c)
    images = [t for t in items if t.pixel_values is not None]
    audio = [a for t in items for a in t.audio_features]
    features = feature_mask = None
    if audio:
        frames = max(a.shape[1] for a in audio)
        features = torch.zeros((len(audio), audio[0].shape[0], frames))
        feature_mask = torch.zeros((len(audio), frames), dtype=torch.long)
        for j, a in enumerate(audio):
            features[j, :, : a.shape[1]] = a
            feature_mask[j, : a.shape[1]] = 1
    rows_t, cols_t = torch.tensor(rows), torch.tensor(cols)
    return Batch(
        input_ids=ids, attention_mask=mask, position_ids=pos,
        pixel_values=torch.cat([t.pixel_values for t in images]) if images else None,
        image_grid_thw=torch.cat([t.image_grid_thw for t in images]) if images else None,
        input_features=features, feature_attention_mask=feature_mask,
        target_rows=rows_t, target_cols=cols_t, targets=ids[rows_t, cols_t],
    )


@dataclass
class SharedPrefix:
    """The token prefix every example starts with (system turn and the user turn's header)."""

    input_ids: torch.Tensor  # [P]
    position_ids: torch.Tensor  # [3, P]

    def __len__(self) -> int:
        return len(self.input_ids)


def split_prefix(items: Sequence[Tensors], stop_ids: Sequence[int]) -> tuple[SharedPrefix, list[Tensors]]:
    """The longest token prefix all examples share, ending before any answer token and before any token in
    `stop_ids` (media placeholders, whose features differ per example); and the examples without it.
    Positions stay those computed on the full sequence."""
    import dataclasses

    import torch

    first = items[0].input_ids
    length = min(t.answer_start for t in items)
    stops = torch.isin(first[:length], torch.tensor(list(stop_ids))).nonzero()
    if len(stops):
        length = int(stops[0, 0])
    for t in items:
        differ = (t.input_ids[:length] != first[:length]).nonzero()
        if len(differ):
            length = int(differ[0, 0])
    prefix = SharedPrefix(first[:length].clone(), items[0].position_ids[:, :length].clone())
    rest = [dataclasses.replace(t, input_ids=t.input_ids[length:], answer_start=t.answer_start - length,
                                position_ids=t.position_ids[:, length:]) for t in items]
    return prefix, rest


# -- per-example media (shared by training and by the planted variant's refit) ----------------------------------
def encode_media(thinker: Any, t: Tensors) -> torch.Tensor:
    """This example's media tokens in prompt order (images before audio, as in the user turn)."""
    import torch

    parts = []
    if t.pixel_values is not None:
        parts += list(thinker.model.get_image_features(t.pixel_values, t.image_grid_thw, return_dict=True).pooler_output)
    for a in t.audio_features:
        mask = torch.ones(1, a.shape[1], dtype=torch.long)
        parts.append(thinker.model.get_audio_features(a[None], feature_attention_mask=mask, return_dict=True)
                     .last_hidden_state)
    return torch.cat(parts) if parts else torch.zeros(0, thinker.config.get_text_config().hidden_size)


def slot_targets(t: Tensors, word_ids: Callable[[Sequence[str]], list[int]], image_tokens: int, audio_tokens: int,
                 min_slots: int) -> dict[str, list[int]]:
    """Target token id of every media token of `t`, per modality in prompt order: the word in its image cell / audio
    window, -1 for the blank cells that pad a short strip to `min_slots`."""
    out: dict[str, list[int]] = {"image": [], "audio": []}
    n_images = 0 if t.image_grid_thw is None else len(t.image_grid_thw)
    for j, words in enumerate(t.media_words):
        if j < n_images:
            ids = word_ids(words) + [-1] * max(0, min_slots - len(words))
            out["image"] += [i for i in ids for _ in range(image_tokens)]
        else:
            out["audio"] += [i for i in word_ids(words) for _ in range(audio_tokens)]
    return out
