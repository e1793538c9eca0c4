"""The new-block initialisers against their oracles: ZeroInit keeps the function exactly on every residual
family; he / uniform / gaussian change it, with the right statistics; copy equals the preceding block
(or falls back to he); AdamInit trains the last BN alone, stops by its rule and charges its MACs."""
from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import growth
from growth.measure.cost import CostMeter, forward_macs
from growth.how import DEPTH_INITS, AdamInit, ZeroInit, grow_depth, last_bn
from growth.models import build_model

RESIDUAL = {"Basic3ResNet": 3, "Basic4ResNet": 4, "Bottleneck4ResNet": 4, "MobileNetV2": 5}


pytestmark = pytest.mark.usefixtures("one_thread")


def randomise(module: nn.Module, generator: torch.Generator, *, affine: bool = True) -> None:
    """Random running statistics (and BN weights / biases) everywhere, so no identity is trivial.

    Around the net's own statistics (calibrate first), or activations die or saturate (ReLU6) and the
    output no longer depends on the input.
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.add_(torch.randn(m.running_mean.shape, generator=generator) * m.running_var.sqrt() / 4)
                m.running_var.mul_(torch.empty(m.running_var.shape).uniform_(0.5, 2.0, generator=generator))
                if affine:
                    m.weight.normal_(1, 0.5, generator=generator)
                    m.bias.normal_(0, 0.5, generator=generator)


def calibrate(model: nn.Module, x: torch.Tensor) -> None:
    """Running statistics = the batch statistics of ``x`` (one train-mode pass, cumulative average)."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    with torch.no_grad():
        model.train()(x)
    for m in norms:
        m.momentum = 0.1
    model.eval()


def varies(y: torch.Tensor) -> bool:
    return bool(y.std(0).max() > 1e-4)


def grown(name: str, stage: int, init: str, *, position=None, seed: int = 0, width: float = 0.25, image_size=16):
    """(model before, model after, input): eval mode, random BN statistics and weights."""
    torch.manual_seed(seed)
    model = build_model(name, num_classes=5, width=width, image_size=image_size)
    generator = torch.Generator().manual_seed(seed)
    calibrate(model, torch.randn(16, 3, image_size, image_size, generator=generator))
    randomise(model, generator)
    x = torch.randn(4, 3, image_size, image_size, generator=generator)
    before = copy.deepcopy(model).eval()
    with torch.no_grad():
        assert varies(before(x))  # the function depends on the input: no identity is trivial
    grow_depth(model.eval(), stage, init=init, position=position)
    return before, model, x


# --------------------------------------------------------------------------- ZeroInit: the identity


@pytest.mark.parametrize("name, stage, position", [
    ("Basic3ResNet-1-2-1", 1, None), ("Basic3ResNet-1-2-1", 1, 1), ("Basic3ResNet-1-1-1", 0, 0),
    ("Basic4ResNet-1-1-2-1", 2, None), ("Basic4ResNet-1-1-2-1", 2, 1),
    ("Bottleneck4ResNet-1-2-1-1", 1, None), ("Bottleneck4ResNet-1-2-1-1", 1, 1),
    ("MobileNetV2-1-1-2-1-1", 2, None), ("MobileNetV2-1-1-2-1-1", 2, 1),
])
def test_zero_keeps_the_function_exactly(name, stage, position):
    before, after, x = grown(name, stage, "zero", position=position)
    index = len(before.stages[stage]) if position is None else position
    block = after.stages[stage][index]
    randomise(block, torch.Generator().manual_seed(1), affine=False)  # even its running statistics
    assert torch.count_nonzero(last_bn(block).weight) == 0 and torch.count_nonzero(last_bn(block).bias) == 0
    with torch.no_grad():
        assert torch.equal(before(x), after(x))


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_zero_keeps_the_function_property(data):
    family = data.draw(st.sampled_from(sorted(RESIDUAL)))
    depths = data.draw(st.lists(st.integers(1, 2), min_size=RESIDUAL[family], max_size=RESIDUAL[family]))
    width = data.draw(st.sampled_from([0.125, 0.25]))
    stage = data.draw(st.integers(0, RESIDUAL[family] - 1))
    position = data.draw(st.integers(1, depths[stage]) | st.none())
    seed = data.draw(st.integers(0, 2**16))
    name = "-".join([family, *map(str, depths)])
    before, after, x = grown(name, stage, "zero", position=position, seed=seed, width=width)
    assert after.depths[stage] == depths[stage] + 1
    with torch.no_grad():
        assert torch.equal(before(x), after(x))


def test_zero_on_a_plain_net_outputs_zeros():
    """No residual: ZeroInit silences the unit (ReLU(0) = 0), it does not keep the function."""
    before, after, x = grown("VGG-1-1-2-1-1", 2, "zero", image_size=32)
    outputs = []
    after.stages[2][2].register_forward_hook(lambda m, i, o: outputs.append(o))
    with torch.no_grad():
        y = after(x)
    assert torch.count_nonzero(outputs[0]) == 0 and not torch.allclose(y, before(x))


# --------------------------------------------------------------------------- he, uniform, gaussian


@pytest.mark.parametrize("init", ["he", "uniform", "gaussian"])
@pytest.mark.parametrize("name", ["Basic3ResNet-1-1-1", "MobileNetV2-1-1-1-1-1"])
def test_random_inits_change_the_function(name, init):
    before, after, x = grown(name, 1, init)
    with torch.no_grad():
        assert not torch.allclose(before(x), after(x), atol=1e-4)


def test_he_is_the_familys_block():
    model = build_model("Basic4ResNet-1-1-1-1", num_classes=5, width=0.25)
    torch.manual_seed(3)
    expected = copy.deepcopy(model).new_block(2).state_dict()
    torch.manual_seed(3)
    block = grow_depth(model, 2, init="he").stages[2][-1]
    assert all(torch.equal(v, expected[k]) for k, v in block.state_dict().items())
    assert torch.equal(block.bn2.weight, torch.ones_like(block.bn2.weight))


@pytest.mark.parametrize("name, attr", [("Basic3ResNet-1-1-1", "bn2"), ("Bottleneck4ResNet-1-1-1-1", "bn3"),
                                        ("Plain3Net-1-1-1", "bn"), ("VGG-1-1-1-1-2", "bn"),
                                        ("MobileNetV2-1-1-1-1-1", "bn3")])
def test_last_bn_is_autogrows(name, attr):
    model = build_model(name, num_classes=5, width=0.125)
    block = model.new_block(0)
    assert last_bn(block) is getattr(block, attr) and block.last_norm == attr  # declared by the block


def test_gaussian_draws_weight_and_bias_from_a_standard_normal():
    torch.manual_seed(0)
    model = build_model("Basic3ResNet-1-1-1", num_classes=5, width=4)  # 256 channels in stage 2
    block = grow_depth(model, 2, init="gaussian").stages[2][-1]
    for p in (block.bn2.weight, block.bn2.bias):
        assert abs(p.mean().item()) < 0.2 and 0.85 < p.std().item() < 1.15 and (p < 0).any()
    assert torch.equal(block.bn1.weight, torch.ones_like(block.bn1.weight))  # the rest: default


def test_uniform_draws_weight_and_bias_in_zero_one():
    torch.manual_seed(0)
    model = build_model("Basic3ResNet-1-1-1", num_classes=5, width=4)
    block = grow_depth(model, 2, init="uniform").stages[2][-1]
    for p in (block.bn2.weight, block.bn2.bias):
        assert p.min() >= 0 and p.max() <= 1 and p.min() < 0.05 and p.max() > 0.95
        assert abs(p.mean().item() - 0.5) < 0.06


def test_weight_only_variants():
    torch.manual_seed(0)
    model = build_model("Basic3ResNet-1-1-1", num_classes=5, width=0.5)
    block = grow_depth(model, 1, init=growth.how.GauInit(std=0.1, bias=False)).stages[1][-1]
    assert torch.equal(block.bn2.bias, torch.zeros_like(block.bn2.bias)) and block.bn2.weight.abs().max() < 0.6


# --------------------------------------------------------------------------- copy (FRAGrow)


@pytest.mark.parametrize("name, stage, position", [
    ("Basic4ResNet-1-2-1-1", 1, None), ("Basic4ResNet-1-3-1-1", 1, 2), ("Basic3ResNet-1-1-1", 0, None),
    ("MobileNetV2-1-2-1-1-1", 1, None), ("VGG-1-1-2-1-1", 2, None), ("Bottleneck4ResNet-1-1-2-1", 2, None),
])
def test_copy_equals_the_preceding_block(name, stage, position):
    before, after, _ = grown(name, stage, "copy", position=position, image_size=32)
    index = len(before.stages[stage]) if position is None else position
    source, block = after.stages[stage][index - 1], after.stages[stage][index]
    assert block is not source
    a, b = source.state_dict(), block.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)  # weights and BN statistics
    with torch.no_grad():
        last_bn(block).weight.add_(1.0)
    assert not torch.equal(last_bn(block).weight, last_bn(source).weight)  # no shared storage


@pytest.mark.parametrize("name, stage, position", [
    ("Basic3ResNet-1-1-1", 1, None),  # the first block downsamples (and pads the channels)
    ("Bottleneck4ResNet-1-1-1-1", 0, None),  # 64 -> 256 channels, no downsampling
    ("VGG-1-1-1-1-1", 4, None),  # 512 -> 512 channels, but pools
    ("MobileNetV2-1-1-1-1-1", 3, None),  # stride 1, but 64 -> 96 channels
    ("Basic3ResNet-1-1-1", 0, 0),  # no preceding block at all
])
def test_copy_falls_back_to_he(name, stage, position):
    torch.manual_seed(7)
    model = build_model(name, num_classes=5, width=0.125)
    twin = copy.deepcopy(model)
    torch.manual_seed(7)
    grow_depth(model, stage, init="copy", position=position)
    torch.manual_seed(7)
    grow_depth(twin, stage, init="he", position=position)
    a, b = model.state_dict(), twin.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- AdamInit


@pytest.fixture(scope="module")
def data():
    return growth.load_dataset("synthetic", num_train=128, num_test=64, device="cpu")


class Spy(AdamInit):
    """AdamInit that keeps the block as it was made, before its last BN is trained."""

    def make(self, model, stage, position):
        block = super().make(model, stage, position)
        self.made = {k: v.clone() for k, v in block.state_dict().items()}
        return block


def context(model, data, seed=0):
    return growth.GrowthContext(model=model, epoch=1, epochs=10, history=growth.History(), data=data,
                                cost=CostMeter(input_shape=data.input_shape), seed=seed)


def trained_model(data):
    growth.seed_everything(0)
    model = build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    growth.train(model, data, epochs=2, batch_size=32, lr=0.05, progress=False)
    return model


@pytest.mark.parametrize("start", ["zero", "default"])
def test_adam_trains_only_the_last_bn_and_charges_its_macs(data, start):
    model = trained_model(data).train()
    old = {n: p.detach().clone() for n, p in model.named_parameters()}
    shallow = forward_macs(model, data.input_shape)
    ctx = context(model, data)
    spy = Spy(start=start)
    assert (spy.lr, spy.weight_decay, spy.max_epochs, spy.tolerance) == (1e-3, 5e-4, 10, 0.5)
    grow_depth(model, 1, init=spy, ctx=ctx)
    assert model.spec == "Basic3ResNet-1-2-1" and model.training
    assert all(p.requires_grad and p.grad is None for p in model.stages[1][1].parameters())
    for n, p in model.named_parameters():  # every old parameter untouched
        if n in old:
            assert torch.equal(p, old[n]), n
    block = model.stages[1][1]
    changed = {k for k, v in block.named_parameters() if not torch.equal(v, spy.made[k])}
    assert changed == {"bn2.weight", "bn2.bias"}
    start_weight = torch.zeros_like(block.bn2.weight) if start == "zero" else torch.ones_like(block.bn2.weight)
    assert torch.equal(spy.made["bn2.weight"], start_weight) and torch.count_nonzero(spy.made["bn2.bias"]) == 0

    (record,) = ctx.state["adam_init"]
    epochs, accs = record["epochs"], record["accs"]
    assert 1 <= epochs <= 10 and len(accs) == epochs
    assert record["target_acc"] == record["baseline_acc"] - 0.5
    assert all(a < record["target_acc"] for a in accs[:-1])  # the rule: stop at the first epoch within 0.5
    assert record["reached"] == (accs[-1] >= record["target_acc"]) and (record["reached"] or epochs == 10)
    deep = forward_macs(build_model("Basic3ResNet-1-2-1", num_classes=data.num_classes, width=0.25),
                        data.input_shape)
    n = data.num_train
    assert ctx.cost.extra_macs == {"AdamInit": n * shallow + epochs * n * 3 * deep + epochs * n * deep}
    assert record["samples"] == epochs * n


def test_adam_baseline_is_the_eval_mode_accuracy_on_the_training_split(data):
    model = trained_model(data)
    _, expected = growth.evaluate(model, data.eval_loader("train", 64))
    ctx = context(model, data)
    grow_depth(model, 0, init="adam", ctx=ctx)
    assert ctx.state["adam_init"][0]["baseline_acc"] == expected


@pytest.mark.parametrize("accs, epochs, reached", [
    ([40.0, 49.4, 49.5, 60.0], 3, True),  # 49.5 is within 0.5 points of 50: stop there
    ([10.0] * 12, 10, False),  # never within: give up after 10 epochs
    ([55.0, 10.0], 1, True),  # at least one epoch, however good the start
])
def test_adam_stop_rule(data, monkeypatch, accs, epochs, reached):
    scripted = iter([(0.0, 50.0)] + [(0.0, a) for a in accs])  # the shallower net's, then one per epoch
    monkeypatch.setattr(growth.how.depth_init, "evaluate", lambda model, loader: next(scripted))
    growth.seed_everything(0)
    model = build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.125)
    ctx = context(model, data)
    grow_depth(model, 2, init="adam", ctx=ctx)
    (record,) = ctx.state["adam_init"]
    assert (record["epochs"], record["reached"], record["accs"]) == (epochs, reached, accs[:epochs])
    assert record["samples"] == epochs * data.num_train and record["target_acc"] == 49.5


def test_adam_needs_a_context():
    model = build_model("Basic3ResNet-1-1-1", num_classes=5, width=0.25)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="ctx=None: init='adam'"):
        grow_depth(model, 0, init="adam")
    assert model.spec == "Basic3ResNet-1-1-1" and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="max_epochs=0"):
        AdamInit(max_epochs=0)
    with pytest.raises(ValueError, match="start='one'"):
        AdamInit(start="one")


def test_adam_through_the_training_loop(data):
    growth.seed_everything(0)
    model = build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    grower = growth.Grower(growth.when.Periodic(1), growth.where.RoundRobin([2, 1, 1]),
                           growth.how.AddBlock(init=AdamInit(max_epochs=1)))
    run = growth.train(model, data, epochs=2, batch_size=64, lr=0.05, grower=grower, progress=False)
    (event,) = run.history.events
    assert event["extra_macs"] > 0 and run.history.meta["cost"]["extra_macs"]["AdamInit"] == event["extra_macs"]
    assert grower.state["adam_init"][0]["epochs"] == 1


def test_registry_names():
    assert set(DEPTH_INITS) == {"zero", "uniform", "gaussian", "adam", "he", "copy", "mogrow"}
    assert all(cls.name == name for name, cls in DEPTH_INITS.items())


def test_repr_names_the_settings_not_the_registry_name():
    assert repr(ZeroInit()) == "ZeroInit(bias=True)"
    assert repr(AdamInit(max_epochs=3)).startswith("AdamInit(lr=0.001, weight_decay=0.0005, max_epochs=3,")
