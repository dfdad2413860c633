"""refusal-steer: the added vector (raw / unit scale), its positions per option, the Arditi score helpers and
the selection rule on the tiny text model."""

from __future__ import annotations

import pytest
import torch

from defenses.refusal_steer import arditi
from defenses.refusal_steer.defense import RefusalSteer
from defenses.steering import position_mask
from harness.backends.base import EMBED

BASE = {"data": "smoke:text", "n_per_group": 8, "layers": [1]}


@pytest.fixture(scope="module")
def text(tiny_backend):
    return tiny_backend("tiny-text")


def _setup(backend, context, **params):
    defense = RefusalSteer(**{**BASE, **params})
    defense.setup(backend, context)
    return defense


def test_raw_and_unit_scales(text, make_context):
    raw = _setup(text, make_context("tiny-text"), alpha=2.0)
    unit = _setup(text, make_context("tiny-text"), alpha=2.0, vector="unit")
    norm = raw.info()["artifact"]["norms"]["1"]
    assert raw.info()["artifact"]["added_norms"]["1"] == pytest.approx(2.0 * norm, rel=1e-5)
    assert unit.info()["artifact"]["added_norms"]["1"] == pytest.approx(2.0, rel=1e-5)
    assert raw.info()["artifact"]["path"] == unit.info()["artifact"]["path"]  # one calibration, two scalings


@pytest.mark.parametrize(("positions", "phase"), [("all", "prefill"), ("last", "prefill_decode"),
                                                  ("all", "prefill_decode"), ("last", "prefill")])
def test_hook_changes_the_declared_positions(text, make_context, positions, phase):
    from defenses.contract import contract_samples, run_contract

    defense = _setup(text, make_context("tiny-text"), alpha=4.0, positions=positions, phase=phase)
    batch = text.prepare(contract_samples(text, make_context("tiny-text").cache_dir / "media"))
    seen = {}

    def grab(hidden, state):
        seen.setdefault(state.phase, []).append((hidden.detach().clone(), state))

    with text.layer_hooks({1: [grab, defense.hooks(text, batch)[1], grab]}):
        text.generate(batch, __import__("harness.records", fromlist=["GenerationConfig"]).GenerationConfig(
            max_new_tokens=3))
    for phase_name, entries in seen.items():
        for before, after in zip(entries[0::2], entries[1::2]):
            changed = (after[0] != before[0]).any(-1)
            assert torch.equal(changed, position_mask(after[1], positions, phase)), (phase_name, positions, phase)
    prefill = seen["prefill"]
    delta = prefill[1][0] - prefill[0][0]
    mask = position_mask(prefill[1][1], positions, phase)
    torch.testing.assert_close(delta[mask], defense._vectors[1].expand(int(mask.sum()), -1), rtol=0, atol=1e-6)
    report = run_contract(RefusalSteer, text, make_context("tiny-text"),
                          params={**BASE, "alpha": 4.0, "positions": positions, "phase": phase})
    assert report.ok, report.format()


def test_params_are_validated_before_any_work():
    with pytest.raises(ValueError, match="layers"):
        RefusalSteer(data="smoke:text")
    with pytest.raises(ValueError, match="positions"):
        RefusalSteer(data="smoke:text", layers=[1], positions="media-only")
    with pytest.raises(ValueError, match="phase"):
        RefusalSteer(data="smoke:text", layers=[1], phase="decode")


def test_refusal_score_and_kl_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    score = arditi.refusal_score(logits, [0, 1])
    assert score[0] == pytest.approx(float(torch.log(torch.tensor(0.75 / 0.25))), abs=1e-5)
    assert score[1] == pytest.approx(float(torch.log(torch.tensor(0.2 / 0.8))), abs=1e-5)
    assert float(arditi.kl_divergence(logits, logits).abs().max()) < 1e-7
    p, q = torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.1])
    expected = float((p * (p / q).log()).sum())
    assert float(arditi.kl_divergence(p.log()[None], q.log()[None])[0]) == pytest.approx(expected, rel=1e-5)


def test_ablation_removes_the_direction_at_every_position():
    unit = torch.nn.functional.normalize(torch.randn(16), dim=0)
    hidden = torch.randn(2, 5, 16)
    out = arditi.ablation_hook(unit)(hidden, None)
    assert float((out @ unit).abs().max()) < 1e-5
    torch.testing.assert_close(out + (hidden @ unit).unsqueeze(-1) * unit, hidden)


def test_arditi_selection_follows_the_filters(text, make_context):
    # Many "refusal tokens" give p > 0.5 on a random model, so induce scores are positive and the filters pass;
    # with the default tokens every candidate fails the induce filter and selection is an error.
    tokens = sorted({text.tokenizer.decode([i]) for i in range(len(text.tokenizer))} - {""})
    defense = _setup(text, make_context("tiny-text"), layers=None, select="arditi", refusal_tokens=tokens,
                     filter_train=False, kl_max=10.0)
    table = defense.info()["artifact"]["selection"]
    assert [row["layer"] for row in table] == [0, 1, 2]
    assert table[2]["discarded"].startswith("in the last")  # int(0.8 * 3) = 2: Arditi prunes layer 2
    survivors = [row for row in table if not row["discarded"]]
    assert survivors and all(row["induce"] >= 0 and row["kl"] <= 10.0 for row in survivors)
    chosen = min(survivors, key=lambda row: row["bypass"])["layer"]
    assert list(defense._vectors) == [chosen] == defense.info()["artifact"]["layers"]
    with pytest.raises(arditi.SelectionError, match="induce score"):
        _setup(text, make_context("tiny-text"), layers=None, select="arditi", filter_train=False)


def test_ablate_everywhere_covers_embeddings_and_every_layer(text):
    hooks = arditi.ablate_everywhere(text, torch.ones(text.hidden_size))
    assert sorted(hooks) == [EMBED, *range(text.num_layers)]
