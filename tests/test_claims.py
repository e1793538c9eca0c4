"""The statistics policy (growth.claims): intervals against hand computations and SciPy's own
Welch test, every verdict region of every claim kind, and the records the Claims page reads."""
import json
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from growth.claims import (DOES_NOT_HOLD, HOLDS, INCONCLUSIVE, NOT_JUDGED, NOT_RUN, combine, interval, judge,
                           not_run, read_claims, untrained, write_claims)

T975_DF2 = 4.302652729911275   # Student t, 97.5% quantile, 2 degrees of freedom (tables)
T975_DF4 = 2.7764451051977987  # 4 degrees of freedom


def test_welch_interval_by_hand():
    # a = 10, 11, 12 and b = 1, 2, 3: each arm's variance of the mean 1/3, Welch df = 4.
    effect, (lo, hi) = interval([10, 11, 12], [1, 2, 3])
    half = T975_DF4 * math.sqrt(2 / 3)
    assert effect == pytest.approx(9.0)
    assert (lo, hi) == pytest.approx((9 - half, 9 + half))


def test_welch_interval_one_arm_without_spread():
    # b has no spread: df = 2 (a's n - 1), se = sqrt(1/3).
    effect, (lo, hi) = interval([1, 2, 3], [0, 0, 0])
    half = T975_DF2 * math.sqrt(1 / 3)
    assert (effect, lo, hi) == pytest.approx((2.0, 2 - half, 2 + half))


def test_paired_interval_uses_seed_differences():
    effect, (lo, hi) = interval([3, 4, 6], [1, 2, 3], paired=True)
    d = [2, 2, 3]
    se = stats.sem(d)
    half = stats.t.ppf(0.975, 2) * se
    assert (effect, lo, hi) == pytest.approx((7 / 3, 7 / 3 - half, 7 / 3 + half))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=7),
       st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=7))
def test_welch_interval_matches_scipy(a, b):
    if statistics.stdev(a) < 1e-6 or statistics.stdev(b) < 1e-6:
        return  # SciPy's interval is undefined without spread; covered by the tests above
    res = stats.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    effect, (lo, hi) = interval(a, b)
    assert effect == pytest.approx(sum(a) / len(a) - sum(b) / len(b), abs=1e-9)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("kind, a, b, margin, expected", [
    # greater: holds when the interval is above 0 and the effect reaches the margin
    ("greater", [10, 11, 12], [1, 2, 3], 1.0, HOLDS),
    ("greater", [10, 11, 12], [1, 2, 3], 10.0, INCONCLUSIVE),   # significant, but the effect is below the margin
    ("greater", [1, 2, 3], [0, 0, 0], 1.0, INCONCLUSIVE),        # interval [-0.48, 4.48]
    ("greater", [5, 5, 5], [5, 5, 5], 1.0, DOES_NOT_HOLD),       # identical arms: no effect that counts
    ("greater", [1, 2, 3], [10, 11, 12], 1.0, DOES_NOT_HOLD),
    # less mirrors greater: three identical bars do not make "smaller grows slower" hold
    ("less", [5, 5, 5], [5, 5, 5], 1.0, DOES_NOT_HOLD),
    ("less", [1, 2, 3], [10, 11, 12], 1.0, HOLDS),
    # equivalence within the margin
    ("equivalent", [0, 0.1, -0.1], [0, 0.1, -0.1], 0.5, HOLDS),   # interval +-0.227
    ("equivalent", [0, 0.1, -0.1], [0, 0.1, -0.1], 0.1, INCONCLUSIVE),
    ("equivalent", [10, 11, 12], [1, 2, 3], 1.0, DOES_NOT_HOLD),
    # non-inferiority and its mirror
    ("not_worse", [0, 0.1, -0.1], [0, 0.1, -0.1], 0.5, HOLDS),
    ("not_worse", [1, 2, 3], [10, 11, 12], 1.0, DOES_NOT_HOLD),
    ("not_worse", [1, 2, 3], [2, 2, 2], 1.0, INCONCLUSIVE),
    ("not_better", [1, 2, 3], [10, 11, 12], 1.0, HOLDS),
    ("not_better", [10, 11, 12], [1, 2, 3], 1.0, DOES_NOT_HOLD),
])
def test_verdict_regions(kind, a, b, margin, expected):
    v = judge(a, b, kind=kind, margin=margin)
    assert v.verdict == expected, v.line()


def test_too_few_seeds_is_not_run_and_says_what_it_needs():
    v = judge([1, 2], [0, 0, 0], kind="greater", margin=0.5)
    assert v.verdict == NOT_RUN and v.effect is None
    assert "needs 3 seeds an arm, has 2 and 3" in v.reason
    assert judge([1, 2], [0, 1], kind="greater", margin=0.5, min_seeds=2).verdict != NOT_RUN


def test_degenerate_reference_is_not_judged():
    v = judge([50, 51, 52], [10, 10, 10], kind="not_worse", margin=1.0,
              not_judged="the Large baseline never trained (loss 2.30)")
    assert v.verdict == NOT_JUDGED and "never trained" in v.line()
    # an arm that was not measured (its reference diverged, say) needs no values to be not judged
    v = judge(None, [10, 10, 10], kind="less", margin=1.0, not_judged="a run diverged")
    assert v.verdict == NOT_JUDGED and v.n == (0, 3) and v.reason == "a run diverged"
    # with too few seeds the claim was not run at all, whatever the reference did
    v = judge([50], [10], kind="greater", margin=1.0, not_judged="the Large baseline never trained")
    assert v.verdict == NOT_RUN and v.reason == "needs 3 seeds an arm, has 1 and 1"


def test_untrained_reference_by_its_mean_above_chance():
    # 10 classes: chance 10%; a mean of 14.0% is 4 points above it, under a 5-point bar
    reason = untrained("the large net", [12.0, 14.0, 16.0], chance=10.0, min_points=5.0)
    assert reason == "the large net never trained: mean accuracy 14.0%, chance 10%"
    assert untrained("the large net", [14.0, 15.0, 16.0], chance=10.0, min_points=5.0) is None  # 15.0: at the bar
    assert judge([50, 51, 52], [12, 14, 16], kind="greater", margin=1.0,
                 not_judged=untrained("b", [12, 14, 16], chance=10.0, min_points=5.0)).verdict == NOT_JUDGED
    with pytest.raises(ValueError, match=r"accuracy=\[\]"):
        untrained("b", [], chance=10.0, min_points=5.0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="bigger", margin=1.0), "kind='bigger'"),
    (dict(kind="greater", margin=0.0), "margin=0.0"),
    (dict(kind="greater", margin=-1), "margin=-1"),
    (dict(kind="greater", margin=float("nan")), "margin=nan"),
    (dict(kind="greater", margin=1.0, min_seeds=1), "min_seeds=1"),
])
def test_bad_input_is_refused_before_any_work(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        judge([1, 2, 3], [1, 2, 3], **kwargs)


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="every value must be finite"):
        judge([1, float("inf"), 3], [1, 2, 3], kind="greater", margin=1)
    with pytest.raises(ValueError, match="one per seed"):
        judge("abc", [1, 2, 3], kind="greater", margin=1)
    with pytest.raises(ValueError, match="paired=True needs as many"):
        interval([1, 2, 3], [1, 2], paired=True)


def test_combine_takes_the_weakest_part():
    holds = judge([10, 11, 12], [1, 2, 3], kind="greater", margin=1)
    fails = judge([1, 2, 3], [10, 11, 12], kind="greater", margin=1)
    unsure = judge([1, 2, 3], [0, 0, 0], kind="greater", margin=1)
    missing = not_run("c", "needs the paper profile")
    assert combine("c", [holds, holds]).verdict == HOLDS
    assert combine("c", [holds, unsure]).verdict == INCONCLUSIVE
    assert combine("c", [holds, unsure, fails]).verdict == DOES_NOT_HOLD
    both = combine("c", [holds, missing])
    assert both.verdict == NOT_RUN and both.reason == "needs the paper profile"
    assert len(both.details) == 2
    # one refuted part refutes the claim, whatever the other parts could not say
    assert combine("c", [holds, fails, missing]).verdict == DOES_NOT_HOLD
    moot = judge([1, 2, 3], [1, 2, 3], kind="greater", margin=1, not_judged="the reference never trained")
    assert combine("c", [holds, moot]).verdict == NOT_JUDGED
    assert combine("c", [moot, fails]).verdict == DOES_NOT_HOLD
    with pytest.raises(ValueError, match="at least one comparison"):
        combine("c", [])


def test_claims_round_trip_through_a_file(tmp_path):
    v = judge([10, 11, 12], [1, 2, 3], kind="greater", margin=1, claim="a beats b")
    path = write_claims(tmp_path / "nb" / "claims.json", [v.record(paper="AutoGrow", where="Table 1", notebook="nb")])
    (rec,) = read_claims([path])
    assert rec["verdict"] == HOLDS and rec["paper"] == "AutoGrow" and rec["claim"] == "a beats b"
    assert rec["interval"] == pytest.approx(list(v.interval)) and rec["n"] == [3, 3]
    (tmp_path / "bad.json").write_text(json.dumps({"verdict": "holds"}))
    with pytest.raises(ValueError, match="not a claims file"):
        read_claims([tmp_path / "bad.json"])
