"""Triggers (growth.when): Convergent against hand-computed firing epochs, Periodic, Deadline."""
import pytest

from growth.history import History
from growth.metrics import improvement, metric_values
from growth.protocol import GrowthContext
from growth.when import Convergent, Deadline, Periodic
from growth.when.convergent import last_growth


class Stub:
    depths = (1, 1, 1)
    spec = "Stub-1-1-1"


def history(values, grown_at=(), metric="val_acc"):
    return History(
        epochs=[{"epoch": i + 1, metric: v} for i, v in enumerate(values)],
        events=[{"kind": "grow", "epoch": e} for e in grown_at],
    )


def firing(trigger, values, grown_at=(), metric="val_acc"):
    """Epochs at which ``trigger`` fires, as the training loop calls it: at the end of epoch t the
    history holds epochs 1..t and the growth events of epochs before t."""
    fired = []
    for t in range(1, len(values) + 1):
        h = history(values[:t], [g for g in grown_at if g < t], metric)
        if trigger(GrowthContext(model=Stub(), epoch=t, epochs=100, history=h)):
            fired.append(t)
    return fired


# running maximum M:  10  20  30  30.2  30.4  30.4  31  31.2  31.3  31.4
VALUES = [10, 20, 30, 30.2, 30.4, 30.3, 31, 31.2, 31.3, 31.4]


def test_convergent_fires_when_the_hand_rule_says():
    # patience 3, min_delta 0.5: fire at t > 3 when M(t) - M(t-3) < 0.5
    # t=4: 30.2-10   t=5: 30.4-20   t=6: 30.4-30=0.4 fire   t=7: 31-30.2=0.8   t=8: 31.2-30.4=0.8
    # t=9: 31.3-30.4=0.9   t=10: 31.4-31=0.4 fire
    assert firing(Convergent(patience=3, min_delta=0.5), VALUES) == [6, 10]


def test_convergent_waits_patience_epochs_after_a_growth():
    # grown at the end of epoch 5: the next 3 epochs must all be on the new net -> t >= 8
    # t=8: M(8)-M(5)=0.8   t=9: 0.9   t=10: 0.4 fire
    assert firing(Convergent(patience=3, min_delta=0.5), VALUES, grown_at=[5]) == [10]
    # fired at 6, so grown at 6: 7 and 8 are too early; t=9: M9-M6=0.9; t=10: M10-M7=0.4 fire
    assert firing(Convergent(patience=3, min_delta=0.5), VALUES, grown_at=[6]) == [6, 10]
    assert firing(Convergent(patience=3, min_delta=1.0), VALUES, grown_at=[6]) == [6, 9, 10]


def test_convergent_checks_only_every_k_epochs_after_growth():
    # AutoGrow's convergent code: every = patience = K; K=2 -> checks at t = 4, 6, 8, 10 (t > 2)
    # t=4: M4-M2=10.2   t=6: M6-M4=0.2 fire   t=8: M8-M6=0.8   t=10: M10-M8=0.2 fire
    assert firing(Convergent(patience=2, min_delta=0.5, every=2), VALUES) == [6, 10]
    # grown at 7: checks at 9 (M9-M7=0.3 fire), not at 10
    assert firing(Convergent(patience=2, min_delta=0.5, every=2), VALUES, grown_at=[7]) == [6, 9]


def test_min_delta_zero_fires_only_when_not_strict():
    values = [1, 2, 2, 2, 3, 3]
    # an improvement below 0 never happens: the authors' strict test never fires with threshold 0
    assert firing(Convergent(patience=1, min_delta=0.0), values) == []
    assert firing(Convergent(patience=1, min_delta=0.0, strict=False), values) == [3, 4, 6]


def test_an_improvement_of_exactly_min_delta_is_progress_unless_not_strict():
    values = [0.0, 1.0, 1.5]  # t=2: M2-M1 = 1.0, t=3: M3-M2 = 0.5 exactly
    assert firing(Convergent(patience=1, min_delta=0.5), values) == []
    assert firing(Convergent(patience=1, min_delta=0.5, strict=False), values) == [3]


def test_loss_metric_is_minimised():
    losses = [2.0, 1.5, 1.4, 1.45, 1.39, 1.2]
    # running min: 2.0 1.5 1.4 1.4 1.39 1.2; patience 2, min_delta 0.05:
    # t=3: 2.0-1.4=0.6   t=4: 1.5-1.4=0.1   t=5: 1.4-1.39=0.01 fire   t=6: 1.4-1.2=0.2
    assert firing(Convergent(patience=2, min_delta=0.05, metric="val_loss"), losses, metric="val_loss") == [5]


def test_missing_metric_is_a_clear_error():
    h = History(epochs=[{"epoch": 1, "test_acc": 10.0}, {"epoch": 2, "test_acc": 10.0}])
    ctx = GrowthContext(model=Stub(), epoch=2, epochs=10, history=h)
    with pytest.raises(ValueError, match="metric='val_acc'.*val_fraction"):
        Convergent(patience=1)(ctx)
    assert Convergent(patience=1, metric="test_acc")(ctx)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"patience": 0}, "patience=0"),
        ({"every": 0}, "every=0"),
        ({"min_delta": -0.1}, "min_delta=-0.1"),
        ({"metric": ""}, "metric=''"),
        ({"mode": "up"}, "mode='up'"),
        ({"strict": 1}, "strict=1"),
    ],
)
def test_convergent_checks_its_parameters(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Convergent(**kwargs)


def test_helpers():
    h = history(VALUES, grown_at=[2, 5])
    assert last_growth(h) == 5 and last_growth(h, 4) == 2 and last_growth(History()) == 0
    values = metric_values(h, "val_acc", 6)
    assert values == VALUES[:6]
    assert improvement(values, 3, 6, "max") == pytest.approx(0.4)
    assert improvement([3.0, 2.0, 2.5], 1, 3, "min") == pytest.approx(1.0)


def test_periodic_and_deadline():
    assert firing(Periodic(3), VALUES) == [3, 6, 9]
    assert firing(Deadline(Periodic(5), 7), VALUES) == [5, 7, 8, 9, 10]
    assert Deadline(Periodic(5), 7).name == "periodic"
    with pytest.raises(ValueError, match="epochs=0"):
        Deadline(Periodic(5), 0)
