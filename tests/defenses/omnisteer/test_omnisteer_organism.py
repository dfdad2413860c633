"""OmniSteer on the organisms is trained as its paper trains it: golden vectors and adapters from the calibration
split with media (every configuration, harmful and benign), checkpoints chosen on a held-out part of the same split,
so the hygiene check accepts it whether a run evaluates the test split or tunes on organism-validation."""

from __future__ import annotations

from collections import Counter

import pytest

from defenses.omnisteer.defense import OmniSteer
from defenses.toolkit.splits import CalibrationOverlapError


@pytest.mark.parametrize("evaluated", ["organism-safety", "organism-validation"])
def test_the_organism_preset_trains_on_calibration_with_media_and_selects_on_a_held_out_part(
        make_context, load_task, evaluated):
    context = make_context("organism-planted", evaluation_samples=load_task(evaluated))
    split = OmniSteer().calibration_split(context, "organism-planted", 0)
    assert split.description == "organism-calibration [0-80%] (+ validation organism-calibration [80-100%])"
    train = Counter((s.config, s.label) for s in split.train)
    assert set(train) == {(c, label) for c in ("text", "image", "audio", "t2i") for label in ("harmful", "benign")}
    assert not {s.source_id for s in split.train} & {s.source_id for s in split.validation}
    assert {s.config for s in split.validation} == {"text", "image", "audio", "t2i"}


def test_checkpoints_on_the_evaluated_split_are_refused(make_context, load_task):
    context = make_context("organism-planted", evaluation_samples=load_task("organism-validation"))
    with pytest.raises(CalibrationOverlapError):
        OmniSteer(validation="organism-validation", validation_part="").calibration_split(context,
                                                                                        "organism-planted", 0)


def test_a_malformed_part_fails_when_the_parameters_are_built():
    with pytest.raises(ValueError, match="0-40%"):
        OmniSteer(validation_part="80-100")
