"""Shared implementation of the `transformers` backends (text, Qwen2.5-VL, Qwen2.5-Omni thinker).

Decoding is our own short greedy / sampling loop over the model's real `forward` rather than
`model.generate`, because the contract needs three things `generate` does not give cleanly:

- hooks must know which forward pass is the prefill and which is decode step k: the loop issues every forward
  itself and sets the `ForwardState` around it (no guessing from sequence length or cache position);
- decoding must continue from a `prefill(..., keep_cache=True)` result without re-running the prompt, and be
  identical to a plain `generate`: plain `generate` *is* prefill + continue here, so equality holds by
  construction;
- batch-size independence: positions come from `_prepare_position_ids_for_generation` of the model class (the
  method `generate` itself uses, which computes Qwen's 3D mRoPE positions), and each decode step advances them
  by one as `generate` does, so left padding never shifts a row's positions.

A test checks that greedy output equals `model.generate` for each architecture.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from harness.backends import hf_hooks
from harness.backends import resume as resume_mod
from harness.backends.base import (
    ForwardState,
    GenerationOutput,
    LayerHook,
    ModelBackend,
    Positions,
    PrefillOutput,
    PreparedBatch,
)
from harness.backends.conversation import ContentStyle, build_messages, check_modalities
from harness.backends.decoding import TokenChooser
from harness.backends.hf_scoring import ContinuationScoringMixin, float_logits
from harness.backends.resume import Checkpoint
from harness.records import GenerationConfig, Sample, content_hash

if TYPE_CHECKING:
    import torch

DTYPES = ("float32", "bfloat16", "float16", "float64", "auto")  # float64: exact comparisons on tiny models


def check_device(device: str) -> None:
    """`auto`, or any device string torch accepts (`cpu`, `cpu:0`, `cuda`, `cuda:3`, `mps`, ...)."""
    if device == "auto":
        return
    import torch

    try:
        torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be 'auto' or a torch device string (cpu, cpu:0, cuda, cuda:3), "
                         f"got {device!r}") from None


class HFBackend(ContinuationScoringMixin, ModelBackend):
    """Base of the `transformers` backends. Subclasses say how to load, template and encode; the rest is here."""

    # Used when the backend is built without `system_prompt`; None leaves the chat template's own default.
    default_system_prompt: ClassVar[str | None] = None
    content_style: ClassVar[ContentStyle] = "parts"

    def __init__(self, model: str, **options: Any) -> None:
        """`options`: the keyword-only settings of `ModelBackend.__init__`, checked here before anything loads."""
        dtype, device = options.get("dtype", "float32"), options.get("device", "cpu")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        check_device(device)
        super().__init__(model, **options)
        self._model: Any = None
        self._processor: Any = None  # a processor, or the tokenizer for text-only models
        self._state: ForwardState | None = None  # the forward pass under way, read by installed hooks
        self._logits_to_keep: bool | None = None

    # -- subclass interface ------------------------------------------------------------------------------
    def _load_processor(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _load_model(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _language_model(self) -> Any:
        """The module holding the decoder layers (`.layers`)."""
        raise NotImplementedError

    def _encode(self, texts: list[str], samples: list[Sample]) -> Mapping[str, Any]:
        """Tokenise the templated prompts (and process the batch's media), left-padded, as PyTorch tensors."""
        raise NotImplementedError

    def _media_token_ids(self) -> list[int]:
        """Ids of the placeholder tokens whose embeddings come from a modality encoder."""
        return []

    def _forward_extras(self) -> dict[str, Any]:
        """Extra keyword arguments for every forward pass (e.g. `use_audio_in_video=False`)."""
        return {}

    def _processor_settings(self) -> dict[str, Any]:
        return {}

    # -- loading -------------------------------------------------------------------------------------------
    @property
    def system_prompt(self) -> str | None:
        return self._system_prompt if self._system_prompt is not None else self.default_system_prompt

    @property
    def model(self) -> Any:
        self.load()
        return self._model

    @property
    def processor(self) -> Any:
        self.load()
        return self._processor

    @property
    def tokenizer(self) -> Any:
        processor = self.processor
        return getattr(processor, "tokenizer", processor)

    def load(self) -> None:
        if self._model is not None:
            return
        common = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
        processor = self._load_processor(**common)
        model = self._load_model(dtype=self._torch_dtype(), device_map=self._device_map(), **common)
        model.eval()
        self._processor, self._model = processor, model

    def _torch_dtype(self) -> Any:
        import torch

        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
                "float64": torch.float64, "auto": "auto"}[self.dtype]

    def _device_map(self) -> Any:
        import torch

        if self.device == "auto":
            return "auto" if torch.cuda.is_available() else {"": "cpu"}
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {self.device!r} requested but CUDA is not available")
        # the CPU is one device: `cpu:0` (accelerate's string) is `cpu` for the loaders
        return {"": "cpu" if device.type == "cpu" else str(device)}

    @property
    def input_device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def num_layers(self) -> int:
        return int(self.model.config.get_text_config().num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.get_text_config().hidden_size)

    def decoder_layers(self) -> Sequence[Any]:
        self.load()
        return list(self._language_model().layers)

    def info(self) -> dict[str, Any]:
        import torch
        import transformers

        config = {
            k: v for k, v in self.model.config.to_dict().items()
            if not k.startswith("_") and k not in ("transformers_version", "dtype", "torch_dtype")
        }
        template = getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        system_prompt = self.system_prompt
        return {
            **super().info(),
            "device": self.device,
            "model_class": type(self.model).__name__,
            "config_hash": content_hash(config),
            "num_layers": self.num_layers,
            "hidden_size": self.hidden_size,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "system_prompt": system_prompt,
            "system_prompt_hash": content_hash(system_prompt) if system_prompt is not None else None,
            "chat_template_hash": content_hash(template) if template else None,
            "processor": self._processor_settings(),
        }

    # -- inputs --------------------------------------------------------------------------------------------
    def build_messages(self, sample: Sample) -> list[dict[str, Any]]:
        check_modalities(sample, self.modalities, self.name)
        return build_messages(sample, self.system_prompt, self.content_style)

    def prepare(self, samples: Sequence[Sample]) -> PreparedBatch:
        import torch

        samples = list(samples)
        if not samples:
            raise ValueError("prepare() needs at least one sample")
        texts = [
            self.processor.apply_chat_template(self.build_messages(s), add_generation_prompt=True, tokenize=False)
            for s in samples
        ]
        encoded = self._encode(texts, samples)
        device, dtype = self.input_device, self.model.dtype
        inputs = {
            k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device))
            if isinstance(v, torch.Tensor) else v
            for k, v in encoded.items()
        }
        if not bool(inputs["attention_mask"][:, -1].all()):
            raise RuntimeError("prompts are not left-padded: a row does not end at the last position")
        return PreparedBatch(samples=samples, inputs=inputs, prompt_texts=texts)

    # -- hooks ---------------------------------------------------------------------------------------------
    @contextmanager
    def layer_hooks(self, hooks: Mapping[int, LayerHook | Sequence[LayerHook]]) -> Iterator[None]:
        normalized = hf_hooks.normalize_hooks(hooks, self.num_layers)
        handles = hf_hooks.install_layer_hooks(self.decoder_layers(), normalized, self._current_state)
        try:
            yield
        finally:
            hf_hooks.remove_all(handles)

    def _current_state(self) -> ForwardState:
        if self._state is None:
            raise RuntimeError(
                f"a layer hook of backend {self.name!r} ran outside prefill / generate / hidden_states; "
                "hooks installed with layer_hooks only apply to the backend's own forward passes"
            )
        return self._state

    def _forward(self, state: ForwardState, inputs: Mapping[str, Any]) -> Any:
        import torch

        self._state = state
        try:
            with torch.no_grad():  # not inference_mode: read-outs may feed a defense's training later
                return self.model(**inputs, **self._forward_extras())
        finally:
            self._state = None

    # -- prefill and read-outs -----------------------------------------------------------------------------
    def _prompt_position_ids(self, batch: PreparedBatch) -> torch.Tensor:
        """Position ids of the prompt as `generate` computes them (3D mRoPE rows for Qwen VL / Omni)."""
        kwargs = {**batch.inputs, **self._forward_extras()}
        return self.model._prepare_position_ids_for_generation(batch.inputs["input_ids"], kwargs)

    supports_resume: ClassVar[bool] = True

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config.get_text_config())

    def _prefill(
        self, batch: PreparedBatch, layers: Sequence[int], positions: Positions, keep_cache: bool,
        checkpoint: Checkpoint | None = None, resume: Checkpoint | None = None,
    ) -> tuple[dict[int, torch.Tensor], Any, torch.Tensor | None]:
        """One forward over the prompts: read-outs at `layers`, plus cache and last logits if `keep_cache`.
        `checkpoint` is filled during the pass; `resume` skips what an earlier pass left in it (resume.py)."""
        import torch

        layers = [hf_hooks.check_layer(layer, self.num_layers) for layer in layers]
        input_ids = batch.inputs["input_ids"]
        prompt_mask = batch.inputs["attention_mask"].bool()
        media_ids = self._media_token_ids()
        media_mask = (
            torch.isin(input_ids, torch.tensor(media_ids, device=input_ids.device))
            if media_ids else torch.zeros_like(prompt_mask)
        )
        state = ForwardState(phase="prefill", batch=batch, step=0, prompt_mask=prompt_mask, media_mask=media_mask)
        positions_ids = resume.position_ids if resume is not None and resume.position_ids is not None else \
            self._prompt_position_ids(batch)
        inputs = {**batch.inputs, "position_ids": positions_ids, "use_cache": keep_cache}
        if self._accepts_logits_to_keep():
            inputs["logits_to_keep"] = 1  # only the last position's logits are ever used
        modules = self.decoder_layers()
        with ExitStack() as stack:
            if checkpoint is not None:
                checkpoint.cache = inputs[self._cache_argument()] = self._new_cache()
                checkpoint.position_ids = positions_ids
                inputs["use_cache"] = True
                stack.enter_context(resume_mod.capturing(modules, checkpoint))
            if resume is not None:
                # The media encoders are skipped: the stored embeddings go in instead of ids and media.
                cache = self._new_cache()
                inputs = {k: inputs[k] for k in ("attention_mask", "position_ids", "logits_to_keep") if k in inputs}
                inputs.update({"inputs_embeds": resume.embeds, self._cache_argument(): cache, "use_cache": keep_cache})
                stack.enter_context(resume_mod.replaying(modules, resume, cache))
            captured = stack.enter_context(hf_hooks.readouts(modules, layers, positions, prompt_mask))
            out = self._forward(state, inputs)
        hidden = {layer: captured[layer] for layer in layers}
        if not keep_cache:
            return hidden, None, None
        return hidden, _output_cache(out), float_logits(out.logits[:, -1, :])

    def _accepts_logits_to_keep(self) -> bool:
        import inspect

        if self._logits_to_keep is None:  # inspect.signature is slow; asked once per prefill
            self._logits_to_keep = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        return self._logits_to_keep

    def _cache_argument(self) -> str:
        """The forward's name for the KV cache: `cache` since transformers renamed `past_key_values` (the old
        name warns on every call and goes in 5.40); earlier 5.x releases know only the old name."""
        import inspect

        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def prefill(self, batch: PreparedBatch, layers: Sequence[int] = (), *, keep_cache: bool = False,
                checkpoint: Checkpoint | None = None, resume: Checkpoint | None = None) -> PrefillOutput:
        hidden, cache, logits = self._prefill(batch, layers, "last", keep_cache, checkpoint, resume)
        return PrefillOutput(hidden=hidden, past_key_values=cache, last_logits=logits)

    def hidden_states(
        self, batch: PreparedBatch, layers: Sequence[int], positions: Positions = "last"
    ) -> dict[int, torch.Tensor]:
        hidden, _, _ = self._prefill(batch, layers, positions, keep_cache=False)
        return hidden

    # -- generation ----------------------------------------------------------------------------------------
    def eos_ids(self) -> list[int]:
        ids: list[int] = []
        configured = self.model.generation_config.eos_token_id
        for value in configured if isinstance(configured, (list, tuple)) else [configured]:
            if value is not None:
                ids.append(int(value))
        if self.tokenizer.eos_token_id is not None:
            ids.append(int(self.tokenizer.eos_token_id))
        return sorted(set(ids))

    def pad_id(self) -> int:
        for value in (self.model.generation_config.pad_token_id, self.tokenizer.pad_token_id):
            if value is not None:
                return int(value)
        return self.eos_ids()[0]

    def generate(
        self, batch: PreparedBatch, config: GenerationConfig, *, prefill: PrefillOutput | None = None
    ) -> list[GenerationOutput]:
        return self._outputs(batch, self.generate_ids(batch, config, prefill=prefill))

    def generate_ids(
        self, batch: PreparedBatch, config: GenerationConfig, *, prefill: PrefillOutput | None = None
    ) -> torch.Tensor:
        """New token ids [B, n] on CPU (n <= max_new_tokens); rows that stopped early are filled with padding.

        One prefill forward (skipped when `prefill` is given), then one decode forward per further token, all
        under the installed hooks. A given `prefill`'s cache is cropped back to the prompt afterwards.
        """
        import torch

        chooser = TokenChooser(config)
        input_ids = batch.inputs["input_ids"]
        size, prompt_len = input_ids.shape
        if prefill is None:
            _, cache, logits = self._prefill(batch, (), "last", keep_cache=True)
        else:
            cache, logits = prefill.past_key_values, prefill.last_logits
            if cache is None or logits is None:
                raise ValueError("generate(prefill=...) needs a prefill run with keep_cache=True")
            if logits.shape[0] != size or cache.get_seq_length() != prompt_len:
                raise ValueError(
                    f"the prefill does not match this batch: cache of {cache.get_seq_length()} positions and "
                    f"{logits.shape[0]} rows, batch of {size} rows x {prompt_len} positions"
                )
        device = logits.device
        eos = torch.tensor(self.eos_ids(), device=device)
        pad = self.pad_id()
        attention_mask = batch.inputs["attention_mask"]
        positions = self._prompt_position_ids(batch)[..., -1:]
        seen = None
        if chooser.uses_penalty:  # real prompt tokens only, so padding cannot change a row's output
            # scatter_add, not scatter_: a token under both padding and a real position must count as seen.
            counts = torch.zeros(logits.shape, dtype=torch.long, device=device)
            counts.scatter_add_(1, input_ids.to(device), attention_mask.to(device).long())
            seen = counts > 0
        unfinished = torch.ones(size, dtype=torch.bool, device=device)
        new_tokens: list[torch.Tensor] = []
        cache_argument = self._cache_argument()
        try:
            for step in range(1, config.max_new_tokens + 1):
                token = chooser(logits, seen)
                token = torch.where(unfinished, token, torch.full_like(token, pad))
                new_tokens.append(token)
                unfinished &= ~torch.isin(token, eos)
                if step == config.max_new_tokens or not bool(unfinished.any()):
                    break
                if seen is not None:
                    seen[torch.arange(size, device=device), token] = True
                attention_mask = torch.cat([attention_mask, attention_mask.new_ones((size, 1))], dim=1)
                positions = positions + 1
                state = ForwardState(phase="decode", batch=batch, step=step)
                out = self._forward(state, {
                    "input_ids": token.unsqueeze(1).to(input_ids.device),
                    "attention_mask": attention_mask,
                    "position_ids": positions,
                    cache_argument: cache,
                    "use_cache": True,
                })
                logits = float_logits(out.logits[:, -1, :])
        finally:
            if prefill is not None:  # restore the caller's prompt-only cache, so it can be continued again
                extra = cache.get_seq_length() - prompt_len
                if extra > 0:
                    cache.crop(-extra)
        return torch.stack(new_tokens, dim=1).cpu()

    def _outputs(self, batch: PreparedBatch, tokens: torch.Tensor) -> list[GenerationOutput]:
        """Decoded answers; `n_new_tokens` counts the generated tokens up to and including the first EOS."""
        import torch

        eos = torch.tensor(self.eos_ids())
        n_prompt = batch.inputs["attention_mask"].sum(dim=1).tolist()
        outputs = []
        for row, row_tokens in enumerate(tokens):
            is_eos = torch.isin(row_tokens, eos)
            n_new = int(is_eos.nonzero()[0, 0]) + 1 if bool(is_eos.any()) else len(row_tokens)
            text_tokens = row_tokens[: n_new - 1] if bool(is_eos.any()) else row_tokens
            text = self.tokenizer.decode(text_tokens.tolist(), skip_special_tokens=True)
            outputs.append(GenerationOutput(text=text, n_prompt_tokens=int(n_prompt[row]), n_new_tokens=n_new))
        return outputs


def _output_cache(out: Any) -> Any:
    """The KV cache of a forward's output, under its new name `cache` where the output class has it (reading
    `past_key_values` there warns)."""
    return out.cache if "cache" in getattr(type(out), "__dataclass_fields__", {}) else out.past_key_values
