"""lm-evaluation-harness with the defense active: the lm-eval models `harness-defended` and
`harness-defended-multimodal`, and `harness lm-eval ARGS...` (lm-eval's own CLI with them registered).

Both models subclass lm-eval's `HFLM` / `HFMultimodalLM` around the model and tokenizer / processor that our
backend loaded, so lm-eval's task machinery (few-shot contexts, chat templating, batching flags) sees a normal
Hugging Face model. The two request types run through the harness itself:

- `generate_until`: the defense's own `generate` on harness samples built from the contexts, so the answers are
  those `harness run` gives for the same prompts (every defense: prompt rewrites, probes, guards);
- `loglikelihood`: the defense's default flow (rewrite, `before_generate` with its per-row probe, `hooks`), the
  prompt prefilled and the continuation fed one token per decode step (`ModelBackend.score_continuations`), so
  hooks at the last prompt token act where they act during generation. A defense whose `generate` cannot be
  reproduced by that flow (it answers rows itself) is refused with the reason (`loglikelihood_problem`);
- `loglikelihood_rolling` (perplexity): raw text, no prompt; lm-eval's own path for `none`, refused otherwise.

lm-eval's request cache (`--use_cache`) keys requests by their text only; the bridge moves its entries into a
table named by the content hash of the defense and the model (`cache_key`), so answers never leak between
defenses. lm-eval has no plugin entry point: importing this module registers the models.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lm_eval.api.registry import register_model
from lm_eval.models.hf_vlms import HFMultimodalLM
from lm_eval.models.huggingface import HFLM
from tqdm import tqdm

from defenses.base import Defense, loglikelihood_problem
from harness import config
from harness.backends.base import ModelBackend
from harness.records import Sample, content_hash
from harness.run.lm_eval_requests import (
    ParsedContext,
    cut_at_stops,
    encode_chat,
    generation_config,
    parse_context,
    save_image,
    to_sample,
)

TEXT_MODEL = "harness-defended"
MULTIMODAL_MODEL = "harness-defended-multimodal"
_OWN_ARGS = frozenset({"model", "backend", "defense", "defense_config", "defense_params", "dtype", "device",
                       "system_prompt", "revision", "cache_dir", "data_root", "include_path", "seed", "batch_size",
                       "max_batch_size", "max_gen_toks", "max_length", "show_progress"})


def load_defended(model: str, *, backend: str | None = None, defense: str = "none",
                  defense_params: Mapping[str, Any] | None = None, dtype: str = "float32", device: str = "cpu",
                  system_prompt: str | None = None, revision: str | None = None, cache_dir: str | Path | None = None,
                  data_root: str | Path | None = None, include_path: Sequence[str] = (), seed: int = 0,
                  show_progress: bool = True, registries: Any = None,
                  evaluation_samples: Sequence[Sample] = ()) -> tuple[ModelBackend, Defense]:
    """The backend and the set-up defense, as `harness run` builds them; names and parameters are checked
    before any model loads."""
    from harness.run.registries import default_registries
    from harness.run.wiring import defense_class, defense_context, make_backend
    from tasks.base import TaskContext

    registries = registries or default_registries(include_path)
    context = TaskContext(cache_dir=config.cache_dir(str(cache_dir) if cache_dir else None),
                          data_root=config.data_root(str(data_root) if data_root else None))
    dcls = defense_class(registries, defense)
    dcls.parse_params(dict(defense_params or {}))  # unknown parameters fail before the model loads
    loaded = make_backend(registries, model, context.cache_dir, backend=backend, revision=revision, dtype=dtype,
                          device=device, system_prompt=system_prompt)
    loaded.load()
    chosen = dcls(**dict(defense_params or {}))
    chosen.setup(loaded, defense_context(registries, model, context, seed=seed, show_progress=show_progress,
                                         evaluation_samples=evaluation_samples))
    return loaded, chosen


def defense_params_from(defense_config: str | None, defense_params: Mapping[str, Any] | None,
                        extra: Mapping[str, Any]) -> dict[str, Any]:
    """Defense parameters: a YAML mapping file, then `defense_params`, then lm-eval's leftover model_args."""
    params = config.merged_params(None, defense_config, "defense")
    params.update(defense_params or {})
    params.update(extra)
    return params


def pick_device(device: str | None) -> str:
    """The device to load on. lm-eval's command line passes `cuda:0` unless told otherwise and its own HF model
    falls back to the CPU without CUDA; the bridge does the same, saying so."""
    import logging

    import torch

    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        logging.getLogger(__name__).warning("%s: device %r but CUDA is not available; using the CPU",
                                            TEXT_MODEL, device)
        return "cpu"
    return device


def cache_key(backend: ModelBackend, defense: Defense) -> str:
    """Content hash of what determines the answers: the defense (name, parameters, code, artifacts) and the
    model with its prompt format."""
    info = backend.info()
    model = {k: info.get(k) for k in ("model", "revision", "dtype", "model_class", "config_hash",
                                      "system_prompt_hash", "chat_template_hash")}
    return content_hash({"defense": defense.info(), "model": model})


class _Bridge:
    """What both lm-eval models share; mixed in before HFLM / HFMultimodalLM."""

    harness_backend: ModelBackend
    defense: Defense

    def __init__(self, model: Any = config.DEFAULT_MODEL, backend: Any = None, defense: Any = "none",
                 defense_config: str | None = None, defense_params: Mapping[str, Any] | None = None,
                 dtype: str = "float32", device: str | None = None, batch_size: int | str = 1,
                 max_batch_size: int | None = None, max_gen_toks: int = 256, max_length: int | None = None,
                 system_prompt: str | None = None, revision: str | None = None, cache_dir: str | None = None,
                 data_root: str | None = None, include_path: str | None = None, seed: int = 0,
                 show_progress: bool = True, **extra: Any) -> None:
        if str(batch_size).startswith("auto"):
            raise ValueError(f"{type(self).__name__}: batch_size=auto is not supported; give a number")
        if isinstance(backend, ModelBackend):  # already loaded (e.g. inside `harness run`)
            if not isinstance(defense, Defense):
                raise TypeError("with a loaded backend, pass the set-up Defense instance as defense=")
            self.harness_backend, self.defense = backend, defense
        else:
            params = defense_params_from(defense_config, defense_params, extra)
            self.harness_backend, self.defense = load_defended(
                str(model), backend=backend, defense=str(defense), defense_params=params, dtype=dtype,
                device=pick_device(device), system_prompt=system_prompt, revision=revision, cache_dir=cache_dir,
                data_root=data_root, include_path=[include_path] if include_path else [], seed=int(seed),
                show_progress=bool(show_progress))
        self.harness_cache_key = cache_key(self.harness_backend, self.defense)
        self._media_dir = config.cache_dir(cache_dir) / "lm_eval_media"
        self._max_gen_toks = int(max_gen_toks)
        self._show_progress = bool(show_progress)
        super().__init__(pretrained=self.harness_backend.model, backend="causal",  # type: ignore[call-arg]
                         tokenizer=self.harness_backend.tokenizer, batch_size=int(batch_size),
                         max_length=max_length, **self._base_kwargs())

    def _base_kwargs(self) -> dict[str, Any]:
        return {}

    # -- what lm-eval reads ----------------------------------------------------------------------------------
    def _create_tokenizer(self, *args: Any, **kwargs: Any) -> None:
        # The backend's own tokenizer / processor (lm-eval's multimodal class would drop a given processor).
        self.tokenizer = self.harness_backend.tokenizer
        self.processor = getattr(self.harness_backend, "processor", self.tokenizer)

    @property
    def max_gen_toks(self) -> int:
        return self._max_gen_toks

    @property
    def tokenizer_name(self) -> str:
        # lm-eval keys its cache of built requests by this; our contexts differ from a plain HF model's.
        return f"{TEXT_MODEL}-{self.harness_cache_key}"

    def get_model_info(self) -> dict[str, Any]:
        return {"harness_backend": self.harness_backend.info(), "harness_defense": self.defense.info(),
                "harness_cache_key": self.harness_cache_key}

    def apply_chat_template(self, chat_history: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
        self.chat_applied = True
        return encode_chat(chat_history, add_generation_prompt)

    def set_cache_hook(self, cache_hook: Any) -> None:
        db = getattr(cache_hook, "dbdict", None)
        if db is not None:
            namespace_cache(db, f"harness_{self.harness_cache_key}")
        super().set_cache_hook(cache_hook)  # type: ignore[misc]

    # -- requests ----------------------------------------------------------------------------------------------
    def _samples(self, requests: Sequence[Any]) -> list[tuple[Sample, ParsedContext]]:
        out = []
        for i, req in enumerate(requests):
            context = req.args[0]
            if context == "":
                raise ValueError(f"{TEXT_MODEL}: a request with an empty context; the defenses act on a prompt")
            aux = req.args[2] if len(req.args) > 2 and isinstance(req.args[2], Mapping) else {}
            images = [save_image(img, self._media_dir) for img in (aux.get("visual") or [])]
            parsed = parse_context(context)
            out.append((to_sample(i, parsed, images), parsed))
        return out

    def _batches(self, rows: Sequence[int], samples: Sequence[Sample]) -> list[list[int]]:
        ordered = sorted(rows, key=lambda i: (samples[i].modality, len(samples[i].text), i))  # less padding
        size = max(int(self.batch_size), 1)  # type: ignore[attr-defined]
        return [ordered[k:k + size] for k in range(0, len(ordered), size)]

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        built = self._samples(requests)
        samples = [s for s, _ in built]
        for (s, parsed) in built:
            if parsed.assistant_prefix:
                raise ValueError(f"{TEXT_MODEL}: generate_until with a started answer (a task's gen_prefix or "
                                 "continue_final_message) is not supported: generation starts at the assistant turn, "
                                 "as in `harness run`")
        eos = self.tokenizer.decode([self.eot_token_id], skip_special_tokens=False)  # type: ignore[attr-defined]
        groups: dict[str, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(json.dumps(req.args[1], sort_keys=True, default=str), []).append(i)
        results: list[str | None] = [None] * len(requests)
        with tqdm(total=len(requests), disable=disable_tqdm or not self._show_progress,
                  desc="harness-defended generate_until") as bar:
            for rows in groups.values():
                gen, stops = generation_config(requests[rows[0]].args[1], self.max_gen_toks)
                stops = [*stops, eos]
                for batch in self._batches(rows, samples):
                    outputs = self.defense.generate(self.harness_backend, [samples[i] for i in batch], gen)
                    for i, out in zip(batch, outputs, strict=True):
                        results[i] = cut_at_stops(out.text, stops)
                    bar.update(len(batch))
        return [r if r is not None else "" for r in results]

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        problem = loglikelihood_problem(type(self.defense))
        if problem:
            raise ValueError(f"{TEXT_MODEL}: {problem}")
        built = self._samples(requests)
        samples = [s for s, _ in built]
        # Requests sharing a prompt (a multiple-choice item's answers) share one prefill row.
        groups: dict[str, list[int]] = {}
        for i, (s, parsed) in enumerate(built):
            key = json.dumps([[m.to_dict() for m in s.messages], parsed.assistant_prefix])
            groups.setdefault(key, []).append(i)
        firsts = [members[0] for members in groups.values()]
        members_of = {members[0]: members for members in groups.values()}
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        with tqdm(total=len(requests), disable=disable_tqdm or not self._show_progress,
                  desc="harness-defended loglikelihood") as bar:
            for rows in self._batches(firsts, samples):
                done = self._score_batch(requests, built, rows, [members_of[r] for r in rows], results)
                bar.update(done)
        return [r for r in results if r is not None]

    def _score_batch(self, requests: Sequence[Any], built: Sequence[tuple[Sample, ParsedContext]],
                     rows: list[int], members: list[list[int]], results: list[Any]) -> int:
        """Score every request of these prompt rows. When each continuation is one token (MMLU's letters), one
        prefill of the distinct prompts scores them all; otherwise each request is prefilled and then decoded."""
        backend, defense = self.harness_backend, self.defense
        batch = backend.prepare([defense.rewrite(built[r][0]) for r in rows])
        ids = {i: self._continuation_ids(text, built[i][1].assistant_prefix, requests[i].args[1])
               for text, group in zip(batch.prompt_texts, members, strict=True) for i in group}
        if all(len(tokens) == 1 and skip == 0 for tokens, skip in ids.values()):
            defense.before_generate(backend, batch)
            with backend.layer_hooks(defense.hooks(backend, batch)):
                logits = backend.prefill(batch, keep_cache=True).last_logits
            assert logits is not None
            logprobs = logits.float().log_softmax(dim=-1).cpu()
            best = logits.argmax(dim=-1).cpu()
            for row, group in enumerate(members):
                for i in group:
                    token = ids[i][0][0]
                    results[i] = (float(logprobs[row, token].double()), bool(best[row] == token))
            return len(ids)
        todo = [i for group in members for i in group]
        size = max(int(self.batch_size), 1)  # type: ignore[attr-defined]
        for start in range(0, len(todo), size):
            part = todo[start:start + size]
            sub = backend.prepare([defense.rewrite(built[i][0]) for i in part])
            defense.before_generate(backend, sub)
            with backend.layer_hooks(defense.hooks(backend, sub)):
                scores = backend.score_continuations(sub, [ids[i][0] for i in part], skip=[ids[i][1] for i in part])
            for i, score in zip(part, scores, strict=True):
                results[i] = (score.logprob, score.is_greedy)
        return len(todo)

    def _continuation_ids(self, prompt: str, prefix: str, continuation: str) -> tuple[list[int], int]:
        """Token ids of (assistant prefix + continuation) after the templated prompt, split where lm-eval
        splits: the whole string is tokenised and the prompt's tokens removed; the prefix is fed, not scored."""
        def enc(text: str) -> list[int]:
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

        def after(head: str, tail: str, head_ids: list[int]) -> list[int]:
            whole = enc(head + tail)
            return whole[len(head_ids):] if whole[:len(head_ids)] == head_ids else enc(tail)

        base = enc(prompt)
        lead = after(prompt, prefix, base) if prefix else []
        cont = after(prompt + prefix, continuation, base + lead if prefix else base)
        if not cont:
            raise ValueError(f"{TEXT_MODEL}: continuation {continuation!r} has no tokens")
        return lead + cont, len(lead)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        if type(self.defense).name != "none":
            raise ValueError(f"{TEXT_MODEL}: loglikelihood_rolling (perplexity tasks) scores raw text with no prompt "
                             f"and no answer, where the defense {self.defense.name!r} has nothing to act on as it does "
                             "in `harness run`; run perplexity tasks with defense=none")
        return super().loglikelihood_rolling(requests, disable_tqdm=disable_tqdm)  # type: ignore[misc]


def namespace_cache(db: Any, table: str) -> None:
    """Point lm-eval's SqliteDict request cache at its own table, so entries of different defenses (and
    models) never answer each other's requests."""
    if not hasattr(db, "tablename") or not hasattr(db, "conn"):
        raise RuntimeError(f"{TEXT_MODEL}: cannot keep lm-eval's request cache apart per defense with this "
                           "sqlitedict version; run without --use_cache")
    db.conn.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (key TEXT PRIMARY KEY, value BLOB)')
    db.conn.commit()
    db.tablename = table


@register_model(TEXT_MODEL)
class DefendedLM(_Bridge, HFLM):
    """A harness model with a defense, for lm-eval's text tasks (`--model harness-defended`)."""


@register_model(MULTIMODAL_MODEL)
class DefendedMultimodalLM(_Bridge, HFMultimodalLM):
    """A harness model with a defense, for lm-eval's image tasks (`--model harness-defended-multimodal`)."""

    def _base_kwargs(self) -> dict[str, Any]:
        model_config = self.harness_backend.model.config
        token = getattr(model_config, "image_token_id", None) or getattr(model_config, "image_token_index", None)
        return {"image_token_id": token} if token is not None else {}


# -- utility inside `harness run --utility TASKS` ---------------------------------------------------------------
def run_utility(spec: Any, options: Any, registries: Any, run_dir: Path, todo: Sequence[str], manager: Any,
                samples: Sequence[Sample], backend: ModelBackend | None = None,
                defense: Defense | None = None) -> None:
    """Run the lm-eval tasks `todo` with the run's model and defense (those loaded for generation, else loaded
    here as the run loads them) into the run folder (`harness.run.lm_eval_utility`)."""
    from harness.run.lm_eval_utility import quiet_lm_eval, run_tasks

    if backend is None or defense is None:
        backend, defense = load_defended(
            spec.model, backend=spec.backend, defense=spec.defense, defense_params=spec.defense_params,
            dtype=spec.dtype, device=options.device, system_prompt=spec.system_prompt, revision=spec.model_revision,
            cache_dir=options.cache_dir, data_root=options.data_root, seed=spec.seed,
            show_progress=options.show_progress, registries=registries, evaluation_samples=samples)
    cls = DefendedMultimodalLM if "image" in backend.modalities else DefendedLM
    with quiet_lm_eval():
        lm = cls(backend=backend, defense=defense, batch_size=options.batch_size, cache_dir=str(options.cache_dir),
                 show_progress=options.show_progress)
    run_tasks(lm, run_dir, todo, manager, limit=spec.limit, seed=spec.seed, echo=options.echo)


# -- `harness lm-eval ARGS...` -----------------------------------------------------------------------------------
def main(argv: Sequence[str]) -> int:
    """lm-eval's own command line (`lm-eval run ...`, `lm-eval ls tasks`, ...) with our models registered and,
    unless `--include_path` is given, the harness's task folder (the organism's utility tasks) included."""
    from lm_eval.__main__ import cli_evaluate

    from organism.utility import TASKS_DIR

    argv = list(argv)
    if argv and argv[0] in ("run", "ls", "validate") or any(a.startswith("--") for a in argv):
        if not any(a == "--include_path" or a.startswith("--include_path=") for a in argv):
            argv += ["--include_path", str(TASKS_DIR)]
    saved = sys.argv
    sys.argv = ["lm-eval", *argv]  # lm-eval's CLI reads sys.argv itself
    try:
        cli_evaluate()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    return 0
