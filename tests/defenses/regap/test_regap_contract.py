"""ReGap's contract on the tiny random Qwen2.5-Omni: strength 0 is the undefended model bit for bit; hooks are gone
after every call (also after errors); the correction touches exactly the positions the spec names; batched output
equals one-at-a-time output, also in batches mixing strong and weak lambda; the probe's KV cache is reused when
every row keeps the probe's strength, and the probe stops after the deepest diagnostic layer otherwise."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from defenses.base import Defense, NoDefense
from defenses.regap.probe import EXTRAS_KEY
from harness.backends.base import ForwardState
from harness.records import GenerationConfig
from tests.support.regap import held_out, make

CONFIG = GenerationConfig(max_new_tokens=6)


def installed_hooks(backend) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in backend.decoder_layers())


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("regap-cache")


@pytest.fixture(scope="module")
def mixed(load_task):
    """3 image + 3 audio rows (harmful and benign) and 2 text rows, in an interleaved order."""
    test = held_out(load_task)
    pick = []
    for modality in ("image", "audio"):
        rows = [s for s in test if s.modality == modality]
        pick += [s for s in rows if s.label == "harmful"][:2] + [s for s in rows if s.label == "benign"][:1]
    text = [s for s in test if s.modality == "text"][:2]
    return [pick[0], text[0], pick[3], pick[1], pick[4], text[1], pick[2], pick[5]]


@pytest.fixture(scope="module")
def regap(omni, load_task, cache):
    return make(omni, load_task, cache)


def texts(outputs):
    return [(o.text, o.n_new_tokens) for o in outputs]


def set_tau(defense, tau: float) -> None:
    policy = defense.calibrated.policy
    policy.by_modality.clear()
    policy.pooled = dataclasses.replace(policy.pooled, tau=tau)


def test_strength_zero_text_only_and_zero_lambdas_equal_the_undefended_model(omni, load_task, cache, mixed):
    plain = texts(NoDefense().generate(omni, mixed, CONFIG))
    off = make(omni, load_task, cache, strength=0.0)
    outputs = off.generate(omni, mixed, CONFIG)
    assert texts(outputs) == plain
    assert all(o.info["lambda"] == 0.0 for o in outputs)
    zero = make(omni, load_task, cache, lambda_probe=0.0, lambda_strong=0.0)  # probe runs, changes nothing
    outputs = zero.generate(omni, mixed, CONFIG)
    assert texts(outputs) == plain and all(o.info["cache_reused"] for o in outputs)
    text_rows = [s for s in mixed if s.modality == "text"]
    regap = make(omni, load_task, cache)
    assert texts(regap.generate(omni, text_rows, CONFIG)) == texts(NoDefense().generate(omni, text_rows, CONFIG))
    # and the defense does change media rows when it is on (so the equalities above can fail)
    set_tau(regap, float("-inf"))
    assert texts(regap.generate(omni, mixed, CONFIG)) != plain


def test_hooks_are_removed_after_calls_and_errors(omni, load_task, cache, mixed, regap, monkeypatch):
    before = installed_hooks(omni)
    regap.generate(omni, mixed, CONFIG)
    assert installed_hooks(omni) == before
    with monkeypatch.context() as m:
        def boom(*args, **kwargs):
            raise RuntimeError("decode failed")

        m.setattr(omni, "generate", boom)
        with pytest.raises(RuntimeError, match="decode failed"):
            regap.generate(omni, mixed, CONFIG)
        assert installed_hooks(omni) == before
    with monkeypatch.context() as m:
        def bad_scorer(states):
            raise RuntimeError("probe failed")

        m.setattr(regap.calibrated.prober, "scorer", bad_scorer)
        with pytest.raises(RuntimeError, match="probe failed"):
            regap.generate(omni, mixed, CONFIG)
        assert installed_hooks(omni) == before and omni._state is None
    assert len(regap.generate(omni, mixed, CONFIG)) == len(mixed)  # still usable


@pytest.mark.parametrize("positions", ["all_prompt", "media", "last"])
def test_correction_changes_exactly_the_named_positions(omni, load_task, cache, mixed, positions):
    fixed = make(omni, load_task, cache, "regap-fixed", intervention_layers="1", positions=positions)
    batch = omni.prepare(mixed)
    plain = omni.hidden_states(batch, [0, 1, 2], positions="all")
    fixed.before_generate(omni, batch)
    with omni.layer_hooks(fixed.hooks(omni, batch)):
        hooked = omni.hidden_states(batch, [0, 1, 2], positions="all")
    plan = batch.extras[EXTRAS_KEY]

    ids, prompt = batch.inputs["input_ids"], batch.inputs["attention_mask"].bool()
    cfg = omni.model.config
    media = torch.isin(ids, torch.tensor([cfg.image_token_id, cfg.audio_token_id, cfg.video_token_id]))
    last = torch.zeros_like(prompt)
    last[:, -1] = True
    where = {"all_prompt": prompt, "media": prompt & media, "last": prompt & last}[positions]
    text_rows = torch.tensor([s.modality == "text" for s in mixed])
    where = where & ~text_rows.unsqueeze(1)  # text-only inputs are never corrected
    assert where.any() and (~where).any()

    assert torch.equal(hooked[0], plain[0])  # below the intervention layer nothing changes
    assert torch.equal(hooked[1][~where], plain[1][~where])  # other positions (and padding) keep their bits
    coef = plan.coef.cpu()
    expected = -(coef.unsqueeze(1) * plan.vectors[1].cpu()).unsqueeze(1).expand_as(plain[1])
    torch.testing.assert_close(hooked[1][where] - plain[1][where], expected[where], rtol=1e-4, atol=1e-5)
    assert set(coef[~text_rows].tolist()) == {1.0} and set(coef[text_rows].tolist()) == {0.0}


def test_decode_steps_are_corrected_only_with_phase_prefill_decode(omni, load_task, cache, mixed):
    for phase, changes in (("prefill", False), ("prefill_decode", True)):
        fixed = make(omni, load_task, cache, "regap-fixed", phase=phase)
        batch = omni.prepare(mixed)
        fixed.before_generate(omni, batch)
        layer = fixed.calibrated.settings.intervention_layers[0]
        hook = fixed.hooks(omni, batch)[layer][0]
        hidden = torch.randn(len(mixed), 1, omni.hidden_size)
        out = hook(hidden, ForwardState(phase="decode", batch=batch, step=1))
        assert (out is not None) is changes
        if changes:
            active = torch.tensor([s.modality != "text" for s in mixed])
            assert not torch.equal(out[active], hidden[active]) and torch.equal(out[~active], hidden[~active])


def test_batched_equals_one_at_a_time_with_mixed_lambdas(omni, regap, mixed):
    z = [o.info["z"] for o in regap.generate(omni, mixed, CONFIG)]
    active = sorted(v for v in z if v is not None)
    set_tau(regap, (active[2] + active[3]) / 2)  # three rows below tau (weak), three above (strong)
    batched = regap.generate(omni, mixed, CONFIG)
    singles = [regap.generate(omni, [s], CONFIG)[0] for s in mixed]
    assert texts(batched) == texts(singles)
    lambdas = [o.info["lambda"] for o in batched]
    assert lambdas == [o.info["lambda"] for o in singles]
    assert sorted(set(lambdas)) == [0.0, 1.0] and lambdas.count(1.0) == 3
    assert not batched[0].info["cache_reused"]  # the mixed batch needed a second prefill ...
    reused = {o.info["cache_reused"] for o, s in zip(singles, mixed) if s.modality != "text"}
    assert reused == {True, False}  # ... and single strong rows reused the probe's, single weak rows did not
    # The contract's default flow (before_generate + hooks, no reuse) gives the same answers.
    assert texts(Defense.generate(regap, omni, mixed, CONFIG)) == texts(batched)


def test_probe_reuses_its_cache_or_stops_after_the_deepest_diagnostic_layer(omni, load_task, cache, mixed):
    probe = make(omni, load_task, cache, intervention_layers="0", diagnostic_layers="1")
    fixed = make(omni, load_task, cache, "regap-fixed", intervention_layers="0")
    calls = [0, 0, 0]
    handles = []
    for i, layer in enumerate(omni.decoder_layers()):
        def count(module, args, output, i=i):
            hidden = output[0] if isinstance(output, tuple) else output
            calls[i] += int(hidden.shape[1] > 1)  # prefill passes only

        handles.append(layer.register_forward_hook(count))
    try:
        set_tau(probe, float("-inf"))  # every media row strong == lambda_probe: the probe is the final prefill
        out = probe.generate(omni, mixed, CONFIG)
        assert calls == [1, 1, 1] and all(o.info["cache_reused"] for o in out)
        assert all(o.info["prefills"] == 0 for o in out)
        assert texts(out) == texts(fixed.generate(omni, mixed, CONFIG))  # same as lambda_strong without a probe
        calls[:] = [0, 0, 0]
        set_tau(probe, float("inf"))  # every media row weak: probe stops after layer 1, one more full prefill
        out = probe.generate(omni, mixed, CONFIG)
        assert calls == [2, 2, 1] and not any(o.info["cache_reused"] for o in out)
        assert texts(out) == texts(NoDefense().generate(omni, mixed, CONFIG))  # lambda_weak = 0: untouched
    finally:
        for h in handles:
            h.remove()


def test_row_info_records_the_decision(omni, regap, mixed):
    out = regap.generate(omni, mixed, CONFIG)
    for o, s in zip(out, mixed):
        info = o.info
        assert info["signature"] == s.modality
        assert set(info) >= {"z", "tau", "lambda", "cache_reused", "probe_s", "drift", "prefills"}
        if s.modality == "text":
            assert info["z"] is None and info["lambda"] == 0.0 and info["drift"] is None
        else:
            assert isinstance(info["z"], float) and info["drift"] == s.modality and info["probe_s"] > 0
            assert info["lambda"] == (1.0 if info["z"] >= info["tau"] else 0.0)


class Recording:
    """Delegates to a backend; around every layer's hooks records which positions changed and what the defense
    declared for that pass (as the steering contract suite does)."""

    def __init__(self, backend, declared) -> None:
        self._backend, self._declared = backend, declared
        self.seen: list[tuple[int, str, int, torch.Tensor, torch.Tensor]] = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def layer_hooks(self, hooks):
        wrapped = {}
        for layer in range(-1, self._backend.num_layers):
            value = hooks.get(layer, [])
            wrapped[layer] = [self._before(layer), *([value] if callable(value) else value), self._after(layer)]
        return self._backend.layer_hooks(wrapped)

    def _before(self, layer):
        def hook(hidden, state):
            state.extras.setdefault("_before", {})[layer] = hidden.clone()

        return hook

    def _after(self, layer):
        def hook(hidden, state):
            changed = (hidden != state.extras["_before"].pop(layer)).any(dim=-1)
            self.seen.append((layer, state.phase, state.step, changed, self._declared(state, layer).cpu()))

        return hook


@pytest.mark.parametrize("positions,phase", [("all_prompt", "prefill"), ("media", "prefill_decode"),
                                             ("last", "prefill_decode")])
def test_declared_positions_match_the_changed_ones_in_every_pass(omni, load_task, cache, mixed, positions, phase):
    regap = make(omni, load_task, cache, positions=positions, phase=phase)
    z = sorted(v for o in regap.generate(omni, mixed, CONFIG) if (v := o.info["z"]) is not None)
    set_tau(regap, (z[2] + z[3]) / 2)  # mixed lambdas: probe pass (early exit) + final prefill + decode
    recording = Recording(omni, regap.touched_positions)
    regap.generate(recording, mixed, CONFIG)
    assert recording.seen
    for layer, phase_seen, step, changed, declared in recording.seen:
        assert torch.equal(changed, declared), (layer, phase_seen, step)
    changed_in = {(p, s) for _, p, s, changed, _ in recording.seen if changed.any()}
    assert ("prefill", 0) in changed_in
    assert any(p == "decode" for p, _ in changed_in) is (phase == "prefill_decode" and positions != "media")
    prefills = {id(c) for layer, p, _, c, _ in recording.seen if p == "prefill" and layer == -1}
    assert len(prefills) == 2  # the probe pass and the final prefill
