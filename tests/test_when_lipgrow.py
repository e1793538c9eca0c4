"""LipGrow: the spectral norm by power iteration against the exact norm of the unrolled conv, the BN
and block bounds, the trigger's rule, its cost, and the doubling operator."""
import math

import pytest
import torch
from torch import nn

import growth
from growth.history import History
from growth.how import double_blocks
from growth.how.depth_init import last_bn
from growth.protocol import GrowthContext
from growth.when import LipGrow
from growth.when.lipgrow import (
    batchnorm_lipschitz, block_lipschitz, conv_input_shapes, conv_macs, conv_spectral_norm, model_lipschitz,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def unrolled(conv: nn.Conv2d, shape) -> torch.Tensor:
    """The conv (no bias) as a matrix: column j is the conv of the j-th basis image."""
    n = math.prod(shape)
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    with torch.no_grad():
        out = conv._conv_forward(basis, conv.weight.double(), None)
    return out.reshape(n, -1).T


@pytest.mark.parametrize("kwargs, shape", [
    (dict(in_channels=2, out_channels=3, kernel_size=3, padding=1), (2, 5, 5)),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, stride=2), (3, 6, 6)),
    (dict(in_channels=4, out_channels=4, kernel_size=3, padding=1, groups=4), (4, 4, 4)),  # depthwise
    (dict(in_channels=3, out_channels=2, kernel_size=1), (3, 4, 4)),
])
def test_power_iteration_matches_the_exact_spectral_norm(kwargs, shape):
    torch.manual_seed(0)
    conv = nn.Conv2d(bias=False, **kwargs).double()
    exact = float(torch.linalg.matrix_norm(unrolled(conv, shape), 2))
    sigma, v = conv_spectral_norm(conv, shape, iterations=200)
    assert sigma == pytest.approx(exact, rel=1e-6)
    assert sigma <= exact * (1 + 1e-9)
    # warm start: a few more iterations from v stay at the norm
    assert conv_spectral_norm(conv, shape, iterations=2, start=v)[0] == pytest.approx(exact, rel=1e-6)


def test_batchnorm_bound_by_hand():
    bn = nn.BatchNorm2d(3, eps=0.0)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, -3.0, 1.0]))
        bn.running_var.copy_(torch.tensor([0.25, 4.0, 1.0]))
    assert batchnorm_lipschitz(bn) == pytest.approx(1.5)  # max(0.5/0.5, 3/2, 1/1)


def test_block_bound_is_the_product_over_its_residual_branch():
    torch.manual_seed(0)
    model = growth.build_model("Basic4ResNet-1-1-1-1", num_classes=10, width=0.125).double()
    shapes = conv_input_shapes(model, (3, 16, 16))
    block = model.stages[1][0]  # conv1, bn1, conv2, bn2, and a projection shortcut that is left out
    expected = 1.0
    for conv, bn in ((block.conv1, block.bn1), (block.conv2, block.bn2)):
        expected *= float(torch.linalg.matrix_norm(unrolled(conv, shapes[conv]), 2)) * batchnorm_lipschitz(bn)
    bound, macs = block_lipschitz(block, shapes, iterations=300)
    assert bound == pytest.approx(expected, rel=1e-4) and bound <= expected * (1 + 1e-9)
    assert macs == sum(601 * conv_macs(c, shapes[c]) for c in (block.conv1, block.conv2))
    mean, total = model_lipschitz(model, (3, 16, 16), iterations=3)
    assert mean > 0 and total > 0


def test_conv_macs_by_hand():
    conv = nn.Conv2d(4, 8, 3, stride=2, padding=1)
    assert conv_macs(conv, (4, 8, 8)) == 8 * 4 * 4 * 4 * 9


def contexts(values_by_epoch, trigger, grow_at=()):
    """Feed the trigger per-epoch bounds by monkeypatching the model's value."""
    h = History()
    fired = []
    for t, _ in enumerate(values_by_epoch, start=1):
        h.epochs.append({"epoch": t})
        if t - 1 in grow_at:
            h.events.append({"kind": "grow", "epoch": t - 1})
        if trigger(GrowthContext(model=None, epoch=t, epochs=len(values_by_epoch), history=h,
                                 cost=type("C", (), {"input_shape": (3, 8, 8), "add_extra": lambda *a: None})())):
            fired.append(t)
    return fired, h


def test_trigger_rule_window_tolerance_and_its_decay(monkeypatch):
    series = [1.0, 1.0, 1.2, 1.5, 1.6, 1.6, 1.6, 2.0, 2.1]
    values = iter(series * 2)
    monkeypatch.setattr("growth.when.lipgrow.model_lipschitz", lambda *a, **k: (next(values), 7))
    # smoothed (window 2): e2 1.0 (base), e3 1.1, e4 1.35, e5 1.55 -> ratio 1.55 > 1.4: fires at 5
    # after the growth at 5 a new series: e6 1.6, e7 1.6 (base 1.6), e8 1.8 (1.125), e9 2.05 (1.28)
    fired, h = contexts(range(9), LipGrow(window=2, tolerance=1.4), grow_at=(5,))
    assert fired == [5]  # the authors' final code: the tolerance stays 1.4
    assert h.epochs[4]["lipschitz_ratio"] == pytest.approx(1.55)
    assert h.epochs[8]["lipschitz_tolerance"] == pytest.approx(1.4)
    assert h.epochs[0]["lipschitz_macs"] == 7 and "lipschitz_seconds" in h.epochs[0]
    # their first commit halved the excess after each growth: 1.2 after the first, so e9 (1.28) fires
    fired, h = contexts(range(9), LipGrow(window=2, tolerance=1.4, tolerance_decay=0.5), grow_at=(5,))
    assert fired == [5, 9] and h.epochs[8]["lipschitz_tolerance"] == pytest.approx(1.2)


def test_defaults_are_the_authors_final_code():
    trigger = LipGrow()
    assert (trigger.window, trigger.tolerance, trigger.tolerance_decay, trigger.iterations) == (10, 1.4, 1.0, 100)


@pytest.mark.parametrize("name, targets, after", [
    ("Basic4ResNet-2-2-2-2", (8, 8, 8, 8), ["Basic4ResNet-4-4-4-4", "Basic4ResNet-8-8-8-8"]),
    ("VGG-1-1-1-1-2", (2, 2, 4, 4, 4), ["VGG-2-2-2-2-4", "VGG-2-2-4-4-4"]),
    ("MobileNetV2-1-1-1-1-1", (2, 3, 4, 3, 3), ["MobileNetV2-2-2-2-2-2", "MobileNetV2-2-3-4-3-3"]),
])
def test_doubling_reaches_the_papers_targets(name, targets, after):
    model = growth.build_model(name, num_classes=10, width=0.125)
    for spec in after:
        double_blocks(model, targets=targets)
        assert model.spec == spec
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_doubling_copies_blocks_and_scales_residual_branches():
    torch.manual_seed(0)
    model = growth.build_model("Basic4ResNet-1-2-1-1", num_classes=10, width=0.125)
    block = model.stages[1][1]  # an identity-residual block
    gamma = last_bn(block).weight.detach().clone()
    first_conv = model.stages[1][0].conv1.weight.detach().clone()
    double_blocks(model, [1], scale=0.5)
    assert model.spec == "Basic4ResNet-1-4-1-1"
    a, copy = model.stages[1][2], model.stages[1][3]
    assert torch.equal(a.conv1.weight, copy.conv1.weight) and a.conv1.weight is not copy.conv1.weight
    assert torch.allclose(last_bn(a).weight, 0.5 * gamma) and torch.allclose(last_bn(copy).weight, 0.5 * gamma)
    assert torch.equal(model.stages[1][0].conv1.weight, first_conv)  # the downsampling block is not copied
    with pytest.raises(ValueError, match="scale="):
        double_blocks(model, scale=0)
