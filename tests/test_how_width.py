"""grow_width and AddWidth: every width-growable family keeps its function under net2net / vt at noise 0,
reaches the shapes of build_model(width=new), keeps device / dtype / mode, trains afterwards; the
optimizer's state survives growth zero-padded; bad input fails before any change."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import growth
from growth.how import WIDTH_METHODS, AddWidth, VarianceTransfer, VTConstraint, grow_width
from growth.models import ZeroPadShortcut, build_model, width_families
from growth.optim import build_optimizer, named_state, rebuild_optimizer

FAMILIES = ["ResNet-20", "ResNet-18", "ResNet-50", "VGG-11", "VGG-19", "MobileNetV1", "MobileNetV2-1-1-1-1-1",
            "WRN-16-2", "CNN4", "MLP"]
CHEAP = ["ResNet-20", "VGG-11", "MobileNetV1", "MobileNetV2-1-1-1-1-1", "WRN-10-1", "CNN4", "MLP", "Plain3Net-1-1-1"]
# VT keeps the function when the layers no BatchNorm reads keep their old weights (the default rescales them)
# the methods that need no data (gradmax: tests/test_gradmax.py)
DATA_FREE = [name for name, cls in WIDTH_METHODS.items() if not cls.needs_data]
PRESERVING = {"net2net": "net2net", "gradmax-random": "gradmax-random", "vt": VarianceTransfer(rescale_without_bn=False),
              "vt-constraint": VTConstraint(rescale_without_bn=False)}


pytestmark = pytest.mark.usefixtures("one_thread")


def size_of(name: str) -> int:
    return 8 if name == "MLP" else 32


def trained(name: str, width: float = 0.25, dtype=torch.float64) -> nn.Module:
    """A small model whose BN running statistics are no longer 0 / 1 (three train-mode passes)."""
    torch.manual_seed(0)
    size = size_of(name)
    model = build_model(name, num_classes=5, image_size=size, width=width).to(dtype).train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, size, size, dtype=dtype) * 2 + 0.5)
    return model


def inputs(model: nn.Module, dtype=torch.float64) -> torch.Tensor:
    size = model.image_size
    return torch.randn(3, 3, size, size, dtype=dtype, generator=torch.Generator().manual_seed(1))


def outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    training = model.training
    with torch.no_grad():
        y = model.eval()(x)
    model.train(training)
    return y


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def reference_shapes(model: nn.Module, width: float) -> dict[str, tuple[int, ...]]:
    return shapes(build_model(model.spec, num_classes=model.num_classes, image_size=model.image_size, width=width))


def preserved(before: torch.Tensor, after: torch.Tensor) -> bool:
    return torch.allclose(after, before, rtol=1e-9, atol=1e-9 * before.abs().max().item())


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- every family


def test_the_zoo_families_all_grow_in_width():
    assert {"Basic3ResNet", "Basic4ResNet", "Bottleneck4ResNet", "VGG", "MobileNetV1", "MobileNetV2", "WRN",
            "CNN4", "MLP", "Plain3Net", "Plain4Net"} <= set(width_families())
    assert list(WIDTH_METHODS) == ["random", "net2net", "vt", "vt-constraint", "gradmax-random", "gradmax", "splitting", "firefly-simple", "firefly", "firefly-split"]


@pytest.mark.parametrize("name", FAMILIES)
def test_function_and_shapes_per_family(name):
    """net2net / vt / vt-constraint at noise 0 keep the function exactly; random and noise change it."""
    model = trained(name)
    x = inputs(model)
    before = outputs(model, x)
    expected = reference_shapes(model, 0.5)
    for method in [*PRESERVING, "random"]:
        for noise in (0.0, 1e-3) if method != "random" else (0.0,):
            grown = copy.deepcopy(model)
            record = grow_width(grown, width=0.5, method=PRESERVING.get(method, method), noise=noise, generator=gen())
            assert shapes(grown) == expected, (method, noise)
            assert grown.width == 0.5 and grown.spec == model.spec and grown.training
            assert record.method == method and record.width == (0.25, 0.5)
            after = outputs(grown, x)
            assert preserved(before, after) == (method != "random" and noise == 0), (method, noise)
            grown.channel_groups()  # still consistent


@pytest.mark.parametrize("name", FAMILIES)
def test_a_training_step_after_growth(name):
    model = trained(name, dtype=torch.float32)
    grow_width(model, width=0.5, method="vt", noise=1e-3, generator=gen())
    optimizer = build_optimizer(model, "sgd", lr=0.05, weight_decay=0.0)
    old = {n: p.detach().clone() for n, p in model.named_parameters()}
    x = inputs(model, torch.float32)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2]))
    loss.backward()
    optimizer.step()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(not torch.equal(old[n], p) for n, p in model.named_parameters())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(CHEAP), method=st.sampled_from(["net2net", "vt"]),
       old=st.integers(4, 9), extra=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_function_preserved_at_random_widths(name, method, old, extra, seed):
    """Any width, odd numbers of new channels included, keeps the function and reaches the target shapes."""
    w0, w1 = old / 32, (old + extra) / 32
    model = trained(name, width=w0)
    x = inputs(model)
    before = outputs(model, x)
    grow_width(model, width=w1, method=PRESERVING[method], generator=gen(seed))
    assert shapes(model) == reference_shapes(model, w1)
    assert preserved(before, outputs(model, x))


def test_two_growth_steps_and_per_group_channels():
    model = trained("ResNet-20", width=0.25)
    x = inputs(model)
    before = outputs(model, x)
    grow_width(model, width=0.375, method=PRESERVING["vt"], generator=gen(1))
    grow_width(model, width=0.5, method="net2net", generator=gen(2))
    assert shapes(model) == reference_shapes(model, 0.5)
    record = grow_width(model, channels={"stages.0.0.conv1": 11, "stages.2.0": 35}, method=PRESERVING["vt"],
                        generator=gen(3))
    assert model.width is None and record.width == (0.5, None)
    assert record.groups["stages.0.0.conv1"] == (8, 11) and record.groups["stages.2.0"] == (32, 35)
    assert model.stages[0][0].conv1.weight.shape == (11, 8, 3, 3)
    assert model.head.fc.weight.shape == (5, 35)
    assert preserved(before, outputs(model, x))


# --------------------------------------------------------------------------- placement, record, structure


@pytest.mark.parametrize("method", DATA_FREE)
def test_dtype_and_mode_follow_the_model(method):
    model = trained("ResNet-20", dtype=torch.float64).eval()
    grow_width(model, width=0.5, method=method, generator=gen())
    assert all(t.dtype == torch.float64 for t in model.parameters())
    assert not any(m.training for m in model.modules())
    model = trained("MobileNetV2-1-1-1-1-1", dtype=torch.float32).train()
    grow_width(model, width=0.5, method=method, generator=gen())
    assert all(t.dtype == torch.float32 and t.device.type == "cpu" for t in model.state_dict().values()
               if t.is_floating_point())
    assert all(m.training for m in model.modules())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("method", DATA_FREE)
def test_on_the_gpu(method):
    model = trained("ResNet-20").cuda()
    x = inputs(model).cuda()
    before = outputs(model, x)
    grow_width(model, width=0.5, method=method, generator=torch.Generator(device="cuda").manual_seed(0))
    assert all(t.device.type == "cuda" for t in model.state_dict().values())
    assert preserved(before, outputs(model, x)) == (method != "random")


def test_record_lists_every_parameter_and_the_rescaled_ones():
    model = trained("ResNet-20")
    old = {n: tuple(p.shape) for n, p in model.named_parameters()}
    record = grow_width(model, width=0.5, method="vt", generator=gen())
    assert set(record.shapes) == set(old)
    assert all(record.shapes[n] == (old[n], tuple(p.shape)) for n, p in model.named_parameters())
    assert "head.fc.weight" in record.grown() and "stages.0.0.bn1.weight" in record.grown()
    # hidden convs by sqrt(C_old/C_new), the logits by C_old/C_new (Table 1), the stem (input layer) not at all
    assert record.rescaled["stages.0.0.conv1.weight"] == pytest.approx(math.sqrt(0.5))
    assert record.rescaled["head.fc.weight"] == pytest.approx(0.5) and "stem.conv.weight" not in record.rescaled
    assert model.stages[0][0].bn1.eps == pytest.approx(1e-5 * 0.5)


def test_vt_pairs_cancel_and_old_weights_rescaled():
    model = trained("CNN4")
    conv = model.stages[1][0].conv
    old_w = conv.weight.detach().clone()
    old_mean = model.stages[1][0].bn.running_mean.clone()
    grow_width(model, width=0.5, method="vt", generator=gen())
    w = model.stages[1][0].conv.weight.detach()
    c = math.sqrt(old_w.shape[1] / w.shape[1])
    assert torch.allclose(w[:32, :16], old_w * c)
    assert torch.equal(w[32::2], w[33::2])  # fan-in V, V
    assert torch.equal(w[:32, 16::2], -w[:32, 17::2])  # fan-out Z, -Z
    assert torch.allclose(model.stages[1][0].bn.running_mean[:32], old_mean * c)
    assert w[32:].std().item() == pytest.approx(w.shape[1] ** -0.5 * 9**-0.5, rel=0.2)  # muP: 1/fan_in


def test_vt_by_default_rescales_the_logits_as_the_paper_and_keeps_the_predictions():
    """The paper's rule: the logits layer (no BatchNorm reads it) is rescaled by C_old / C_new with its
    bias, so a ResNet's logits are exactly halved when its width doubles, and its predictions kept."""
    model = trained("ResNet-20")
    x = inputs(model)
    before = outputs(model, x)
    fc = model.head.fc.weight.detach().clone()
    record = grow_width(model, width=0.5, method="vt", generator=gen())
    assert record.rescaled["head.fc.weight"] == pytest.approx(0.5)  # C_old / C_new (Table 1)
    assert torch.allclose(model.head.fc.weight[:, :16], fc * 0.5)
    assert "stem.conv.weight" not in record.rescaled  # the input layer never
    after = outputs(model, x)
    assert preserved(before * 0.5, after) and torch.equal(after.argmax(1), before.argmax(1))
    kept = trained("ResNet-20")
    record = grow_width(kept, width=0.5, method=VarianceTransfer(rescale_without_bn=False), generator=gen())
    assert "head.fc.weight" not in record.rescaled and preserved(before, outputs(kept, x))


def test_vt_constraint_sets_the_measured_variance():
    model = trained("CNN4")
    record = grow_width(model, width=0.5, method=VTConstraint(), generator=gen())
    w = model.stages[2][0].conv.weight.detach()
    assert w[:64, :32].var(unbiased=False).item() == pytest.approx(1 / (w.shape[1] * 9), rel=1e-6)
    assert "stages.0.0.conv.weight" in record.rescaled  # the input layer too
    with pytest.raises(ValueError, match="target='bad'.*mup, unit"):
        VTConstraint(target="bad")


def test_net2net_copies_units_and_option_a_index_stays_a_placement():
    model = trained("ResNet-20")
    grow_width(model, width=0.5, method="net2net", generator=gen())
    for sc in (m for m in model.modules() if isinstance(m, ZeroPadShortcut)):
        assert sc.index.shape == (sc.in_channels,) and len(set(sc.index.tolist())) == sc.in_channels
        assert int(sc.index.max()) < sc.out_channels
    bn = model.stem.bn
    rows = model.stem.conv.weight.detach()
    for j in range(4, 8):  # every new unit is a copy of an old one (fan-in and BN)
        i = next(i for i in range(4) if torch.equal(rows[j], rows[i]))
        assert bn.running_var[j] == bn.running_var[i] and bn.weight[j] == bn.weight[i]


def test_equal_width_is_a_no_op():
    model = trained("VGG-11")
    snap = copy.deepcopy(model.state_dict())
    record = grow_width(model, width=0.25, method="vt")
    assert record.grown() == [] and all(torch.equal(v, snap[k]) for k, v in model.state_dict().items())


# --------------------------------------------------------------------------- optimizer state


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_optimizer_state_kept_in_the_old_slice_and_zero_in_the_new(optimizer):
    model = trained("ResNet-20", dtype=torch.float32)
    opt = build_optimizer(model, optimizer, lr=1e-2, weight_decay=0.0)
    x = inputs(model, torch.float32)
    for _ in range(2):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    keys = ["momentum_buffer"] if optimizer == "sgd" else ["exp_avg", "exp_avg_sq"]
    before = {n: {k: s[k].clone() for k in keys} for n, (_, s) in named_state(opt, model).items()}
    old_state = named_state(opt, model)
    grow_width(model, width=0.5, method="vt", generator=gen())
    new = rebuild_optimizer(opt, old_state, model)
    state = named_state(new, model)
    assert set(state) == set(before)
    for name, param in model.named_parameters():
        for key in keys:
            value = state[name][1][key]
            old = before[name][key]
            corner = tuple(slice(0, s) for s in old.shape)
            assert value.shape == param.shape
            assert torch.equal(value[corner], old)
            rest = torch.ones_like(value, dtype=torch.bool)
            rest[corner] = False
            assert not value[rest].any()
    if optimizer == "adam":
        assert all(float(s["step"]) == 2 for _, s in state.values())
    assert rebuild_optimizer(opt, old_state, model, reset=True).state == {}
    new.zero_grad()
    model(x).square().sum().backward()
    new.step()  # the carried state fits the grown parameters


# --------------------------------------------------------------------------- the operator in the loop


def test_add_width_grows_on_a_schedule():
    model = trained("ResNet-20", dtype=torch.float32)
    op = AddWidth(width=[0.375, 0.5], method="net2net", noise=1e-3)
    grower = growth.Grower(lambda ctx: True, op.where, op)
    history = growth.History()
    for epoch in (1, 2, 3):
        ctx = growth.GrowthContext(model=model, epoch=epoch, epochs=4, history=history)
        model, event = grower.step(ctx)
        if epoch < 3:
            assert event["kind"] == "grow" and event["method"].endswith("add-width(net2net)")
            assert model.width == [0.375, 0.5][epoch - 1]
    assert event is None and grower.finished
    assert [r.width for r in grower.state["width_growth"]] == [(0.25, 0.375), (0.375, 0.5)]
    assert shapes(model) == reference_shapes(model, 0.5)


def test_add_width_is_reproducible():
    def run():
        model = trained("MLP", dtype=torch.float32)
        ctx = growth.GrowthContext(model=model, epoch=2, epochs=4, history=growth.History(), seed=7)
        AddWidth(width=0.5, noise=1e-3)(ctx, None)
        return model.state_dict()
    a, b = run(), run()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("method", DATA_FREE)
def test_a_generator_leaves_the_global_rng_and_init_untouched(method):
    """With a generator, growth draws nothing from the global RNG (the meta reference it builds for the
    target shapes runs no initialiser), and nn.init still works afterwards."""
    model = trained("ResNet-20")
    torch.manual_seed(11)
    state = torch.get_rng_state()
    grow_width(model, width=0.5, method=method, noise=1e-3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)
    weight = torch.zeros(64, 64)
    nn.init.normal_(weight)
    assert weight.std() > 0.5


# --------------------------------------------------------------------------- errors before any change


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=0.125), r"width=0.125 is smaller than the model's width 0.25.*>= 0.25"),
    (dict(width=-1.0), r"width=-1.0 is not allowed"),
    (dict(width=0.5, method="wider"), r"method='wider' is unknown: choose one of random, net2net, vt, vt-constraint"),
    (dict(width=0.5, noise=-0.1), r"noise=-0.1 is not allowed: give a finite number >= 0"),
    (dict(channels={"nope": 9}), r"channels names unknown group\(s\) 'nope': the groups of .* are stem, "),
    (dict(channels={"stem": 2}), r"channels\['stem'\]=2 is not allowed: give an integer >= the group's current 4"),
    (dict(channels={"stages.0.0.conv1": 6, "stem": 8}),
     r"option-A shortcut stages.1.0.shortcut would get 4 new input channels but its output group stages.1.0 only 0"),
    (dict(), r"give exactly one of them"),
    (dict(width=0.5, channels={"stem": 5}), r"give exactly one of them"),
])
def test_bad_arguments_fail_before_any_change(kwargs, match):
    model = trained("ResNet-20")
    snap = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=match):
        grow_width(model, **kwargs)
    assert model.width == 0.25
    assert list(snap) == list(model.state_dict())
    assert all(torch.equal(v, snap[k]) for k, v in model.state_dict().items())


def test_a_width_that_rewires_the_model_is_refused():
    model = build_model("MobileNetV2-1-1-1-1-1", num_classes=5, width=1 / 32)  # 16 and 24 channels both round to 1
    with pytest.raises(ValueError, match=r"width=0.0625: MobileNetV2-1-1-1-1-1 at that width is wired differently"):
        grow_width(model, width=2 / 32)


def test_a_model_without_channel_groups_is_refused():
    with pytest.raises(ValueError, match=r"model='Sequential' does not grow in width: width-growable families are "
                                         r".*Basic3ResNet"):
        grow_width(nn.Sequential(nn.Linear(3, 3)), width=2.0)


def test_add_width_checks_its_arguments():
    with pytest.raises(ValueError, match="method='bad' is unknown"):
        AddWidth(width=0.5, method="bad")
    with pytest.raises(ValueError, match=r"width=\[0.5, 0.25\] is not allowed: give a width > 0 or increasing"):
        AddWidth(width=[0.5, 0.25])
    with pytest.raises(ValueError, match="noise=-1 is not allowed"):
        AddWidth(width=0.5, noise=-1)
