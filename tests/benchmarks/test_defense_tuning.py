"""The tuning rule of benchmarks/defense_tuning.py: within the benign-cost bound in every configuration, the
strongest effect (highest media harmful refusal), the weaker strength on ties; none within the bound: no choice."""

from __future__ import annotations

import json

from benchmarks.defense_tuning import benign_cost, choose, rechoose


def _rates(refusal: float, benign: dict[str, float]) -> dict:
    out = {m: {"benign_acceptance": {"value": v}} for m, v in benign.items()}
    out["all-media"] = {"harmful_refusal": {"value": refusal}, "benign_acceptance": {"value": 1.0}}
    return out


NONE = _rates(0.0, {"text": 1.0, "image": 1.0, "audio": 0.95})


def _point(value, refusal, benign):
    rates = _rates(refusal, benign)
    return {"value": value, "rates": rates, "benign_cost": benign_cost(rates, NONE)}


def test_benign_cost_is_per_configuration_against_none():
    cost = benign_cost(_rates(0.5, {"text": 1.0, "image": 0.9, "audio": 1.0}), NONE)
    assert cost == {"text": 0.0, "image": 0.09999999999999998, "audio": -0.050000000000000044}


def test_choose_takes_the_strongest_effect_within_the_bound():
    points = [_point(0.5, 0.2, {"text": 1.0, "image": 1.0, "audio": 0.95}),
              _point(1.0, 0.9, {"text": 1.0, "image": 0.96, "audio": 0.95}),
              _point(2.0, 0.0, {"text": 1.0, "image": 1.0, "audio": 0.95}),  # over-corrected: no effect
              _point(3.0, 1.0, {"text": 1.0, "image": 0.80, "audio": 0.95})]  # beyond the bound
    assert choose(points, 0.05)["value"] == 1.0
    same = {"text": 1.0, "image": 1.0, "audio": 0.95}
    tie = [_point(0.5, 0.0, same), _point(1.0, 0.0, same)]
    assert choose(tie, 0.05)["value"] == 0.5
    assert choose([points[3]], 0.05) is None


def test_rechoose_rewrites_the_choice_of_a_finished_grid(tmp_path):
    points = [_point(1.0, 0.9, {"text": 1.0, "image": 1.0, "audio": 0.95}),
              _point(2.0, 0.0, {"text": 1.0, "image": 1.0, "audio": 0.95})]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"defenses": {"regap": {"strength_param": "strength", "points": points,
                                                        "base_params": {"calibration": "c"},
                                                        "chosen": {"strength": 2.0}, "params": None}}}))
    result = rechoose(str(path), 0.05)
    assert result["defenses"]["regap"]["params"] == {"calibration": "c", "strength": 1.0}
    assert json.loads(path.read_text())["defenses"]["regap"]["chosen"] == {"strength": 1.0}


def test_a_check_split_bounds_the_cost_too():
    from benchmarks.defense_tuning import worst_cost

    validation = {"text": 0.0, "image": 0.04, "audio": 0.0}
    rephrased = {"text": 0.0, "image": 0.0, "audio": 0.083}
    assert worst_cost(validation, rephrased) == {"text": 0.0, "image": 0.04, "audio": 0.083}
    # within the bound on validation alone, beyond it once the check split counts
    point = {"value": 0.5, "rates": _rates(0.4, {"text": 1.0, "image": 0.96, "audio": 0.95}),
             "benign_cost": validation}
    assert choose([point], 0.05) is point
    assert choose([{**point, "benign_cost": worst_cost(validation, rephrased)}], 0.05) is None


def test_the_rephrased_validation_is_the_default_check_split_of_the_organisms():
    from benchmarks.defense_tuning import parse_args

    assert parse_args(["--out", "t.json"]).check_split == ["organism-validation-rephrased"]
    assert parse_args(["--out", "t.json", "--check-split", "none"]).check_split == []
    assert parse_args(["--out", "t.json", "--validation", "smoke"]).check_split == []
