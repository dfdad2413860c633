"""The model-backend contract.

A backend owns a real `transformers` model, its processor and chat template. Defenses never touch model
internals: they read hidden states through `hidden_states` / `prefill` and change them through `layer_hooks`,
which hands every hook the `ForwardState` of the pass under way (prefill or decode, which rows, which
positions are prompt or media tokens).

Layer convention (shared by every defense and analysis; see docs/reference.md, OmniSteer §2.1 and defect D12):
layer ``L`` in ``0 .. num_layers-1`` is the **output** of decoder module ``layers[L]``, i.e.
``hidden_states[L + 1]`` in the transformers ``output_hidden_states`` convention. ``EMBED`` (-1) is the input
of ``layers[0]``: the token embeddings after the modality encoders' features were merged in. Exception: for the
last layer transformers returns the *final-norm* output, ``hidden_states[num_layers] = norm(layer num_layers-1)``,
while this contract always means the raw output of ``layers[L]`` (what a forward hook on the module sees).

Batches are left-padded, so the last prompt token of every row sits at position ``T - 1`` during prefill and
every decode step has sequence length 1.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from harness.records import GenerationConfig, Sample

if TYPE_CHECKING:  # heavy imports stay lazy
    import torch

EMBED = -1
Phase = Literal["prefill", "decode"]
Positions = Literal["last", "mean", "all"]


@dataclass
class ForwardState:
    """What a layer hook knows about the forward pass under way. Maintained by the backend.

    During prefill `prompt_mask` and `media_mask` have the shape of the hidden states' first two dimensions
    [B, T]: `prompt_mask` is True at real (non-pad) prompt tokens, `media_mask` at image / audio / video
    placeholder tokens (whose embeddings came from a modality encoder). During decode both are None and the
    hidden states have T == 1: the newest generated token of each row.
    """

    phase: Phase
    batch: PreparedBatch
    step: int = 0  # 0 at prefill, then 1, 2, ... for each decode step
    prompt_mask: torch.Tensor | None = None
    media_mask: torch.Tensor | None = None

    @property
    def rows(self) -> list[Sample]:
        return self.batch.samples

    @property
    def extras(self) -> dict[str, Any]:
        return self.batch.extras

    @property
    def batch_size(self) -> int:
        return self.batch.size


# A hook gets the hidden states of one layer, shape [B, T, d] (model dtype, model device), and the state.
# It returns a new tensor of the same shape, or None to leave them unchanged. It must not modify in place
# tensors it did not create (the backend passes the layer output itself).
LayerHook = Callable[["torch.Tensor", ForwardState], "torch.Tensor | None"]


@dataclass
class PreparedBatch:
    """Processor output for a list of samples, ready for the model (tensors already on the model device)."""

    samples: list[Sample]
    inputs: Mapping[str, Any]  # input_ids, attention_mask, pixel_values, input_features, ...
    prompt_texts: list[str]  # the templated prompts (for provenance and debugging)
    # Free-form per-batch data a defense attaches before generation (e.g. ReGap's per-row lambda tensor);
    # hooks read it as `state.extras`.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.samples)


@dataclass
class GenerationOutput:
    text: str
    n_prompt_tokens: int
    n_new_tokens: int
    # Per-row facts a defense wants recorded with the generation (copied into Generation.defense_info).
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class PrefillOutput:
    """Result of one prompt forward pass: hidden states read at the last prompt token, and (optionally) the
    KV cache and last-position logits, so a defense can continue decoding from it without a second prefill."""

    hidden: dict[int, torch.Tensor]  # layer -> [B, d] float32 on CPU
    past_key_values: Any = None
    last_logits: torch.Tensor | None = None  # [B, vocab]


@dataclass
class ContinuationScore:
    """Log-probability of a given continuation after a prompt (see `ModelBackend.score_continuations`)."""

    logprob: float  # sum over the scored tokens (natural log)
    is_greedy: bool  # every scored token was the argmax at its position
    token_logprobs: list[float] = field(default_factory=list)


class ModelBackend(abc.ABC):
    """Base class of model backends. Subclasses set `name` and implement the abstract methods."""

    name: ClassVar[str] = ""
    # Whether `prefill` takes `checkpoint=` / `resume=` (harness/backends/resume.py): a second prefill of a batch
    # that recomputes only the layers after a checkpoint.
    supports_resume: ClassVar[bool] = False
    # The modalities this backend accepts as input parts.
    modalities: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        dtype: str = "float32",
        device: str = "cpu",
        system_prompt: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        self.model_name = model
        self.revision = revision
        self.dtype = dtype
        self.device = device
        self._system_prompt = system_prompt
        self.trust_remote_code = trust_remote_code

    # -- loading and description -------------------------------------------------------------------------
    @abc.abstractmethod
    def load(self) -> None:
        """Load weights and processor (from a hub id or a local directory). Idempotent."""

    @property
    @abc.abstractmethod
    def num_layers(self) -> int: ...

    @property
    @abc.abstractmethod
    def hidden_size(self) -> int: ...

    @property
    def system_prompt(self) -> str | None:
        """The system prompt put in front of every conversation (the model's official one by default)."""
        return self._system_prompt

    @abc.abstractmethod
    def decoder_layers(self) -> Sequence[Any]:
        """The language model's decoder-layer modules, in order (for hooks; defenses use `layer_hooks`)."""

    def info(self) -> dict[str, Any]:
        """Provenance written into the run: classes, config hash, layers, versions, system prompt hash."""
        return {"backend": self.name, "model": self.model_name, "revision": self.revision, "dtype": self.dtype}

    # -- inputs --------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def prepare(self, samples: Sequence[Sample]) -> PreparedBatch:
        """Apply the chat template and the processor to a batch (left padding)."""

    # -- generation ----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def generate(
        self, batch: PreparedBatch, config: GenerationConfig, *, prefill: PrefillOutput | None = None
    ) -> list[GenerationOutput]:
        """Generate answers. Hooks installed with `layer_hooks` act on the prefill and every decode step.

        With `prefill` (from `prefill(..., keep_cache=True)` run under the same hooks), decoding continues
        from that KV cache instead of running the prompt again.
        """

    # -- representations -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def prefill(self, batch: PreparedBatch, layers: Sequence[int] = (), *, keep_cache: bool = False) -> PrefillOutput:
        """One forward pass over the prompts (hooks apply); read the last-prompt-token state at `layers`."""

    def hidden_states(
        self, batch: PreparedBatch, layers: Sequence[int], positions: Positions = "last"
    ) -> dict[int, torch.Tensor]:
        """Hidden states of `layers` for a batch: [B, d] for "last" / "mean" (over real prompt tokens), float32
        on CPU. The slice is taken on the model device before any copy (defect D4)."""
        if positions != "last":
            raise NotImplementedError(f"{type(self).__name__} supports positions='last' only")
        return self.prefill(batch, layers).hidden

    def score_continuations(
        self, batch: PreparedBatch, continuations: Sequence[Sequence[int]], *, skip: Sequence[int] | None = None
    ) -> list[ContinuationScore]:
        """Log-probability of each row's continuation token ids after its prompt, under the installed hooks:
        the prompt is prefilled, then the continuation fed one token per decode step, as if generated."""
        raise NotImplementedError(f"backend {self.name!r} cannot score continuations")

    @abc.abstractmethod
    def layer_hooks(self, hooks: Mapping[int, LayerHook | Sequence[LayerHook]]) -> AbstractContextManager[None]:
        """Install hooks on layer outputs (EMBED: on the input of layers[0]) for the duration of a `with`
        block. Every `prefill` / `generate` / `hidden_states` call inside the block runs them, each forward
        pass with its own `ForwardState`. Hooks are removed on exit, also when the block raises."""
