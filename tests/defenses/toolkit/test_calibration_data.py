"""Calibration data: overlap by id / source / content, label-stratified holdout by source, and load_split."""

from __future__ import annotations

import pytest

from defenses.base import DefenseContext
from defenses.toolkit.calibration_data import CalibrationDataError, Identity, check_disjoint, holdout, load_split
from defenses.toolkit.splits import find_overlap
from harness.records import Sample, user_message


def s(i: int, label: str = "harmful", source: str | None = None, text: str | None = None, config: str = "text"):
    return Sample(id=f"t/{config}/{i}", task="t", config=config, label=label, source_id=source,
                  messages=(user_message(text or f"prompt {i}"),))


def test_overlap_by_id_source_and_content():
    cal = [s(1, source="a"), s(2, source="b", text="same words")]
    found = find_overlap(cal, [s(1, source="z"), s(9, source="b"), s(8, text="same words"), s(7, source="q")])
    assert [f.split(" ")[0] for f in found.examples] == ["t/text/1", "t/text/9", "t/text/8"]
    assert (found.by_id, found.by_source, found.by_content) == (1, 1, 2)  # t/text/1 also has the same text
    assert "same sample id" in found.examples[0] and "source_id 'b'" in found.examples[1]
    assert "same content" in found.examples[2]
    ident = Identity.from_dict(Identity.of(cal).to_dict())
    assert find_overlap(ident, [s(9, source="b")]).any and not find_overlap(ident, [s(5, source="c")]).any
    with pytest.raises(CalibrationDataError, match="D17"):
        check_disjoint(cal, [s(9, source="b")], what="x")
    check_disjoint(cal, [s(5, source="c")], what="x")


def test_holdout_is_stratified_grouped_and_seeded():
    samples = [s(i, "harmful" if i < 10 else "benign", source=f"src{i % 20}", config=c)
               for c in ("text", "image") for i in range(20)]
    kept, held = holdout(samples, 0.2, seed=0)
    assert len(held) == 8 and len(kept) == 32  # 2 sources per label x 2 modalities
    assert {x.label for x in held} == {"harmful", "benign"}
    held_sources = {x.source_id for x in held}
    assert not held_sources & {x.source_id for x in kept}  # a source's modality variants stay together
    assert holdout(samples, 0.2, seed=0) == (kept, held)
    assert holdout(samples, 0.2, seed=1)[1] != held


def test_load_split_validates_and_checks_disjointness(tmp_path):
    data = [s(i, "harmful" if i % 2 else "benign", source=f"d{i}") for i in range(20)]
    val = [s(100 + i, "harmful" if i % 2 else "benign", source=f"v{i}") for i in range(6)]
    sets = {"cal": data, "val": val, "only-harmful": [x for x in data if x.label == "harmful"]}
    ctx = DefenseContext(cache_dir=tmp_path, load_samples=lambda sel: sets[sel], evaluation_samples=[s(500)])
    split = load_split(ctx, "cal", "val", what="x", n_per_group=3)
    assert len(split.train) == 6 and len(split.validation) == 6 and "validation val" in split.description
    with pytest.raises(CalibrationDataError, match="needs calibration data"):
        load_split(ctx, None, None, what="x")
    with pytest.raises(CalibrationDataError, match="harmful and benign"):
        load_split(ctx, "only-harmful", None, what="x")
    overlapping = DefenseContext(cache_dir=tmp_path, load_samples=lambda sel: sets[sel], evaluation_samples=[val[0]])
    with pytest.raises(CalibrationDataError, match="validation"):
        load_split(overlapping, "cal", "val", what="x")
    with pytest.raises(CalibrationDataError, match="its validation data"):
        load_split(DefenseContext(cache_dir=tmp_path, load_samples=lambda sel: data), "cal", "cal", what="x")
