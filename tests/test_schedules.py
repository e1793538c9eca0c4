"""LR schedules against hand-computed values."""
import math

import pytest

from growth.optim.schedules import make_schedule


def test_constant():
    s = make_schedule("constant", 0.1, 10)
    assert [s(e) for e in (0, 5, 9)] == [0.1, 0.1, 0.1]


def test_cosine_hand_values():
    s = make_schedule("cosine", 0.2, 10)
    assert s(0) == pytest.approx(0.2)
    assert s(5) == pytest.approx(0.1)  # half-way: lr/2
    assert s(10) == pytest.approx(0.0, abs=1e-12)
    assert s(2) == pytest.approx(0.1 * (1 + math.cos(math.pi * 0.2)))


def test_step_staircase_default_milestones_scale_autogrow():
    # AutoGrow's staircase: /10 at epochs 100 and 150 of 200
    s = make_schedule("step", 0.1, 200)
    assert s(99) == pytest.approx(0.1)
    assert s(100) == pytest.approx(0.01)
    assert s(150) == pytest.approx(0.001)
    s = make_schedule("step", 1.0, 10, milestones=[3], gamma=0.5)
    assert [s(e) for e in (2, 3, 9)] == [1.0, 0.5, 0.5]


def test_warm_restarts_cycles():
    s = make_schedule("warm-restarts", 1.0, 30, period=4, mult=2)
    assert s(0) == pytest.approx(1.0)
    assert s(2) == pytest.approx(0.5)
    assert s(4) == pytest.approx(1.0)  # restart after 4 epochs
    assert s(8) == pytest.approx(0.5)  # middle of the second, 8-epoch cycle
    assert s(12) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "name, lr, options, word",
    [
        ("linear", 0.1, {}, "schedule='linear'"),
        ("cosine", -1.0, {}, "lr=-1.0"),
        ("cosine", 0.1, {"gamma": 0.1}, "gamma"),
        ("step", 0.1, {"milestones": [-3]}, "milestones"),
    ],
)
def test_bad_schedules_name_the_parameter(name, lr, options, word):
    with pytest.raises(ValueError, match=word.replace("[", r"\[")):
        make_schedule(name, lr, 10, **options)


def test_hold_cosine_is_constant_then_a_cosine_over_the_rest():
    from growth.optim.schedules import make_schedule
    s = make_schedule("hold-cosine", 0.4, 10, hold=6)
    assert [s(e) for e in range(6)] == [0.4] * 6
    assert s(6) == 0.4 and s(8) == pytest.approx(0.2) and s(10) == pytest.approx(0.0)  # cosine over 4 epochs
    with pytest.raises(ValueError, match="hold=11"):
        make_schedule("hold-cosine", 0.4, 10, hold=11)
