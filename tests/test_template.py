"""Template-mixing layers and nets (growth.models.template): Eq. 1, the tiling of Fig. 2, parameter and MAC
counts against hand counts, template sharing."""
from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from growth.how.mixture import tile
from growth.measure.cost import CostMeter, forward_macs
from growth.models import build_model
from growth.models.template import MemberNorm, MixingConv2d, MixingLayer, TemplateNet, mix, template_net

#: every block type the tiling meets: pre-activation blocks with and without inner BN, bottlenecks with
#: projection shortcuts, plain conv-BN stacks with a flattening classifier, linear layers
FAMILIES = ["WRNnoBN-10-2", "WRN-10-2", "WRNnoBN-16-1", "Bottleneck4ResNet-1-1-1-1", "VGG-1-1-1-1-1", "MLP"]


def settle(model: TemplateNet, x: torch.Tensor) -> TemplateNet:
    """Both members' BN statistics moved off their initial values, then eval mode."""
    model.train()
    for member in (0, 1):
        model.set_member(member)
        model(x)
    model.set_member(0)
    return model.eval()


def test_mix_is_eq1():
    templates = torch.randn(3, 4, 5)
    alpha = torch.tensor([0.5, -2.0, 1.5])
    expected = 0.5 * templates[0] - 2.0 * templates[1] + 1.5 * templates[2]
    assert torch.allclose(mix(alpha, templates), expected)


def test_member_weight_is_its_coefficients_over_its_set():
    model = template_net("WRNnoBN-10-1", width=0.5)
    layer = model.get_submodule("stages.0.0.conv1")
    for member in (0, 1):
        model.set_member(member)
        bank = layer.banks[member].templates
        expected = sum(layer.coefficients[member][k] * bank[k] for k in range(bank.shape[0]))
        assert torch.allclose(layer.weight, expected)
        assert layer.weight.shape == (8, 8, 3, 3)


def test_tiled_weight_is_the_block_matrix():
    """A hidden layer's grown weight equals [[W0, W2], [W3, W1]] built by hand from the tiles' weights;
    the first layer stacks [W0; W1], the classifier puts [W0, W1] side by side and sums the biases."""
    model = template_net("WRNnoBN-10-1", width=0.5)
    hidden, first, last = (model.get_submodule(n) for n in ("stages.1.0.conv1", "stem.conv", "head.fc"))
    before = {id(m): [m.tile(i).detach().clone() for i in range(len(m.coefficients))] for m in (hidden, first, last)}
    biases = [b.detach().clone() for b in last.bias]
    tile(model, "random")
    w = [hidden.tile(i).detach() for i in range(4)]
    assert torch.equal(w[0], before[id(hidden)][0]) and torch.equal(w[1], before[id(hidden)][1])
    o, i = w[0].shape[:2]
    block = torch.zeros(2 * o, 2 * i, 3, 3)
    block[:o, :i], block[:o, i:], block[o:, :i], block[o:, i:] = w[0], w[2], w[3], w[1]
    assert torch.equal(hidden.weight.detach(), block)
    assert torch.equal(first.weight.detach(), torch.cat(before[id(first)][:2], 0))
    assert torch.equal(last.weight.detach(), torch.cat(before[id(last)][:2], 1))
    assert torch.equal(last.bias_value.detach(), biases[0] + biases[1])
    assert hidden.in_channels == 2 * i and hidden.out_channels == 2 * o
    assert first.in_channels == 3 and last.weight.shape[0] == 10


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("sharing", ["none", "pairs", "modules"])
def test_grown_with_zero_cross_tiles_sums_the_members(name, sharing):
    """The oracle of Fig. 2: with W2 = W3 = 0 the grown net computes both members side by side (BN
    concatenated), so its logits are the sum of theirs, on every block type."""
    torch.manual_seed(0)
    model = template_net(name, width=0.25, num_classes=7, sharing=sharing)
    x = torch.randn(6, 3, 32, 32)
    settle(model, x)
    logits = []
    for member in (0, 1):
        model.set_member(member)
        logits.append(model(x).detach())
    tile(model, "orthogonal")
    with torch.no_grad():
        for _, layer in model.mixing_layers():
            if layer.role == "hidden":
                layer.coefficients[2].zero_()
                layer.coefficients[3].zero_()
    grown = model(x).detach()
    assert grown.shape == (6, 7)
    assert torch.allclose(grown, logits[0] + logits[1], atol=1e-5, rtol=1e-4)


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 2), k=st.integers(1, 3), width=st.floats(0.125, 0.5), templates=st.integers(1, 3),
       sharing=st.sampled_from(["none", "pairs", "modules"]), seed=st.integers(0, 1000))
def test_side_by_side_on_random_nets(n, k, width, templates, sharing, seed):
    torch.manual_seed(seed)
    model = template_net(f"WRNnoBN-{6 * n + 4}-{k}", width=width, num_classes=3, templates=templates,
                         sharing=sharing)
    x = torch.randn(3, 3, 16, 16)
    settle(model, x)
    expected = 0
    for member in (0, 1):
        model.set_member(member)
        expected = expected + model(x).detach()
    tile(model, "copy")
    with torch.no_grad():
        for _, layer in model.mixing_layers():
            for c in layer.coefficients[2:]:
                c.zero_()
    assert torch.allclose(model(x).detach(), expected, atol=1e-5, rtol=1e-4)


def test_grown_shapes_are_the_target_net():
    """TemplateWRNnoBN-16-2 at member width 0.5 grows to a WRNnoBN-16-2 at width 1: the same forward MACs
    (fvcore) and the same activation shapes."""
    model = template_net("WRNnoBN-16-2", width=0.5)
    target = build_model("WRNnoBN-16-2", num_classes=10, width=1.0)
    small = build_model("WRNnoBN-16-2", num_classes=10, width=0.5)
    assert forward_macs(model, (3, 32, 32)) == forward_macs(small, (3, 32, 32))
    tile(model)
    assert forward_macs(model, (3, 32, 32)) == forward_macs(target, (3, 32, 32))


def test_parameter_counts_by_hand():
    """Each member's layer holds `templates` tensors of the plain layer's shape; with no sharing the net has
    2 x templates x the plain small net's weights, plus 4 coefficient vectors per hidden layer and 2 per
    first / last layer, plus each member's biases and BNs.  'pairs' stores a shared pair's banks once;
    'modules' stores the pair once, coefficients included."""
    name, width, t = "WRNnoBN-16-2", 0.5, 2
    plain = build_model(name, num_classes=10, width=width)
    weights = {n: m.weight.numel() for n, m in plain.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    norms = sum(p.numel() for m in plain.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    bias = plain.head.fc.bias.numel()
    hidden = len(weights) - 2
    assert sum(p.numel() for p in plain.parameters()) == sum(weights.values()) + norms + bias
    coefficients = t * (4 * hidden + 2 * 2)
    none = template_net(name, width=width, templates=t)
    assert sum(p.numel() for p in none.parameters()) == 2 * t * sum(weights.values()) + coefficients + 2 * (norms + bias)
    # WRN-16-2 at half width (stem 8, stages 16, 32, 64): adjacent layers of one shape are the second blocks'
    # conv1 and conv2 only (each first block widens, its shortcut is 1x1): three pairs
    pairs = [("stages.0.1.conv1", "stages.0.1.conv2"), ("stages.1.1.conv1", "stages.1.1.conv2"),
             ("stages.2.1.conv1", "stages.2.1.conv2")]
    shared = sum(weights[b] for _, b in pairs)
    paired = template_net(name, width=width, templates=t, sharing="pairs")
    assert sum(p.numel() for p in paired.parameters()) == \
        2 * t * (sum(weights.values()) - shared) + coefficients + 2 * (norms + bias)
    assert paired.get_submodule(pairs[0][0]).banks[0] is paired.get_submodule(pairs[0][1]).banks[0]
    modules = template_net(name, width=width, templates=t, sharing="modules")
    assert modules.get_submodule(pairs[0][0]) is modules.get_submodule(pairs[0][1])
    assert sum(p.numel() for p in modules.parameters()) == \
        2 * t * (sum(weights.values()) - shared) + coefficients - 3 * 4 * t + 2 * (norms + bias)


def test_template_wrn_28_5_is_plain_plus_templates():
    """build_model's TemplateWRN-28-5: the plain WRN-28-5's weights x 2 sets x 2 templates, plus the
    coefficients and each member's BNs and classifier bias."""
    model = build_model("TemplateWRN-28-5", num_classes=10)
    assert model.spec == "TemplateWRN-28-5" and isinstance(model, TemplateNet)
    plain = build_model("WRN-28-5", num_classes=10)
    weights = sum(m.weight.numel() for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    other = sum(p.numel() for p in plain.parameters()) - weights
    layers = sum(1 for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    coefficients = 2 * (4 * (layers - 2) + 4)
    assert sum(p.numel() for p in model.parameters()) == 4 * weights + coefficients + 2 * other


def test_mixing_macs_by_hand_and_charged_per_batch():
    """Eq. 1 costs templates x weight size per tile, once per forward pass whatever the batch; the meter
    charges 3 x that per optimizer step (forward, and the two gradients)."""
    model = template_net("WRNnoBN-10-1", width=0.5, templates=3)
    weights = sum(m.banks[0].templates[0].numel() for _, m in model.mixing_layers())
    assert model.batch_macs() == 3 * weights
    meter = CostMeter(input_shape=(3, 32, 32))
    added = meter.add_training(model, 100, steps=4)
    assert meter.batch_macs == 3 * 4 * model.batch_macs()
    assert added == 100 * 3 * forward_macs(model, (3, 32, 32)) + meter.batch_macs
    tile(model)
    hidden = [m for _, m in model.mixing_layers() if m.role == "hidden"]
    ends = [m for _, m in model.mixing_layers() if m.role != "hidden"]
    assert model.batch_macs() == 3 * (4 * sum(m.banks[0].templates[0].numel() for m in hidden)
                                      + 2 * sum(m.banks[0].templates[0].numel() for m in ends))
    assert meter.state_dict()["batch_macs"] == meter.batch_macs


def test_only_the_active_member_trains():
    model = template_net("WRNnoBN-10-1", width=0.5)
    model.set_member(1)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    layer = model.get_submodule("stages.0.0.conv1")
    assert layer.banks[0].templates.grad is None and layer.banks[1].templates.grad is not None
    assert layer.coefficients[0].grad is None and layer.coefficients[1].grad is not None
    assert all(c.grad is None for c in layer.coefficients[2:])
    norm = model.get_submodule("stages.0.0.bn1")
    assert norm.members[0].weight.grad is None and norm.members[1].weight.grad is not None


def test_growth_concatenates_norm_statistics():
    model = settle(template_net("WRN-10-1", width=0.5), torch.randn(4, 3, 32, 32))
    norm = model.get_submodule("stages.1.0.bn2")
    a, b = (m.running_mean.clone() for m in norm.members)
    wa, wb = (m.weight.detach().clone() for m in norm.members)
    tile(model)
    assert isinstance(norm, MemberNorm) and norm.members is None
    assert torch.equal(norm.full.running_mean, torch.cat([a, b]))
    assert torch.equal(norm.full.weight.detach(), torch.cat([wa, wb]))


def test_spec_tells_the_phase_and_modes_are_checked():
    model = template_net("WRNnoBN-10-1", width=0.5)
    assert model.spec == "TemplateWRNnoBN-10-1" and model.mode == 0
    model.set_member(1)
    assert model.spec == "TemplateWRNnoBN-10-1:net2"
    with pytest.raises(ValueError, match="member=2"):
        model.set_member(2)
    tile(model)
    assert model.spec == "TemplateWRNnoBN-10-1:grown" and model.grown
    with pytest.raises(ValueError, match="grown"):
        model.set_member(0)
    with pytest.raises(ValueError, match="grown already"):
        tile(model)


@pytest.mark.parametrize("name, match", [("ResNet-20", "zero-padding"), ("MobileNetV2-1-1-1-1-1", "depthwise")])
def test_unsupported_nets_are_refused(name, match):
    with pytest.raises(ValueError, match=match):
        template_net(name, width=0.5)


@pytest.mark.parametrize("kwargs, match", [({"templates": 0}, "templates=0"), ({"sharing": "all"}, "sharing='all'")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        template_net("WRN-10-1", **kwargs)


def test_layers_and_mixing_layer_types():
    model = build_model("TemplateResNet-50", num_classes=10, width=0.125)
    assert model.spec == "TemplateBottleneck4ResNet-3-4-6-3"
    kinds = {type(m) for _, m in model.mixing_layers()}
    assert MixingConv2d in kinds and all(issubclass(k, MixingLayer) for k in kinds)
    assert not any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    norms = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(".members." in n for n in norms)


def test_a_template_net_trains_in_channels_last_memory():
    """The loop's channels_last placement (on by default on GPUs) takes the 4-d tensors only: a template
    net's stacked 5-d templates stay as they are, and the numbers match the default layout's."""
    from growth import train
    from growth.data import load

    data = load("synthetic", num_train=32, num_test=16, num_classes=4)
    losses = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = template_net("WRNnoBN-10-1", width=0.5, num_classes=4)
        run = train(model, data, epochs=1, batch_size=16, device="cpu", channels_last=channels_last)
        losses.append(run.history.last("train_loss"))
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
