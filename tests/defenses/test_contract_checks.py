"""Deliberately broken defenses on the tiny text model: each contract check must fail exactly when its rule is
broken (and a well-behaved defense passes them all)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from defenses.base import Defense
from defenses.contract import count_hooks, run_contract
from defenses.steering import SteeringDefense, add_at_last, no_positions, position_mask


@dataclass
class StrengthParams:
    strength: float = 3.0


class _Base(SteeringDefense):
    """Adds `strength` times a fixed random direction at the last position of layer 1, in every pass."""

    Params = StrengthParams

    strength_param = "strength"

    def _vector(self, backend):
        g = torch.Generator().manual_seed(0)
        return torch.randn(backend.hidden_size, generator=g)

    def add(self, hidden, state, backend):
        vec = self.params.strength * self._vector(backend)
        return add_at_last(hidden, vec.expand(hidden.shape[0], -1))

    def hooks(self, backend, batch):
        if self.params.strength == 0:
            return {}
        return {1: lambda h, s: self.add(h, s, backend)}

    def touched_positions(self, state, layer):
        if self.params.strength == 0 or layer != 1:
            return no_positions(state)
        return position_mask(state, "last", "prefill_decode")


class Good(_Base):
    name = "good"


class LeaksPositions(_Base):
    name = "leaks-positions"

    def add(self, hidden, state, backend):  # adds everywhere, declares the last position only
        return hidden + self.params.strength * self._vector(backend).to(hidden.dtype)


class ZeroStillActs(_Base):
    name = "zero-still-acts"

    def add(self, hidden, state, backend):
        vec = (self.params.strength or 1e-3) * self._vector(backend)  # strength 0 still adds a little
        return add_at_last(hidden, vec.expand(hidden.shape[0], -1))

    def hooks(self, backend, batch):
        return {1: lambda h, s: self.add(h, s, backend)}


class StickyHooks(_Base):
    name = "sticky-hooks"

    def generate(self, backend, samples, config):
        backend.decoder_layers()[0].register_forward_hook(lambda *a: None)  # never removed
        return super().generate(backend, samples, config)


class BatchDependent(_Base):
    name = "batch-dependent"

    def add(self, hidden, state, backend):
        g = torch.Generator().manual_seed(state.batch_size)  # the direction depends on the batch size
        return hidden + 5.0 * torch.randn(backend.hidden_size, generator=g).to(hidden.dtype)

    def touched_positions(self, state, layer):
        return position_mask(state, "all", "prefill_decode") if layer == 1 else no_positions(state)


class SwallowsErrors(_Base):
    name = "swallows-errors"

    def generate(self, backend, samples, config):
        try:
            return super().generate(backend, samples, config)
        except Exception:
            from harness.backends.base import GenerationOutput

            return [GenerationOutput(text="", n_prompt_tokens=0, n_new_tokens=0) for _ in samples]


class NotSteering(Defense):
    name = "plain"


def _statuses(report) -> dict[str, str]:
    return {r.check: r.status for r in report.results}


@pytest.mark.parametrize(("cls", "failing"), [
    (Good, set()),
    (LeaksPositions, {"positions"}),
    (ZeroStillActs, {"strength-zero-identical"}),
    (StickyHooks, {"hooks-removed", "hooks-removed-on-error"}),
    (BatchDependent, {"batched-equals-single", "positions"}),
    (SwallowsErrors, {"hooks-removed-on-error"}),
])
def test_each_check_catches_its_violation(cls, failing, tiny_backend, make_context):
    backend = tiny_backend("tiny-text")
    before = count_hooks(backend)
    try:
        statuses = _statuses(run_contract(cls, backend, make_context("tiny-text")))
    finally:  # StickyHooks leaves hooks behind on purpose: remove them for the other tests
        for module in backend.decoder_layers():
            module._forward_hooks.clear()
    assert {c for c, s in statuses.items() if s == "fail"} == failing, statuses
    assert count_hooks(backend) == before


def test_non_steering_defense_skips_the_steering_checks(tiny_backend, make_context):
    statuses = _statuses(run_contract(NotSteering, tiny_backend("tiny-text"), make_context("tiny-text")))
    assert statuses["strength-zero-identical"] == statuses["positions"] == "skip"
    assert statuses["hooks-removed"] == statuses["batched-equals-single"] == "pass"
    assert statuses["hooks-removed-on-error"] == "pass"


def test_setup_failure_is_reported_not_raised(tiny_backend, make_context):
    from defenses.refusal_steer.defense import RefusalSteer

    report = run_contract(RefusalSteer, tiny_backend("tiny-text"), make_context("tiny-text"),
                          params={"data": "no-such-task", "layers": [1]})
    assert report.results[0].status == "fail" and "no-such-task" in report.results[0].detail
    assert all(r.status == "skip" for r in report.results[1:])
    assert not report.ok

