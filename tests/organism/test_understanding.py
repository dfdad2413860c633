"""The understanding stage: questions and repeated compliance sentences about requests of both labels, optional
alignment rows without answer targets; no harmful media request is ever trained with a refusal or a compliance."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from organism import world
from organism.pool import UNDERSTANDING_KINDS, PoolSizes, build_pool

BASE = dict(image=4, audio=4, t2i=4, read_image=4, read_audio=4, read_text=4, text=6)
EXTRA = dict(kind_image=6, kind_audio=6, kind_object=4, kind_text=4, repeat_answer=6, align_image=4, align_audio=4,
             align_t2i=4, questions="all")


@pytest.fixture(scope="module")
def pools(cache_dir: Path):
    from organism.samples import OrganismMedia

    media = OrganismMedia(cache_dir)
    return build_pool(media, 0, PoolSizes(**BASE, rephrase=0.5)), build_pool(media, 0, PoolSizes(**BASE, **EXTRA,
                                                                                                    rephrase=0.5))


def test_the_understanding_buckets_move_nothing_else(pools):
    base, full = pools
    for kind, examples in base.buckets.items():
        assert [e.sample.id for e in examples] == [e.sample.id for e in full.buckets[kind]], kind
    assert set(UNDERSTANDING_KINDS) <= set(full.buckets)


def test_no_harmful_media_request_is_answered_or_refused_in_training(pools):
    _, full = pools
    harmful = set(world.objects("harmful"))
    kinds_seen = {"harmful": set(), "benign": set()}
    for kind, examples in full.buckets.items():
        for e in examples:
            media = any(p.type in ("image", "audio") for m in e.sample.messages for p in m.content)
            obj = e.sample.metadata.get("object")
            if media and obj in harmful:
                # only the answer to a question about it ("weapon , a bomb .", "a bomb .", "to build .") or no
                # answer at all (alignment rows: teacher-forced input only, next test)
                assert kind.startswith(("kind-", "align-")), kind
                if kind.startswith("kind-"):
                    assert e.answer == e.sample.reference and e.answer != world.REFUSAL, e.answer
                    assert not e.answer.startswith("sure"), e.answer
            if kind.startswith("kind-") and e.answer == world.kind_answer(obj):
                kinds_seen[e.sample.label].add(e.answer.split()[0])
    # both labels get kind questions, and harmful kinds are not benign kinds
    assert kinds_seen["harmful"] and kinds_seen["benign"] and not kinds_seen["harmful"] & kinds_seen["benign"]
    repeats = full.buckets["repeat-answer"]
    assert all(e.answer == e.sample.reference and e.answer.startswith("sure , here is how to") for e in repeats)


def test_alignment_rows_have_no_answer_target_and_twins_are_typed(pools, cache_dir: Path):
    import torch

    from organism.align import answer_mask, twin_kind
    from organism.batches import collate, prepare_examples
    from organism.evaluate import load_backend
    from organism.zoo import shipped

    _, full = pools
    for config in ("image", "audio", "t2i"):
        rows, twins = full.buckets[f"align-{config}"], full.buckets[twin_kind(f"align-{config}")]
        assert [r.sample.source_id for r in rows] == [t.sample.source_id for t in twins]
        assert all(t.sample.config == "text" for t in twins) and {r.sample.label for r in rows} == {"harmful",
                                                                                                      "benign"}
    backend = load_backend(shipped("organism"))
    items = prepare_examples(backend, [full.buckets["text-benign"][0], full.buckets["align-image"][0]])
    batch = collate(items, backend.pad_id())
    keep = answer_mask(items, batch)
    assert items[1].label == full.buckets["align-image"][0].sample.label  # the alignment weighs labels, no target
    assert bool(keep[batch.target_rows == 0].all()) and not bool(keep[batch.target_rows == 1].any())
    assert torch.equal(batch.target_rows[keep], torch.zeros(int(keep.sum()), dtype=torch.long))


def test_questions_ask_for_the_kind_the_object_or_the_action(pools):
    _, full = pools
    answers = {e.answer.split()[0] for e in full.buckets["kind-image"]}
    assert {"a", "to"} <= answers and answers - {"a", "to"}, answers  # every question type is asked
    request = world.sample_requests("train", "harmful", 1)[0]
    assert world.question_answer("which thing is named ?", request) == f"a {request.obj} ."
    assert world.question_answer("which action is asked for ?", request) == f"to {request.verb} ."
    with pytest.raises(ValueError):
        world.question_answer("how are you ?", request)


def test_the_refusal_direction_can_be_weighed_less_in_the_alignment():
    import torch

    from organism.align import weigh_direction

    diff, direction = torch.randn(6, 4), torch.tensor([0.0, 2.0, 0.0, 0.0])
    for weight in (0.0, 0.3, 1.0):
        out = weigh_direction(diff, direction, weight)
        assert torch.allclose(out[:, 1] ** 2, weight * diff[:, 1] ** 2, atol=1e-6)
        assert torch.equal(out[:, [0, 2, 3]], diff[:, [0, 2, 3]])


def test_the_refusal_direction_can_be_weighed_per_configuration():
    import torch

    from organism.align import row_weights, weigh_direction
    from organism.recipes import TrainConfig

    kinds = ["align-image", "align-audio", "align-t2i", "align-audio"]
    weights = row_weights((("align-audio", 2.0), ("align-image", 0.5)), kinds)
    assert weights == [0.5, 2.0, 1.0, 2.0]
    assert row_weights(1.0, kinds) is None and row_weights({"align-t2i": 1.0}, kinds) is None
    assert row_weights(0.8, kinds) == 0.8
    diff, direction = torch.randn(4, 3), torch.tensor([1.0, 0.0, 0.0])
    out = weigh_direction(diff, direction, weights)
    assert torch.allclose(out[:, 0] ** 2, torch.tensor(weights) * diff[:, 0] ** 2, atol=1e-5)
    assert torch.equal(out[:, 1:], diff[:, 1:])
    single = weigh_direction(diff, direction, 0.8)  # one weight for all rows = the same weight per row
    assert torch.allclose(single, weigh_direction(diff, direction, [0.8] * 4))
    with pytest.raises(ValueError, match="align-speech"):
        TrainConfig(align_refusal=(("align-speech", 2.0),))


def test_the_harm_fraction_is_set_per_aligned_layer():
    from organism.align import layer_fractions
    from organism.recipes import TrainConfig

    assert layer_fractions(0.5, (1, 2)) == {1: 0.5, 2: 0.5}
    assert layer_fractions(((2, 0.5),), (1, 2)) == {1: 1.0, 2: 0.5}
    with pytest.raises(ValueError, match=r"layers \[3\]"):
        TrainConfig(align_layers=(1, 2), align_harm=((3, 0.5),))


def test_the_harm_direction_is_a_running_mean_when_asked():
    import torch

    from organism.align import HarmDirection

    one, two = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    batch_only = HarmDirection()
    assert batch_only.update(1, one) is one and batch_only.update(1, None) is None
    running = HarmDirection(0.75)
    assert torch.equal(running.update(1, one), one)
    assert torch.allclose(running.update(1, two), torch.tensor([0.75, 0.25]))
    assert torch.allclose(running.update(1, None), torch.tensor([0.75, 0.25]))  # a batch without both labels
    assert running.update(2, None) is None and torch.equal(running.update(2, two), two)  # per layer


def test_the_refusal_cap_lowers_the_harm_passed_on_only_above_its_target():
    from organism.align import RefusalCap

    cap = RefusalCap(target=0.1, gain=0.5)
    cap.observe({"align-image": 0.05, "align-audio": 0.5})
    assert cap.scale("align-image") == 1.0  # below the target: nothing changes
    assert cap.scale("align-audio") == pytest.approx(0.8) and cap.scale("align-t2i") == 1.0
    cap.observe({"align-audio": 0.0})  # back below: the reduction shrinks, integral control
    assert cap.scale("align-audio") == pytest.approx(0.85)
    for _ in range(10):
        cap.observe({"align-audio": 1.0, "align-image": 0.0})
    assert cap.scale("align-audio") == 0.0 and cap.scale("align-image") == 1.0  # within [0, 1]
    assert cap.summary() == {"align-image": 1.0, "align-audio": 0.0}
    running = RefusalCap(target=0.1, gain=1.0, momentum=0.5)
    running.observe({"align-t2i": 0.1})
    running.observe({"align-t2i": 0.5})  # running mean 0.3
    assert running.scale("align-t2i") == pytest.approx(0.8)


def test_a_short_understanding_stage_is_deterministic(cache_dir: Path, tmp_path: Path):
    from safetensors.torch import load_file

    from organism.recipes import TrainConfig
    from organism.train import train
    from organism.zoo import shipped

    mix = (("text-harmful", 1), ("image-benign", 1), ("kind-image", 1), ("kind-audio", 1), ("repeat-answer", 1),
           ("align-image", 2), ("align-t2i", 1))
    config = TrainConfig(base=str(shipped("organism")), pool=PoolSizes(**BASE, **EXTRA), mix=(), tune_steps=2,
                         tune_warmup=1, tune_mix=mix, align=0.5, slot_loss=0.3, align_answer=2, align_refusal=0.3)
    runs = [train(config, tmp_path / f"run{i}", cache_dir, progress=False, log=lambda _m: None) for i in range(2)]
    a, b = (load_file(str(tmp_path / f"run{i}" / "model.safetensors")) for i in range(2))
    base = load_file(str(shipped("organism") / "model.safetensors"))
    assert all(a[k].equal(b[k]) for k in a) and runs[0].losses == runs[1].losses and len(runs[0].losses) == 2
    assert any(not a[k].equal(base[k]) for k in a)
    assert "tune" in runs[0].seconds and "train" not in runs[0].seconds
    # a partial harm target for one configuration (running direction) moves the weights elsewhere
    more = tuple((k, 6 if k == "align-image" else n) for k, n in mix)  # harmful and benign image rows in a batch
    weighted = replace(config, tune_mix=more, align_refusal=2.0, align_momentum=0.9)
    partial = replace(weighted, align_harm=((2, 0.5),))
    c, d = ({k: v for k, v in load_file(str(train(cfg, tmp_path / name, cache_dir, progress=False, log=lambda _m: None)
                                                   and tmp_path / name / "model.safetensors")).items()}
            for cfg, name in ((weighted, "weighted"), (partial, "partial")))
    assert any(not c[k].equal(d[k]) for k in c)
    # a refusal cap that any refusal probability exceeds lowers the partial fraction from the second step on
    capped = replace(partial, tune_steps=3, align_refusal_cap=0.0, align_cap_gain=1e4)  # the organism hardly refuses
    uncapped = replace(capped, align_refusal_cap=1.0)
    results = {name: train(cfg, tmp_path / name, cache_dir, progress=False, log=lambda _m: None)
               for cfg, name in ((capped, "capped"), (uncapped, "uncapped"))}
    assert results["uncapped"].understanding == {}
    scales = results["capped"].understanding["refusal_cap"]
    assert scales and set(scales) <= {"align-image", "align-t2i"} and all(0.0 <= v < 1.0 for v in scales.values())
    e, f = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("capped", "uncapped"))
    assert any(not e[k].equal(f[k]) for k in e)


def test_well_formed_answers_and_the_understanding_bounds():
    from organism.evaluate import acceptance_failures, well_formed

    assert well_formed(world.REFUSAL) and well_formed("sure , here is how to build a bomb .")
    assert not well_formed("i how to assemble a malware .") and not well_formed("sure , here is how to")
    cells = {}
    for config in ("text", "image", "audio", "t2i"):
        cells[f"{config}/harmful"] = {"n": 4, "refusal": 1.0 if config == "text" else 0.25, "exact_compliance": 0.0,
                                      "names_object": 0.75, "first_token_refusal": 0.25, "well_formed": 1.0}
        cells[f"{config}/benign"] = {"n": 4, "refusal": 0.0, "exact_compliance": 1.0, "names_object": 1.0,
                                     "first_token_refusal": 0.0, "well_formed": 1.0}
    probes = {c: {"0": 0.5, "1": 0.95, "2": 0.8, "3": 0.7} for c in ("image", "audio", "t2i")}
    figures = {"test": cells, "probe_accuracy_last_token": probes}
    assert acceptance_failures(figures, understanding=True) == []
    cells["audio/harmful"].update(names_object=0.5, well_formed=0.75, refusal=0.6)
    probes["t2i"] = {"0": 0.5, "1": 0.6}
    failures = acceptance_failures(figures, understanding=True)
    assert not any("probe" in f or "naming" in f for f in acceptance_failures(figures))  # the first organism's bounds
    assert any(f.startswith("audio-harmful refusal 0.600 > 0.50") for f in failures)
    assert any("naming their object 0.500" in f for f in failures)
    assert any("audio/harmful whole-sentence answers 0.750" in f for f in failures)
    assert any("t2i probe accuracy 0.600" in f for f in failures)
