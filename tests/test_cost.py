"""growth.measure.cost against hand-computed MACs, PyTorch's FlopCounterMode and the papers' published costs."""
import copy
import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from growth.measure import cost
from growth.measure.cost import (
    PRODUCT_OPS,
    CostMeter,
    Stopwatch,
    flop_counter_macs,
    format_macs,
    forward_macs,
    forward_macs_by_operator,
    training_macs_per_sample,
)


def products(by_op):
    return sum(v for k, v in by_op.items() if k in PRODUCT_OPS)


# --------------------------------------------------------------------------- hand-computed oracles


def test_conv_hand_value():
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))
    macs = forward_macs(conv, (3, 32, 32))
    assert macs == 3 * 8 * 9 * 32 * 32 == 221_184
    assert type(macs) is int


def test_linear_hand_value():
    macs = forward_macs(nn.Linear(100, 10), (100,))
    assert macs == 1000 and type(macs) is int


def test_strided_and_depthwise_conv_hand_values():
    strided = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
    assert forward_macs(strided, (16, 32, 32)) == 16 * 32 * 9 * 16 * 16
    depthwise = nn.Conv2d(24, 24, 3, padding=1, groups=24, bias=False)
    assert forward_macs(depthwise, (24, 8, 8)) == 24 * 1 * 9 * 8 * 8


def test_norm_and_pool_hand_values():
    """fvcore's defaults: eval-mode BN = 2 per element (1 without affine), adaptive avg pool = 1 per input."""
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8, affine=False), nn.ReLU(),
        nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )
    assert forward_macs_by_operator(net, (3, 32, 32)) == {
        "conv": 3 * 8 * 9 * 1024 + 8 * 8 * 9 * 1024,
        "batch_norm": 2 * 8 * 1024 + 1 * 8 * 1024,
        "adaptive_avg_pool2d": 8 * 16 * 16,  # max pooling counts zero
        "linear": 80,
    }


@settings(max_examples=12, deadline=None)
@given(
    c_in=st.integers(1, 8), c_out=st.integers(1, 8), k=st.sampled_from([1, 3, 5]),
    stride=st.integers(1, 2), size=st.integers(5, 12), features=st.integers(1, 20),
)
def test_conv_linear_formula_property(c_in, c_out, k, stride, size, features):
    net = nn.Sequential(nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2), nn.Flatten())
    out = (size + 2 * (k // 2) - k) // stride + 1
    net.append(nn.Linear(c_out * out * out, features))
    expected = c_in * c_out * k * k * out * out + c_out * out * out * features
    assert forward_macs(net, (c_in, size, size)) == expected
    assert flop_counter_macs(net, (c_in, size, size)) == expected


# --------------------------------------------------------------------------- ResNet-20 (He et al., CIFAR)


class _Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pad = (c_out - c_in) // 2 if stride != 1 or c_in != c_out else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.pad is not None:  # option A: subsample, zero-pad the channels; no parameters, no MACs
            x = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(y + x)


class _ResNet20(nn.Module):
    """A reference CIFAR ResNet-20 (3 stages of 3 basic blocks, 16/32/64 channels, option-A shortcuts)."""

    image_size = 32

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks, c = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(_Block(c, width, stride if i == 0 else 1))
                c = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


# conv: stem 3*16*9*32^2; 6 convs 16*16*9*32^2; stride-2 conv 16*32*9*16^2 + 5 convs 32*32*9*16^2;
# stride-2 conv 32*64*9*8^2 + 5 convs 64*64*9*8^2; linear 64*10.
RESNET20_CONV = 3 * 16 * 9 * 1024 + 6 * 16 * 16 * 9 * 1024 + (16 * 32 + 5 * 32 * 32) * 9 * 256 + (32 * 64 + 5 * 64 * 64) * 9 * 64
RESNET20_PRODUCTS = RESNET20_CONV + 640
# 19 BNs (7 over 16x32x32, 6 over 32x16x16, 6 over 64x8x8) at 2 per element; avg pool over 64x8x8
RESNET20_BN = 2 * (7 * 16 * 1024 + 6 * 32 * 256 + 6 * 64 * 64)
RESNET20_TOTAL = RESNET20_PRODUCTS + RESNET20_BN + 64 * 64


def test_resnet20_hand_and_published_values():
    model = _ResNet20()
    assert sum(p.numel() for p in model.parameters()) == 269_722  # He et al.'s 0.27M
    by_op = forward_macs_by_operator(model)  # input from model.image_size
    assert by_op == {
        "conv": RESNET20_CONV, "linear": 640, "batch_norm": RESNET20_BN, "adaptive_avg_pool2d": 4096,
    }
    assert products(by_op) == RESNET20_PRODUCTS == 40_551_040
    assert sum(by_op.values()) == RESNET20_TOTAL == 40_931_968
    # published: "41M" FLOPs (1 MAC = 1); both the product part and fvcore's total print as 41M
    assert round(RESNET20_PRODUCTS / 1e6) == round(RESNET20_TOTAL / 1e6) == 41
    assert flop_counter_macs(model) == RESNET20_PRODUCTS


def test_resnet18_imagenet_published_value():
    """He et al. Table 1: ResNet-18 at 224, 1.8 x 10^9 FLOPs (multiply-adds); fvcore's well-known 1.82G."""
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18()
    by_op = forward_macs_by_operator(model, (3, 224, 224))
    total = sum(by_op.values())
    assert total == 1_819_065_856
    assert products(by_op) == 1_814_073_344 == flop_counter_macs(model, (3, 224, 224))
    assert f"{total / 1e9:.1f}" == f"{products(by_op) / 1e9:.1f}" == "1.8"
    assert format_macs(total) == "1.82G"


# --------------------------------------------------------------------------- the model zoo


def _zoo():
    try:
        from growth.models import build_model, list_models
    except ImportError:
        pytest.skip("growth.models has no build_model yet (the zoo is not in this checkout)")
    return build_model, list_models


ZOO_CASES = ["ResNet-20", "VGG-11", "MobileNetV2-1-1-1-1-1", "CNN4", "MLP"]


@pytest.mark.parametrize("name", ZOO_CASES)
def test_zoo_products_equal_flop_counter(name):
    build_model, list_models = _zoo()
    if name not in list_models():
        pytest.skip(f"{name} is not in list_models()")
    model = build_model(name, num_classes=10, image_size=32)
    by_op = forward_macs_by_operator(model)
    assert all(type(v) is int for v in by_op.values())
    assert products(by_op) == flop_counter_macs(model)
    assert training_macs_per_sample(model) == 3 * sum(by_op.values())


def test_zoo_resnet20_matches_reference():
    build_model, list_models = _zoo()
    model = build_model("ResNet-20", num_classes=10, image_size=32)
    assert sum(p.numel() for p in model.parameters()) == 269_722
    by_op = forward_macs_by_operator(model)
    assert products(by_op) == RESNET20_PRODUCTS
    assert round(sum(by_op.values()) / 1e6) == 41


def test_zoo_growth_in_place_gets_a_new_count():
    build_model, _ = _zoo()
    model = build_model("ResNet-20", num_classes=10, image_size=32)
    before = forward_macs_by_operator(model)
    misses = cost.cache_info()["misses"]
    model.stages[0].append(model.new_block(0))  # depth growth, same object: Basic3ResNet-4-3-3
    after = forward_macs_by_operator(model)
    assert cost.cache_info()["misses"] == misses + 1
    # one more basic block at 16 channels, 32x32: two 3x3 convs and two BNs
    assert after["conv"] - before["conv"] == 2 * 16 * 16 * 9 * 1024
    assert after["batch_norm"] - before["batch_norm"] == 2 * 2 * 16 * 1024
    del model.stages[0][-1]  # back to ResNet-20: cached
    assert forward_macs_by_operator(model) == before
    assert cost.cache_info()["misses"] == misses + 1


def test_zoo_resnet18_imagenet():
    build_model, list_models = _zoo()
    if "ResNet-18" not in list_models():
        pytest.skip("ResNet-18 is not in list_models()")
    model = build_model("ResNet-18", num_classes=1000, image_size=224)
    assert sum(p.numel() for p in model.parameters()) == 11_689_512
    by_op = forward_macs_by_operator(model)
    assert products(by_op) == 1_814_073_344  # torchvision's resnet18, counted above
    assert f"{sum(by_op.values()) / 1e9:.2f}" == "1.82"


# --------------------------------------------------------------------------- training = 3 x forward


def test_training_is_three_forwards_and_measured_backward():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 1024, 10)
    )
    fwd = forward_macs(net, (3, 32, 32))
    assert training_macs_per_sample(net, (3, 32, 32)) == 3 * fwd
    # measured: 3 x forward, less the first layer's input gradient (the image needs none)
    assert flop_counter_macs(net, (3, 32, 32), backward=True) == 3 * fwd - 3 * 8 * 9 * 1024


# --------------------------------------------------------------------------- cache


def _net(width=8, stride=1):
    return nn.Sequential(
        nn.Conv2d(3, width, 3, stride=stride, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10),
    )


def test_cache_counts_each_architecture_once(monkeypatch):
    cost.cache_clear()
    traces = []
    real = cost._count
    monkeypatch.setattr(cost, "_count", lambda model, shape: traces.append(shape) or real(model, shape))
    a = _net()
    first = forward_macs(a, (3, 16, 16))
    assert forward_macs(a, (3, 16, 16)) == first
    assert training_macs_per_sample(copy.deepcopy(_net()), (3, 16, 16)) == 3 * first  # same architecture
    assert len(traces) == 1
    grown = _net(width=12)
    assert forward_macs(grown, (3, 16, 16)) > first
    assert len(traces) == 2
    assert forward_macs(a, (3, 16, 16)) == first  # back to a seen architecture: free
    assert forward_macs(_net(stride=2), (3, 16, 16)) < first  # same shapes, different stride: new count
    assert forward_macs(a, (3, 32, 32)) > first  # new input shape: new count
    assert len(traces) == 4
    info = cost.cache_info()
    assert info["misses"] == 4 and info["hits"] == 3 and info["size"] == 4


def test_counting_leaves_the_model_alone():
    net = _net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    cost.cache_clear()
    forward_macs(net, (3, 16, 16))
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # BN statistics untouched
    assert next(net.parameters()).dtype == torch.float32


def test_input_shape_errors():
    with pytest.raises(ValueError, match="input_shape"):
        forward_macs(_net())  # no image_size attribute
    with pytest.raises(ValueError, match="input_shape"):
        forward_macs(_net(), (3, 0, 16))
    with pytest.raises(ValueError, match="input_shape"):
        forward_macs(nn.Linear(100, 10), (99,))  # the model cannot run on it


# --------------------------------------------------------------------------- CostMeter


def test_cost_meter_integrates_a_timeline():
    a, b = _net(8), _net(16)
    ta, tb = training_macs_per_sample(a, (3, 16, 16)), training_macs_per_sample(b, (3, 16, 16))
    meter = CostMeter(input_shape=(3, 16, 16))
    assert meter.add_training(a, 60) == 60 * ta
    meter.add_training(a, 40)
    meter.add_training(b, 50)
    meter.add_extra(7, "AdamInit")
    meter.add_extra(2.4, "GradMax SVD")  # rounded
    meter.add_eval(b, 10)
    assert meter.training_macs == 100 * ta + 50 * tb
    assert meter.extra_macs == {"AdamInit": 7, "GradMax SVD": 2}
    assert meter.eval_macs == 10 * tb // 3
    assert meter.total_macs == 100 * ta + 50 * tb + 9  # evaluation is not in the total
    assert [s["samples"] for s in meter.timeline] == [100, 50]
    assert [s["macs_per_sample"] for s in meter.timeline] == [ta, tb]
    assert all(type(v) is int for v in (meter.total_macs, meter.training_macs, meter.eval_macs))

    state = json.loads(json.dumps(meter.state_dict()))
    again = CostMeter()
    again.load_state_dict(state)
    assert again.state_dict() == meter.state_dict()
    assert again.total_macs == meter.total_macs

    with_eval = CostMeter(input_shape=(3, 16, 16), include_eval=True)
    with_eval.load_state_dict({**state, "include_eval": True})
    assert with_eval.total_macs == meter.total_macs + meter.eval_macs


def test_cost_meter_rejects_bad_values():
    meter = CostMeter(input_shape=(3, 16, 16))
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="samples"):
            meter.add_training(_net(), bad)
    with pytest.raises(ValueError, match="macs"):
        meter.add_extra(-3, "SVD")
    with pytest.raises(ValueError, match="what"):
        meter.add_extra(3, "")
    assert meter.total_macs == 0


# --------------------------------------------------------------------------- small helpers


def test_stopwatch_accumulates():
    sw = Stopwatch(_net())
    with sw:
        sum(range(1000))
    first = sw.seconds
    assert first > 0 and not sw.running
    with sw:
        pass
    assert sw.seconds >= first
    sw.reset()
    assert sw.seconds == 0.0
    with pytest.raises(RuntimeError):
        sw.stop()


def test_format_macs():
    assert format_macs(40_931_968) == "40.93M"
    assert format_macs(999) == "999"
    assert format_macs(1_819_065_856, 1) == "1.8G"
