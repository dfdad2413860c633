import math

import pytest
from scipy import stats

from harness.metrics import wilson
from harness.paired import mcnemar_chi2, mcnemar_exact_p, paired, success
from harness.records import Verdict


@pytest.mark.parametrize("b,c,p", [
    # Hand-computed: 2 * sum_{k<=min} C(n, k) / 2^n.
    (0, 0, 1.0),
    (1, 5, 2 * (1 + 6) / 64),  # 0.21875
    (0, 6, 2 / 64),  # 0.03125
    (3, 3, 1.0),  # capped at 1
    (2, 8, 2 * (1 + 10 + 45) / 1024),
])
def test_mcnemar_exact_hand_computed(b, c, p):
    assert mcnemar_exact_p(b, c) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize("b,c", [(1, 5), (7, 19), (40, 61), (250, 301), (1200, 1100), (0, 25)])
def test_mcnemar_matches_scipy(b, c):
    # Exact: the two-sided binomial test of b successes in b + c trials at p = 1/2.
    assert mcnemar_exact_p(b, c) == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)
    stat, p = mcnemar_chi2(b, c)
    assert stat == pytest.approx((abs(b - c) - 1) ** 2 / (b + c))
    assert p == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-9)


@pytest.mark.parametrize("k,n", [(0, 1), (1, 3), (17, 40), (81, 263), (999, 1000), (5000, 10000)])
def test_wilson_matches_scipy(k, n):
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    r = wilson(k, n)
    assert r.low == pytest.approx(ref.low, abs=1e-12)
    assert r.high == pytest.approx(ref.high, abs=1e-12)


def v(label, **detail):
    return Verdict(sample_id="x", judge="j", label=label, detail=detail)


def test_success_definitions():
    assert success("harmful", v("refusal")) and success("harmful", v("safe")) and not success("harmful", v("unsafe"))
    assert success("benign", v("safe")) and not success("benign", v("refusal"))
    assert success("utility", v("safe", correct=False)) is False
    assert success("harmful", v("unknown")) is None


def test_paired_counts():
    a = {"1": True, "2": True, "3": False, "4": False, "5": True}
    b = {"1": True, "2": False, "3": True, "4": False, "6": False}
    r = paired(a, b)
    assert (r.n, r.both, r.only_a, r.only_b, r.neither) == (4, 1, 1, 1, 1)
    assert r.rate_a == 0.5 and r.rate_b == 0.5 and r.p_exact == 1.0
    assert math.isclose(r.p_chi2, 1.0)
