"""Width locators (growth.where.width): the next width, the next stage of a channel schedule, one group
at a time in turn; and a training run that grows an MLP with GradMax one group at a time through the
protocol, its growth cost charged to the run."""
from __future__ import annotations

import pytest
import torch

import growth
from growth.data.core import TensorSplits
from growth.how import AddWidth, GradMax
from growth.models import build_model, channel_counts, relu_one_at_zero
from growth.when import Periodic
from growth.where import ChannelStages, GroupRoundRobin, WidthSteps

pytestmark = pytest.mark.usefixtures("one_thread")


def ctx_of(model, state=None):
    return growth.GrowthContext(model=model, epoch=1, epochs=4, history=growth.History(), state=state or {})


def test_width_steps_give_the_first_width_above_the_models():
    model = build_model("MLP", num_classes=3, image_size=4, width=0.25)
    where = WidthSteps([0.25, 0.5, 1.0])
    assert where(ctx_of(model)) == 0.5
    model.width = 1.0
    assert where(ctx_of(model)) is None
    with pytest.raises(ValueError, match=r"width=\[0.5, 0.25\] is not allowed: give a width > 0 or increasing"):
        WidthSteps([0.5, 0.25])


def test_channel_stages_follow_the_growths_done():
    where = ChannelStages([{"a": 2}, {"a": 4}, {"a": 6}])
    assert where(ctx_of(None)) == {"a": 4}
    assert where(ctx_of(None, {"width_growth": [1]})) == {"a": 6}
    assert where(ctx_of(None, {"width_growth": [1, 2]})) is None


def test_round_robin_grows_one_group_at_a_time_in_turn():
    model = build_model("MLP", num_classes=3, image_size=4, width=0.02)  # 10 units per hidden layer
    groups = list(channel_counts(model))[:3]
    where = GroupRoundRobin({g: 13 for g in groups}, step=2)
    where.check(model)
    picked = []
    while (target := where(ctx_of(model))) is not None:
        (group, count), = target.items()
        picked.append((group, count))
        growth.grow_width(model, channels=target, method="gradmax-random")
    assert picked == [(groups[0], 12), (groups[1], 12), (groups[2], 12), (groups[0], 13), (groups[1], 13),
                      (groups[2], 13)]
    assert where.exhausted(ctx_of(model))
    with pytest.raises(ValueError, match=r"targets name unknown group\(s\) \['nope'\]"):
        GroupRoundRobin({"nope": 3}).check(model)
    with pytest.raises(ValueError, match=r"step=0 is not allowed"):
        GroupRoundRobin({"a": 3}, step=0)


def test_gradmax_one_group_at_a_time_through_the_training_loop():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 3, 4, 4, generator=g), torch.randint(0, 3, (64,), generator=g)
    data = TensorSplits("tiny", train=(x, y), val=(x[:0], y[:0]), test=(x[:16], y[:16]), num_classes=3,
                        classes=["0", "1", "2"], mean=(0.0,) * 3, std=(1.0,) * 3, flip=False, pad=0)
    model = build_model("MLP", num_classes=3, image_size=4, width=0.02)
    relu_one_at_zero(model)
    groups = list(channel_counts(model))[:2]
    where = GroupRoundRobin({n: 12 for n in groups}, step=1)
    grower = growth.Grower(Periodic(1), where, AddWidth(method=GradMax(batch_size=16)))
    run = growth.train(model, data, epochs=6, batch_size=16, lr=0.05, seed=0, grower=grower, progress=False)
    grows = [e for e in run.history.events if e["kind"] == "grow"]
    assert [e["target"] for e in grows] == [{groups[0]: 11}, {groups[1]: 11}, {groups[0]: 12}, {groups[1]: 12}]
    assert all(e["extra_macs"] > 0 for e in grows)
    assert channel_counts(run.model)[groups[0]] == 12 and grower.finished
    assert torch.count_nonzero(run.model.stages[0][0].fc.weight[10:]) > 0  # the new units learned
