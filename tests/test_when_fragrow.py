"""FRAGrow's Eq. 2-4 against hand values, its trigger, E-bar, the speed knob, and AtEpochs / AtLatest."""
import math

import pytest

from growth.history import History
from growth.protocol import GrowthContext
from growth.when import AtEpochs, AtLatest, FRAGrow, Periodic
from growth.when.fragrow import (
    blocks_to_add, growth_interval, history_mean_training_epochs, max_interval, mean_training_epochs,
    overfitting_risk, speed_schedule,
)


class Stub:
    depths = (1, 1)
    spec = "Stub-1-1"


def test_eq2_orl_is_train_minus_validation_accuracy():
    assert overfitting_risk(99.5, 71.25) == pytest.approx(28.25)
    assert overfitting_risk(40.0, 42.0) == pytest.approx(-2.0)


@pytest.mark.parametrize("orl, alpha, i_max, expected", [
    (4.0, 4.0, 6.25, 3.125),                           # ORL = alpha: half of I_max
    (0.0, 4.0, 6.25, 6.25 / (1 + math.exp(4))),        # 0.1124...: underfitting, grow fast
    (10.0, 4.0, 6.25, 6.25 / (1 + math.exp(-6))),      # 6.2345...: overfitting, grow slowly
    (2.0, 2.0, 5.0, 2.5),
    (-3.0, 6.0, 5.0, 5.0 / (1 + math.exp(9))),
])
def test_eq3_interval_by_hand(orl, alpha, i_max, expected):
    assert growth_interval(orl, i_max, alpha) == pytest.approx(expected, rel=1e-12)


def test_eq3_interval_hand_digits():
    assert growth_interval(0.0, 6.25, 4.0) == pytest.approx(0.112414, abs=1e-6)
    assert growth_interval(10.0, 6.25, 4.0) == pytest.approx(6.234546, abs=1e-6)
    assert growth_interval(-1000.0, 6.25) == 0.0  # no overflow


def test_eq4_and_the_papers_n():
    assert blocks_to_add((2, 2, 2, 2), (8, 8, 8, 8)) == 24
    assert blocks_to_add((1, 1, 1, 1, 2), (2, 2, 4, 4, 4)) == 10
    assert blocks_to_add((1, 1, 1, 1, 1), (2, 3, 4, 3, 3)) == 10
    assert max_interval(180, 30, 24) == 6.25
    assert max_interval(180, 30, 10) == 15.0
    assert max_interval(120, 30, 10) == 9.0


def test_bad_eq4_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="min_finetune_epochs=30.*E_T"):
        max_interval(30, 30, 4)
    with pytest.raises(ValueError, match="shallower than the seed"):
        blocks_to_add((2, 2, 2, 2), (1, 8, 8, 8))
    with pytest.raises(ValueError, match="stages"):
        blocks_to_add((2, 2, 2, 2), (8, 8, 8))


def test_mean_training_epochs_is_the_slides_e_bar():
    # blocks added after epochs 10, 20, 30 of a 40-epoch run train 30, 20 and 10 epochs
    assert mean_training_epochs([10, 20, 30], 40) == 20.0
    assert math.isnan(mean_training_epochs([], 40))
    h = History(epochs=[{"epoch": i + 1} for i in range(40)],
                events=[{"kind": "grow", "epoch": 10, "before": "VGG-1-1-1-1-2", "after": "VGG-2-2-2-2-4"},
                        {"kind": "finetune", "epoch": 10},
                        {"kind": "grow", "epoch": 30, "before": "VGG-2-2-2-2-4", "after": "VGG-2-2-4-4-4"}])
    # LipGrow-style events: 6 blocks after epoch 10 (30 epochs each), 4 after epoch 30 (10 each)
    assert history_mean_training_epochs(h) == pytest.approx((6 * 30 + 4 * 10) / 10)


@pytest.mark.parametrize("ebar, total, n", [(20.0, 40, 3), (25.0, 40, 3), (30.0, 60, 10), (50.0, 60, 10)])
def test_speed_schedule_gives_the_e_bar_asked(ebar, total, n):
    times = speed_schedule(ebar, total, n)
    assert len(times) == n and times == sorted(times) and len(set(times)) == n
    assert abs(mean_training_epochs(times, total) - ebar) < 1.0


def test_speed_schedule_rejects_impossible_speeds():
    with pytest.raises(ValueError, match="mean_epochs=39.5"):
        speed_schedule(39.5, 40, 3)  # faster than one growth per epoch
    with pytest.raises(ValueError, match="mean_epochs=1"):
        speed_schedule(1, 40, 3)  # the last growth after the end


def run_trigger(trigger, records, grow_when_fired=True):
    """Call ``trigger`` as the training loop does; a firing adds a growth event at that epoch."""
    h = History()
    fired = []
    state: dict = {}
    for t, record in enumerate(records, start=1):
        h.epochs.append({"epoch": t, **record})
        if trigger(GrowthContext(model=Stub(), epoch=t, epochs=len(records), history=h, state=state)):
            fired.append(t)
            if grow_when_fired:
                h.events.append({"kind": "grow", "epoch": t})
    return fired, h


def test_fragrow_trigger_grows_after_i_epochs_and_logs_orl_and_i():
    i_max = 4.0
    # ORL 4 = alpha -> I = 2: grow every 2 epochs
    fired, h = run_trigger(FRAGrow(i_max), [{"train_acc": 80.0, "val_acc": 76.0}] * 8)
    assert fired == [2, 4, 6, 8]
    assert [r["orl"] for r in h.epochs] == [4.0] * 8 and h.epochs[0]["interval"] == pytest.approx(2.0)
    # heavy overfitting (ORL 30): I -> 4 (3.99999...) so every 4 epochs; underfitting: every epoch
    assert run_trigger(FRAGrow(i_max), [{"train_acc": 100.0, "val_acc": 70.0}] * 8)[0] == [4, 8]
    assert run_trigger(FRAGrow(i_max), [{"train_acc": 50.0, "val_acc": 52.0}] * 5)[0] == [1, 2, 3, 4, 5]


def test_fragrow_reevaluates_i_every_epoch():
    # ORL 30 (I ~ 4) for three epochs, then ORL 4 (I = 2): at epoch 3, 3 >= 2 fires
    records = [{"train_acc": 100.0, "val_acc": 70.0}] * 2 + [{"train_acc": 80.0, "val_acc": 76.0}] * 2
    assert run_trigger(FRAGrow(4.0), records)[0] == [3]


def test_fragrow_needs_a_validation_split():
    with pytest.raises(ValueError, match="val_fraction > 0"):
        run_trigger(FRAGrow(4.0), [{"train_acc": 50.0}])


def test_at_epochs_and_at_latest():
    assert run_trigger(AtEpochs([3, 1]), [{}] * 5)[0] == [1, 3]
    with pytest.raises(ValueError, match="epochs="):
        AtEpochs([0, 2])
    # never fires by itself: 3 growths evenly by epoch 9 -> deadlines 3, 6, 9
    never = AtLatest(lambda ctx: False, growths=3, by=9)
    assert [never.deadline(k) for k in (1, 2, 3)] == [3, 6, 9]
    fired, _ = run_trigger(never, [{}] * 12)
    assert fired == [3, 6, 9]
    # LipGrow's pacing: the last growth at 9, the one before it `gap` = 2 earlier
    assert [AtLatest(lambda ctx: False, growths=2, by=9, gap=2).deadline(k) for k in (1, 2)] == [7, 9]
    # a trigger that fires early is not delayed; after the budgeted growths it is left alone
    assert run_trigger(AtLatest(Periodic(2), growths=2, by=9), [{}] * 6)[0] == [2, 4, 6]
    with pytest.raises(ValueError, match="gap="):
        AtLatest(Periodic(2), growths=3, by=4, gap=5)
