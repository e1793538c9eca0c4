"""AutoGrow's circular list and stopping policy (growth.where.StoppingRoundRobin), against hand
computations on hand-written validation accuracies."""
import pytest

from growth.history import History
from growth.protocol import GrowthContext, Grower
from growth.when import Periodic
from growth.where import StoppingRoundRobin


class Stub:
    """Per-stage depths and a spec: all a locator looks at."""

    def __init__(self, depths):
        self.depths = tuple(depths)

    @property
    def spec(self):
        return "Stub-" + "-".join(map(str, self.depths))

    def grow(self, stage):
        d = list(self.depths)
        d[stage] += 1
        self.depths = tuple(d)


def drive(locator, values, depths=(1, 1, 1), ask=None):
    """Ask ``locator`` at the end of the epochs in ``ask`` (default: every epoch) as the training loop
    does, growing the stub at each target; returns (targets as (epoch, stage), model, state, history)."""
    model, state, h, targets = Stub(depths), {}, History(), []
    ask = set(range(1, len(values) + 1)) if ask is None else set(ask)
    for t, v in enumerate(values, start=1):
        h.epochs.append({"epoch": t, "val_acc": v})
        if t not in ask:
            continue
        stage = locator(GrowthContext(model=model, epoch=t, epochs=100, history=h, state=state))
        if stage is None:
            break
        model.grow(stage)
        h.events.append({"kind": "grow", "epoch": t, "target": stage})
        targets.append((t, stage))
    return targets, model, state, h


def frozen(state):
    return [(r["epoch"], r["stage"], r["depth"], r["reason"]) for r in state["frozen"]]


# running maximum M:  10  20  25  25.3  25.4  26  26.1  26.2  26.2  30
VALUES = [10, 20, 25, 25.3, 25.4, 26, 26.1, 26.2, 26.2, 30]


def test_stopping_policy_freezes_the_stage_and_epoch_the_hand_computation_says():
    # p-AutoGrow, K=1 (asked every epoch), J=2, tau=0.5; freeze the last grown stage when M(t)-M(t-2) < 0.5
    # t=1: nothing grown yet          -> grow 0 (2-1-1)
    # t=2: t < J+1, no decision       -> grow 1 (2-2-1)
    # t=3: M3-M1=15                   -> grow 2 (2-2-2)
    # t=4: M4-M2=5.3                  -> grow 0 (3-2-2)
    # t=5: M5-M3=0.4 < 0.5: freeze 0 (depth 3)  -> grow 1 (3-3-2)
    # t=6: M6-M4=0.7                  -> grow 2 (3-3-3)
    # t=7: M7-M5=0.7                  -> grow 1, next after 2 skipping frozen 0 (3-4-3)
    # t=8: M8-M6=0.2: freeze 1 (depth 4)        -> grow 2 (3-4-4)
    # t=9: M9-M7=0.1: freeze 2 (depth 4)        -> list empty: None
    loc = StoppingRoundRobin(J=2, tau=0.5)
    targets, model, state, h = drive(loc, VALUES)
    assert targets == [(1, 0), (2, 1), (3, 2), (4, 0), (5, 1), (6, 2), (7, 1), (8, 2)]
    assert frozen(state) == [(5, 0, 3, "stopping-policy"), (8, 1, 4, "stopping-policy"), (9, 2, 4, "stopping-policy")]
    assert [r["delta"] for r in state["frozen"]] == pytest.approx([0.4, 0.2, 0.1])
    assert model.depths == (3, 4, 4) and state["growing"] == []
    # the freezes are History events too, each before the growth of its epoch
    kinds = [(e["kind"], e["epoch"]) for e in h.events]
    assert kinds[kinds.index(("freeze", 5)) + 1] == ("grow", 5)
    assert [e["stage"] for e in h.events if e["kind"] == "freeze"] == [0, 1, 2]


def test_policy_is_only_evaluated_when_asked():
    # asked every 3 epochs (K=3), J=2, tau=0.5: t=3: M3-M1=15 grow 0; t=6: M6-M4=0.7 grow 1;
    # t=9: M9-M7=0.1: freeze 1 (the last grown; depth 2), grow 2 (next after 1)
    loc = StoppingRoundRobin(J=2, tau=0.5)
    targets, model, state, _ = drive(loc, VALUES, ask=[3, 6, 9])
    assert targets == [(3, 0), (6, 1), (9, 2)]
    assert frozen(state) == [(9, 1, 2, "stopping-policy")]
    assert state["growing"] == [0, 2] and model.depths == (2, 2, 2)


def test_circular_order_with_freezes_and_a_last_stage_alone():
    # tau huge: every decision freezes; J=1 so decisions start at t=2
    # t=1 grow 0; t=2 freeze 0, grow 1; t=3 freeze 1, grow 2; t=4 freeze 2 -> None
    loc = StoppingRoundRobin(J=1, tau=1000.0)
    targets, model, state, _ = drive(loc, [1, 2, 3, 4, 5, 6])
    assert targets == [(1, 0), (2, 1), (3, 2)]
    assert frozen(state) == [(2, 0, 2, "stopping-policy"), (3, 1, 2, "stopping-policy"), (4, 2, 2, "stopping-policy")]
    # one stage left: it is the next of itself until frozen
    loc = StoppingRoundRobin(J=2, tau=0.5, max_depth=(1, 1, 9))
    targets, model, state, _ = drive(loc, [10, 20, 30, 30.1, 30.2])
    # stages 0 and 1 start at their cap; t=1,2 grow 2 (no decision before J+1=3); t=3: M3-M1=20 grow 2;
    # t=4: M4-M2=10.1 grow 2; t=5: M5-M3=0.2 freeze 2 -> None
    assert targets == [(1, 2), (2, 2), (3, 2), (4, 2)]
    assert frozen(state) == [(1, 0, 1, "max-depth"), (1, 1, 1, "max-depth"), (5, 2, 5, "stopping-policy")]


def test_max_depth_caps_each_stage():
    loc = StoppingRoundRobin(J=100, tau=0.05, max_depth=2)
    targets, model, state, _ = drive(loc, [1.0] * 8)
    assert targets == [(1, 0), (2, 1), (3, 2)] and model.depths == (2, 2, 2)
    # a stage leaves the list at the first decision after it reached its cap
    assert frozen(state) == [(2, 0, 2, "max-depth"), (3, 1, 2, "max-depth"), (4, 2, 2, "max-depth")]
    # per stage: (3, 1, 2); stage 1 never grows
    targets, model, _, _ = drive(StoppingRoundRobin(J=100, max_depth=[3, 1, 2]), [1.0] * 8)
    assert targets == [(1, 0), (2, 2), (3, 0)] and model.depths == (3, 1, 2)


def test_growth_anchor_measures_what_the_last_growth_gained():
    # c-AutoGrow: M(g+J) - M(g) < tau freezes the stage grown at g; J=2, tau=0.5
    values = [10, 20, 20.1, 20.2, 20.3, 25, 25.1, 25.2, 25.3, 25.4, 25.5]
    loc = StoppingRoundRobin(J=2, tau=0.5, anchor="growth")
    # t=2: grow 0 (g=2); t=4: M4-M2=0.2 freeze 0, grow 1 (g=4); t=8: M6-M4=4.8 keep, grow 2 (g=8);
    # t=9: t < g+J: no decision, grow 1 (g=9); t=11: M11-M9=0.2: freeze 1, grow 2
    targets, model, state, _ = drive(loc, values, ask=[2, 4, 8, 9, 11])
    assert targets == [(2, 0), (4, 1), (8, 2), (9, 1), (11, 2)]
    assert frozen(state) == [(4, 0, 2, "stopping-policy"), (11, 1, 3, "stopping-policy")]


def test_budget_ends_growth():
    # at_budget="stop" (c-AutoGrow's code): no growth at the budget's check
    targets, model, state, _ = drive(StoppingRoundRobin(J=100, max_epochs=3), [1.0] * 6)
    assert targets == [(1, 0), (2, 1)]
    assert frozen(state) == [(3, 0, 2, "budget"), (3, 1, 2, "budget"), (3, 2, 1, "budget")]


def test_budget_with_a_last_growth_as_p_autogrow_code():
    # at_budget="grow": the check at the budget grows stage 2, then every stage is dropped (with its new depth)
    def how(ctx, stage):
        ctx.model.grow(stage)
        return ctx.model

    grower = Grower(Periodic(1), StoppingRoundRobin(J=100, max_epochs=3, at_budget="grow"), how)
    model, h, grew = Stub((1, 1, 1)), History(), []
    for t in range(1, 7):
        h.epochs.append({"epoch": t, "val_acc": 1.0})
        model, event = grower.step(GrowthContext(model=model, epoch=t, epochs=100, history=h))
        if event:
            grew.append((t, event["target"]))
    assert grew == [(1, 0), (2, 1), (3, 2)] and grower.finished
    assert frozen(grower.state) == [(3, 0, 2, "budget"), (3, 1, 2, "budget"), (3, 2, 2, "budget")]


def test_with_the_grower_the_finish_follows_the_last_freeze():
    def how(ctx, stage):
        ctx.model.grow(stage)
        return ctx.model

    grower = Grower(Periodic(1), StoppingRoundRobin(J=1, tau=1000.0), how)
    model, h = Stub((1, 1)), History()
    for t in range(1, 6):
        h.epochs.append({"epoch": t, "val_acc": float(t)})
        model, event = grower.step(GrowthContext(model=model, epoch=t, epochs=10, history=h))
        if event is not None:
            h.events.append(event)
    # t=1 grow 0; t=2 freeze 0, grow 1; t=3 freeze 1 -> finished
    assert grower.finished and model.depths == (2, 2)
    assert [(e["kind"], e["epoch"]) for e in h.events] == [("grow", 1), ("freeze", 2), ("grow", 2), ("freeze", 3)]
    assert [r["stage"] for r in grower.state["frozen"]] == [0, 1]


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"J": 0}, "J=0"),
        ({"tau": -0.05}, "tau=-0.05"),
        ({"anchor": "leading"}, "anchor='leading'"),
        ({"at_budget": "never"}, "at_budget='never'"),
        ({"max_depth": 0}, "max_depth=0"),
        ({"max_depth": [2, 0, 2]}, r"max_depth=\[2, 0, 2\]"),
        ({"max_epochs": 0}, "max_epochs=0"),
        ({"metric": None}, "metric=None"),
    ],
)
def test_parameters_are_checked(kwargs, word):
    with pytest.raises(ValueError, match=word):
        StoppingRoundRobin(**kwargs)


def test_per_stage_caps_must_match_the_model():
    loc = StoppingRoundRobin(max_depth=(3, 3))
    ctx = GrowthContext(model=Stub((1, 1, 1)), epoch=1, epochs=10, history=History(epochs=[{"epoch": 1, "val_acc": 1}]))
    with pytest.raises(ValueError, match="3 stages"):
        loc(ctx)
