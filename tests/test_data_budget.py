"""growth.data.capped: the small-data budget of the smoke and bench profiles."""
import pytest

import growth
from growth.data import capped


def test_synthetic_is_generated_at_the_capped_size():
    opts, fraction = capped("synthetic", {"num_train": 2000, "num_test": 1000, "num_classes": 10},
                            max_train=1000, max_test=500, difficulty=0.5)
    assert fraction == 1.0
    assert opts == {"num_train": 1000, "num_test": 500, "num_classes": 10, "difficulty": 0.5}
    data = growth.load_dataset("synthetic", **opts)
    assert (data.num_train, data.num_test) == (1000, 500)
    # below the caps and with an explicit difficulty: unchanged; defaults are capped too
    assert capped("synthetic", {"num_train": 300, "difficulty": 2.0}, max_train=1000, difficulty=0.5)[0] == {
        "num_train": 300, "difficulty": 2.0}
    assert capped("synthetic", {}, max_train=1000, max_test=100)[0] == {"num_train": 1000, "num_test": 100}
    # a preset's own sizes are what is capped, and its difficulty is kept
    assert capped("synthetic", {"preset": "overfit"}, max_train=400, difficulty=0.5)[0] == {
        "preset": "overfit", "num_train": 400}


def test_fixed_size_dataset_gets_a_subsample_fraction():
    full = growth.load_dataset("digits").num_train
    opts, fraction = capped("digits", {}, max_train=500)
    assert opts == {} and fraction == pytest.approx(500 / full)
    data = growth.load_dataset("digits", subsample=fraction)
    assert abs(data.num_train - 500) <= 10  # stratified rounding per class
    assert capped("digits", {}, max_train=10**6)[1] == 1.0


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_caps_are_refused(bad):
    with pytest.raises(ValueError, match="max_train"):
        capped("synthetic", {}, max_train=bad)
