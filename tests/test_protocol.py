"""when / where / how pieces of the foundation: periodic trigger, round-robin and sequential locators."""
import pytest

from growth.history import History
from growth.protocol import GrowthContext, Grower
from growth.when import Periodic
from growth.where import RoundRobin, Sequential


class Stub:
    """Just enough of a model: per-stage depths and a spec."""

    def __init__(self, depths):
        self.depths = tuple(depths)

    @property
    def spec(self):
        return "Stub-" + "-".join(map(str, self.depths))


def _ctx(model, epoch=1, state=None):
    return GrowthContext(model=model, epoch=epoch, epochs=100, history=History(), state=state if state is not None else {})


def test_periodic_fires_every_k():
    trig = Periodic(3)
    assert [e for e in range(1, 11) if trig(_ctx(Stub([1]), e))] == [3, 6, 9]
    with pytest.raises(ValueError, match="every=0"):
        Periodic(0)


def test_round_robin_visits_stages_in_turn_and_skips_full_ones():
    loc, state, model = RoundRobin([3, 2, 3]), {}, Stub([1, 1, 1])
    order = []
    while (s := loc(_ctx(model, state=state))) is not None:
        order.append(s)
        depths = list(model.depths)
        depths[s] += 1
        model.depths = tuple(depths)
    assert order == [0, 1, 2, 0, 2]
    assert model.depths == (3, 2, 3)


def test_sequential_fills_front_to_back():
    loc, model, order = Sequential([2, 3]), Stub([1, 1]), []
    while (s := loc(_ctx(model))) is not None:
        order.append(s)
        depths = list(model.depths)
        depths[s] += 1
        model.depths = tuple(depths)
    assert order == [0, 1, 1]


def test_targets_are_checked():
    with pytest.raises(ValueError, match="targets"):
        RoundRobin([0, 1])
    with pytest.raises(ValueError, match="3 stages"):
        Sequential([2, 2, 2])(_ctx(Stub([1, 1])))


def test_grower_records_event_only_when_trigger_and_target():
    grown = []

    def how(ctx, stage):
        grown.append(stage)
        d = list(ctx.model.depths)
        d[stage] += 1
        ctx.model.depths = tuple(d)
        return ctx.model

    g = Grower(Periodic(2), Sequential([2, 1]), how)
    model = Stub([1, 1])
    assert g.step(_ctx(model, epoch=1))[1] is None
    model, event = g.step(_ctx(model, epoch=2))
    assert event["before"] == "Stub-1-1" and event["after"] == "Stub-2-1" and event["target"] == 0
    assert g.step(_ctx(model, epoch=4))[1] is None  # nothing left to grow
    assert grown == [0]
