"""growth.when.width_schedule: the VT paper's schedulers (Eq. 6-8), their cost, and the trigger in growth.train."""
import pytest
import torch

import growth
from growth.how import AddWidth
from growth.how.width import build_stage_model, stage_models
from growth.models import channel_counts
from growth.when.width_schedule import (
    ROUNDINGS, StageBoundaries, group_channels, round_channels, schedule_cost, stage_batch_sizes, stage_boundaries,
    stage_channels, stage_epochs, width_fractions,
)


def test_width_fractions_eq6_clamped_and_last_full():
    assert width_fractions() == pytest.approx((0.25, 0.3, 0.36, 0.432, 0.5184, 0.62208, 0.746496, 0.8957952, 1.0))
    assert width_fractions(3, c0=0.5, p=1.0) == (0.5, 1.0, 1.0)
    assert width_fractions(1) == (1.0,)


def test_linear_width_fractions_are_gradmax_equal_steps():
    """GradMax adds a quarter of the seed's inner width 12 times: 0.25 -> 1 in steps of 1/16."""
    assert width_fractions(13, c0=0.25, kind="linear") == tuple(0.25 + k / 16 for k in range(13))
    assert width_fractions(5, c0=0.25, p=9.0, kind="linear") == (0.25, 0.4375, 0.625, 0.8125, 1.0)  # p unused
    with pytest.raises(ValueError, match=r"kind='cubic' is unknown: choose one of exponential, linear"):
        width_fractions(kind="cubic")


def test_inner_groups_alone_narrow():
    full = group_channels("WRN-10-1", 1.0)
    inner = group_channels("WRN-10-1", 0.25, groups="inner")
    assert inner == {g: (n // 4 if g.endswith(".conv1") else n) for g, n in full.items()}
    assert inner != full and group_channels("WRN-10-1", 0.25) != inner
    with pytest.raises(ValueError, match=r"groups='inner': VGG-11 has no inner channel groups"):
        group_channels("VGG-11", 0.5, groups="inner")
    with pytest.raises(ValueError, match=r"groups='outer' is unknown: choose one of all, inner"):
        group_channels("VGG-11", 0.5, groups="outer")


def test_a_fresh_stage_model_is_initialised_for_its_own_shape():
    """A seed narrow inside its blocks only: built narrow everywhere, its outer groups grown, then every
    layer initialised anew, so each conv has the family's init for its shape (WRN: kaiming fan-out)."""
    channels = group_channels("WRN-10-4", 0.25, groups="inner")
    torch.manual_seed(0)
    model = build_stage_model("WRN-10-4", channels, 0.25, fresh=True)
    assert channel_counts(model) == channels
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d) and m.weight.numel() > 4000:
            expected = (2.0 / (m.out_channels * m.kernel_size[0] * m.kernel_size[1])) ** 0.5
            assert m.weight.std().item() == pytest.approx(expected, rel=0.1), name
        if isinstance(m, torch.nn.BatchNorm2d):
            assert bool((m.weight == 1).all() and (m.bias == 0).all() and (m.running_var == 1).all()), name
    torch.manual_seed(0)
    grown = build_stage_model("WRN-10-4", channels, 0.25, method="net2net")  # not fresh: copies, not a new init
    conv = grown.get_submodule("stages.1.0.conv2")
    assert conv.weight.std().item() != pytest.approx(model.get_submodule("stages.1.0.conv2").weight.std().item(),
                                                     rel=0.1)


@pytest.mark.parametrize("x, rounding, count", [
    (4.8, "even", 4), (5.76, "even", 6), (5.0, "even", 6), (0.3, "even", 2), (19.2, "even", 20),
    (4.8, "nearest", 5), (4.5, "nearest", 5), (0.3, "nearest", 1),
    (4.1, "ceil-even", 6), (4.0, "ceil-even", 4), (6.9, "ceil-even", 8),
])
def test_round_channels(x, rounding, count):
    assert round_channels(x, rounding) == count


def test_group_channels_of_resnet20_per_group():
    at = group_channels("ResNet-20", 0.3)  # 16, 32, 64 channels x 0.3 = 4.8, 9.6, 19.2
    assert at["stem"] == at["stages.0.0.conv1"] == 4 and at["stages.1.0"] == 10 and at["stages.2.0"] == 20
    assert group_channels("ResNet-20", 1.0) == channel_counts(growth.build_model("ResNet-20", num_classes=10))
    stages = stage_channels("ResNet-20", width_fractions())
    assert [s["stages.2.0"] for s in stages] == [16, 20, 24, 28, 34, 40, 48, 58, 64]
    assert [s["stem"] for s in stages] == [4, 4, 6, 6, 8, 10, 12, 14, 16]


def test_stage_epochs_eq7_sum_to_the_budget():
    assert stage_epochs(160) == (8, 10, 12, 14, 17, 20, 24, 29, 26)  # 8 x 1.2^k, rounded; the last: the rest
    assert stage_epochs(160, rounding="floor") == (8, 9, 11, 13, 16, 19, 23, 28, 33)
    assert sum(stage_epochs(200, T0=10)) == 200 and stage_epochs(200, T0=10)[-1] == 35
    assert stage_epochs(20, 4, 2, kind="linear", rate=1) == (2, 3, 4, 11)
    assert stage_epochs(4, 3, 1, rate=1.0) == (1, 2, 1)
    # GradMax's code: growths from iteration 10000 every 2500 (batch 128, 391 steps an epoch), 12 of them
    assert stage_epochs(200, 13, 25.6, kind="steps", rate=6.4) == (26, *[6] * 11, 108)
    assert stage_epochs(15, 7, 2, kind="steps", rate=1) == (2, 1, 1, 1, 1, 1, 8)
    with pytest.raises(ValueError, match="rate=0"):
        stage_epochs(15, 7, 2, kind="steps", rate=0)
    assert stage_boundaries((8, 10, 12)) == (8, 18)


def test_stage_batch_sizes_eq8():
    assert stage_batch_sizes((0.25, 0.5, 1.0), 128) == (512, 256, 128)
    assert stage_batch_sizes((0.25, 0.3, 1.0), 128) == (512, 424, 128)  # 426.7 -> a multiple of 8
    assert stage_batch_sizes((0.25, 0.5, 1.0), 128, exponent=0.5) == (256, 184, 128)
    assert stage_batch_sizes((0.25, 0.5, 1.0), 128, cap=300) == (300, 256, 128)


def test_resnet20_cost_against_table10(capsys):
    """The paper's Table 10: growing ResNet-20 on CIFAR-10 costs 54.90% of the large model. Our readings:"""
    fractions, full = width_fractions(), growth.build_model("ResNet-20", num_classes=10)
    costs = {}
    for rounding in ROUNDINGS:
        models = stage_models("ResNet-20", stage_channels("ResNet-20", fractions, rounding=rounding), 0.25)
        for epochs in ("nearest", "floor"):
            costs[rounding, epochs] = 100 * schedule_cost(models, stage_epochs(160, rounding=epochs), full)
    with capsys.disabled():
        print("\nResNet-20 CIFAR-10 relative training cost (paper 54.90%): "
              + ", ".join(f"{r}/{e} epochs {c:.2f}%" for (r, e), c in costs.items()))
    assert costs["even", "nearest"] == pytest.approx(50.24, abs=0.01)
    assert costs["nearest", "nearest"] == pytest.approx(50.68, abs=0.01)
    assert costs["ceil-even", "nearest"] == pytest.approx(53.80, abs=0.01)
    assert costs["ceil-even", "floor"] == pytest.approx(56.49, abs=0.01)


def test_build_stage_model_widens_where_even_rounding_adds_a_unit():
    channels = group_channels("MLP", 0.25)  # 500 x 0.25 = 125 -> 126
    model = build_stage_model("MLP", channels, 0.25)
    assert channel_counts(model) == channels and set(channels.values()) == {126}
    with pytest.raises(ValueError, match="more than the schedule's rounding gives"):
        build_stage_model("ResNet-20", group_channels("ResNet-20", 0.3), 0.3)


def test_the_trigger_grows_at_the_stage_boundaries_inside_train():
    fractions, epochs = (0.25, 0.5, 1.0), (1, 2, 2)
    plan = stage_channels("CNN4", fractions, image_size=32, width=0.25)
    model = build_stage_model("CNN4", plan[0], 0.25, width=0.25, image_size=32)
    op = AddWidth(channels=plan, method="vt", noise=1e-3)
    grower = growth.Grower(StageBoundaries(epochs), op.where, op)
    data = growth.load_dataset("synthetic", num_train=64, num_test=32)
    run = growth.train(model, data, epochs=sum(epochs), batch_size=32, device="cpu", grower=grower,
                       progress=False, batch_sizes=[64, 32, 32, 16, 16])
    grows = [e for e in run.history.events if e["kind"] == "grow"]
    assert [e["epoch"] for e in grows] == [1, 3] and [e["target"] for e in grows] == plan[1:]
    assert channel_counts(run.model) == plan[-1]
    assert [r["batch_size"] for r in run.history.epochs] == [64, 32, 32, 16, 16]


def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"c0=1.5 is not allowed"):
        width_fractions(c0=1.5)
    with pytest.raises(ValueError, match=r"rounding='odd' is unknown: choose one of even, nearest, ceil-even"):
        round_channels(3.0, "odd")
    with pytest.raises(ValueError, match=r"total=100 epochs is too small .* give total > 134"):
        stage_epochs(100)
    with pytest.raises(ValueError, match=r"kind='cubic' is unknown"):
        stage_epochs(160, kind="cubic")
    with pytest.raises(ValueError, match=r"channels: stage 1 has fewer channels than stage 0"):
        AddWidth(channels=[{"a": 4}, {"a": 2}])
    with pytest.raises(ValueError, match=r"give at most one of them"):
        AddWidth(width=0.5, channels=[{"a": 4}])
    with pytest.raises(ValueError, match=r"AddWidth\(\) was given no width or channels schedule: pair it with a "
                                         r"width locator"):
        AddWidth().where(None)
    with pytest.raises(ValueError, match=r"batch_sizes=\[8\] is not allowed: use None or a list of 2"):
        growth.TrainConfig(epochs=2, batch_sizes=[8]).validate()
    with pytest.raises(ValueError, match="models and epochs differ in length"):
        schedule_cost([torch.nn.Linear(2, 2)], (1, 2), torch.nn.Linear(2, 2), (2,))
