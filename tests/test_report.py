"""growth.report's verdict arithmetic against hand-computed values."""
import math

import pytest

from growth.report import accuracy_sem, combine_verdicts, compare_means


def test_sem_is_the_seed_spread_when_it_exceeds_sampling_error():
    # 70 and 80: mean 75, sample std sqrt(50) = 7.071, sem 5.0; sampling sqrt(.75*.25/1000)/sqrt(2)*100 = 0.968
    assert accuracy_sem([70.0, 80.0], 1000) == pytest.approx(5.0)


def test_sem_never_falls_below_the_test_sets_sampling_error():
    # one seed at 50% on 100 images: 100 * sqrt(0.25 / 100) = 5.0
    assert accuracy_sem([50.0], 100) == pytest.approx(5.0)
    assert accuracy_sem([50.0, 50.0], 100) == pytest.approx(5.0 / math.sqrt(2))


def test_compare_means_verdicts():
    diff, tol, v = compare_means([80.0], [70.0], sem_a=3.0, sem_b=4.0)  # tol = 2 * 5
    assert (diff, tol) == (10.0, 10.0) and v.startswith("inconclusive")
    assert compare_means([81.0], [70.0], sem_a=3.0, sem_b=4.0)[2] == "holds at this scale"
    assert compare_means([59.0], [70.0], sem_a=3.0, sem_b=4.0)[2] == "does not hold at this scale"


def test_combine_verdicts():
    h, n, i = "holds at this scale", "does not hold at this scale", "inconclusive at this scale (within noise)"
    assert combine_verdicts([(h, "a"), (h, "b")]) == "holds at this scale: a (holds); b (holds)"
    assert combine_verdicts([(h, "a"), (i, "b")]).startswith("inconclusive")
    assert combine_verdicts([(i, "a"), (n, "b")]).startswith("does not hold")
    assert combine_verdicts([]).startswith("not judged")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_test"):
        accuracy_sem([50.0], 0)
