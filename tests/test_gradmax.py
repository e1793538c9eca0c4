"""GradMax (growth.how.gradmax): its grow matrix is the true gradient map, found by autograd one fan-out
coordinate at a time (linear, conv with strides, a residual group with several producers and
consumers, a pooled conv -> Linear); after growth the new fan-in's gradient norm is
sqrt(sum of the top-k squared singular values) and beats random directions; the function is kept;
the new units learn behind a ReLU with derivative 1 at 0; more units than the rank, unsupported
groups, costs and bad input follow their documented rules."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import growth
from growth.measure.cost import CostMeter
from growth.data.core import TensorSplits
from growth.how import AddWidth, GradMax, GradMaxRandom, grow_width
from growth.how.gradmax import fan_out_blocks, grow_matrices, install_fan_out, top_singular
from growth.how.bridges import group_bridges
from growth.how.width_statistics import grow_batches
from growth.models import ReLU1, build_model, relu_one_at_zero

pytestmark = pytest.mark.usefixtures("one_thread")

EPS_BN = 1e-5  # a fresh BatchNorm channel in eval mode divides by sqrt(1 + eps)


def tiny_data(size: int, n: int = 24, classes: int = 3) -> TensorSplits:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(n, 3, size, size, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return TensorSplits("tiny", train=(x, y), val=(x[:0], y[:0]), test=(x[:4], y[:4]), num_classes=classes,
                        classes=[str(c) for c in range(classes)], mean=(0.0,) * 3, std=(1.0,) * 3, flip=False, pad=0)


def model_of(name: str, size: int, width: float) -> nn.Module:
    torch.manual_seed(0)
    model = build_model(name, num_classes=3, image_size=size, width=width).double()
    relu_one_at_zero(model)
    with torch.no_grad():  # BN statistics away from 0 / 1
        for _ in range(2):
            model.train()(torch.randn(6, 3, size, size, dtype=torch.float64))
    return model.eval()


def context(model: nn.Module, data, epoch: int = 1) -> growth.GrowthContext:
    return growth.GrowthContext(model=model, epoch=epoch, epochs=4, history=growth.History(), data=data,
                                cost=CostMeter(input_shape=data.input_shape), seed=3)


def group(model, name):
    return next(g for g in model.channel_groups() if g.name == name)


def new_fan_in_grads(model, grp, old: int, data, ctx, batch_size: int) -> torch.Tensor:
    """The gradient of the mean loss over the grow batch w.r.t. every producer's new rows, flattened."""
    x, y = next(iter(grow_batches(ctx, batch_size, 1, augment=False)))
    weights = [model.get_submodule(p).weight for p in grp.producers]
    loss = F.cross_entropy(model.eval()(x.double()), y)
    grads = torch.autograd.grad(loss, weights)
    return torch.cat([g[old:].reshape(g.shape[0] - old, -1) for g in grads], dim=1)


class Fixed(GradMaxRandom):
    """Zero fan-in, fan-out set to given joint vectors (the brute-force probe)."""

    def __init__(self, vectors):
        super().__init__()
        self.vectors = vectors

    def prepare(self, model, groups, plans, context, generator):
        for g in groups:
            if plans[g.name].added:
                install_fan_out(model, g, plans[g.name], self.vectors, fan_out_blocks(model, g))
        return {}


def brute_force(model, grp, data, ctx, batch_size: int, norms_on_path: int) -> torch.Tensor:
    """G by autograd: grow one unit, set its fan-out to each unit vector in turn, read the fan-in gradient."""
    old = group_size = model.get_submodule(grp.producers[0]).weight.shape[0]
    n = sum(size for _, size in fan_out_blocks(model, grp))
    grown = __import__("copy").deepcopy(model)
    grow_width(grown, channels={grp.name: group_size + 1}, method=Fixed(torch.zeros(1, n, dtype=torch.float64)))
    columns = []
    for j in range(n):
        unit = torch.zeros(1, n, dtype=torch.float64)
        unit[0, j] = 1.0
        with torch.no_grad():
            start = 0
            for name, size in fan_out_blocks(model, grp):
                layer = grown.get_submodule(name)
                column = unit[0, start:start + size].reshape(layer.weight.shape[0], *layer.weight.shape[2:])
                layer.weight[:, old] = column
                start += size
        columns.append(new_fan_in_grads(grown, grp, old, data, ctx, batch_size)[0])
    return torch.stack(columns, dim=1) * math.sqrt(1 + EPS_BN) ** norms_on_path


def method_matrix(model, grp, data, ctx, batch_size):
    found = group_bridges(model, grp)
    batches = grow_batches(ctx, batch_size, 1, augment=False)
    matrices, samples, macs = grow_matrices(model, [grp], batches, {grp.name: found.bridges})
    assert samples == batch_size and macs > 0
    return matrices[grp.name].matrix


# --------------------------------------------------------------------------- the grow matrix is the gradient map


@pytest.mark.parametrize("name, size, width, grp, norms", [
    ("MLP", 4, 0.02, "stages.0.1", 0),                    # linear -> linear, no norm
    ("ResNet-20", 8, 0.25, "stages.0.0.conv1", 1),         # conv -> conv inside a block
    ("ResNet-18", 8, 1 / 16, "stem", 1),                   # residual group: 2 producers, 3 consumers, stride 2
    ("ResNet-18", 8, 1 / 16, "stages.3.0", 1),             # the last group: conv -> pool -> Linear
    ("WRN-10-1", 8, 0.25, "stages.1.0.conv1", 1),          # pre-activation block, stride 2 producer
])
def test_grow_matrix_equals_the_gradient_found_by_autograd(name, size, width, grp, norms):
    model = model_of(name, size, width)
    data = tiny_data(size)
    ctx = context(model, data)
    g = group(model, grp)
    expected = brute_force(model, g, data, ctx, 8, norms)
    found = method_matrix(model, g, data, ctx, 8)
    assert found.shape == expected.shape
    assert torch.allclose(found, expected, rtol=1e-7, atol=1e-10 * expected.abs().max().item())
    assert expected.abs().max() > 0


@pytest.mark.parametrize("m, n, k", [(30, 12, 4), (12, 30, 4), (9, 7, 7), (9, 7, 20)])
def test_top_singular_matches_a_full_svd(m, n, k):
    matrix = torch.randn(m, n, dtype=torch.float64, generator=torch.Generator().manual_seed(m * n))
    values, vectors, macs = top_singular(matrix, k)
    _, full_values, full_vh = torch.linalg.svd(matrix, full_matrices=False)
    taken = min(k, m, n)
    assert values.shape == (taken,) and vectors.shape == (taken, n) and macs > 0
    assert torch.allclose(values, full_values[:taken], rtol=1e-10)
    assert torch.allclose((vectors * full_vh[:taken]).sum(dim=1).abs(), torch.ones(taken, dtype=torch.float64))


def test_the_residual_group_has_a_bridge_from_every_producer_to_every_later_consumer():
    model = model_of("ResNet-18", 8, 1 / 16)
    found = group_bridges(model, group(model, "stem"))
    pairs = {(b.producer, b.consumer) for b in found.bridges}
    assert ("stem.conv", "stages.0.0.conv1") in pairs and ("stages.0.0.conv2", "stages.0.0.conv1") not in pairs
    assert ("stages.0.1.conv2", "stages.1.0.shortcut.0") in pairs and not found.problems and not found.dead


# --------------------------------------------------------------------------- after growth


def grow_one_group(method, name="MLP", size=4, width=0.04, grp="stages.0.2", added=3, batch=8, epoch=1):
    model = model_of(name, size, width)
    data = tiny_data(size)
    ctx = context(model, data, epoch)
    old = model.get_submodule(group(model, grp).producers[0]).weight.shape[0]
    x = torch.randn(5, 3, size, size, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)
    record = grow_width(model, channels={grp: old + added}, method=method, context=ctx, generator=torch.Generator())
    with torch.no_grad():
        after = model(x)
    return model, record, old, data, ctx, before, after


def test_new_fan_in_gradient_norm_is_the_root_of_the_top_squared_singular_values():
    method = GradMax(batch_size=8, augment=False, scale=1.0, scale_method="fixed")
    model, record, old, data, ctx, before, after = grow_one_group(method)
    info = record.prepared["groups"]["stages.0.2"]
    assert info["from_svd"] == 3 and info["rank"] >= 3
    grads = new_fan_in_grads(model, group(model, "stages.0.2"), old, data, ctx, 8)
    assert grads.norm().item() == pytest.approx(math.sqrt(sum(v * v for v in info["singular_values"])), rel=1e-9)
    assert torch.equal(before, after)  # zero fan-in: the function is kept exactly
    random_model, *_ = grow_one_group(GradMaxRandom(scale=1.0, scale_method="fixed"))
    random_grads = new_fan_in_grads(random_model, group(random_model, "stages.0.2"), old, data, ctx, 8)
    assert random_grads.norm() < grads.norm()
    for seed in range(5):  # random orthonormal fan-outs of the same norm do no better
        q, _ = torch.linalg.qr(torch.randn(info["shape"][1], 3, dtype=torch.float64,
                                           generator=torch.Generator().manual_seed(seed)))
        probe, *_ = grow_one_group(Fixed(q.T))
        assert new_fan_in_grads(probe, group(probe, "stages.0.2"), old, data, ctx, 8).norm() < grads.norm()


def test_fan_outs_have_the_authors_norm_and_new_fan_in_is_zero():
    method = GradMax(batch_size=8, augment=False)  # 0.5 x mean existing fan-out norm
    model = model_of("MLP", 4, 0.04)
    reference = model.get_submodule("stages.0.3.fc").weight.detach().clone()
    mean_norm = reference.norm(dim=0).mean().item()
    grown, record, old, *_ = grow_one_group(method)
    consumer = grown.get_submodule("stages.0.3.fc").weight.detach()
    assert torch.allclose(consumer[:, old:].norm(dim=0), torch.full((3,), 0.5 * mean_norm, dtype=torch.float64))
    assert torch.equal(consumer[:, :old], reference)
    producer = grown.get_submodule("stages.0.2.fc")
    assert torch.count_nonzero(producer.weight[old:]) == 0 and torch.count_nonzero(producer.bias[old:]) == 0


def test_new_units_learn_behind_relu1_and_gradmax_refuses_pytorch_relu():
    model, record, old, data, ctx, *_ = grow_one_group(GradMax(batch_size=8, augment=False))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = data.tensors("train")
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model.train()(x.double()), y).backward()
        optimizer.step()
    assert torch.count_nonzero(model.get_submodule("stages.0.2.fc").weight[old:]) > 0
    plain = build_model("MLP", num_classes=3, image_size=4, width=0.04)
    with pytest.raises(ValueError, match=r"PyTorch's ReLU, derivative 0 at 0.*relu_one_at_zero\(model\)"):
        GradMax().check(plain)
    with pytest.raises(ValueError, match=r"PyTorch's ReLU"):
        AddWidth(width=0.08, method="gradmax").check(plain)


def test_relu1_has_relus_values_and_derivative_one_at_zero():
    x = torch.tensor([-2.0, -0.0, 0.0, 3.0], requires_grad=True)
    y = ReLU1()(x)
    assert torch.equal(y.detach(), torch.relu(x.detach()))
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0]
    model = build_model("ResNet-20", num_classes=3, width=0.25)
    assert relu_one_at_zero(model) == sum(isinstance(m, nn.ReLU) for m in
                                          build_model("ResNet-20", num_classes=3, width=0.25).modules())
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())


def test_more_units_than_the_rank_take_random_directions():
    method = GradMax(batch_size=2, augment=False, scale=1.0, scale_method="fixed")  # rank <= 2 samples
    model, record, old, *_ = grow_one_group(method, added=5)
    info = record.prepared["groups"]["stages.0.2"]
    assert info["rank"] <= 2 and info["from_svd"] == info["rank"]
    columns = model.get_submodule("stages.0.3.fc").weight.detach()[:, old:]
    assert torch.allclose(columns.norm(dim=0), torch.ones(5, dtype=torch.float64))
    assert (columns[:, info["rank"]:] >= 0).all()  # the authors' random rule: uniform [0, 1), then unit norm


def test_a_max_pool_between_is_refused_or_grown_at_random():
    model = model_of("CNN4", 32, 1 / 16)
    with pytest.raises(ValueError, match=r"not defined on group stages.0.0 of CNN4.*MaxPool2d.*unsupported='random'"):
        GradMax().check(model)
    data = tiny_data(32)
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)
    record = grow_width(model, width=0.125, method=GradMax(unsupported="random", batch_size=8),
                        context=context(model, data))
    reasons = [info["random"] for info in record.prepared["groups"].values()]
    assert len(reasons) == 4 and all("MaxPool2d" in r for r in reasons[:3]), reasons
    with torch.no_grad():
        assert torch.allclose(model(x), before, rtol=1e-12, atol=1e-12)


def test_mobilenet_grows_at_random_with_identity_depthwise_kernels():
    model = model_of("MobileNetV1", 32, 0.125)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)
    grow_width(model, width=0.25, method="gradmax-random", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model(x), before, rtol=1e-12, atol=1e-12)
    dw = model.stages[0][0].dw.weight.detach()
    assert torch.all(dw[-1, 0, 1, 1] == 1) and torch.count_nonzero(dw[-1]) == 1


# --------------------------------------------------------------------------- the operator: cost, record, errors


def test_add_width_charges_the_growth_step_and_records_it():
    model = model_of("ResNet-20", 8, 0.25)
    data = tiny_data(8)
    ctx = context(model, data, epoch=2)
    ctx.state = {}
    add = AddWidth(width=0.5, method=GradMax(batch_size=8, batches=2))
    add(ctx, add.where(ctx))
    record = ctx.state["width_growth"][-1]
    samples = 16
    assert record.overhead_macs == ctx.cost.extra_macs["gradmax growth step"]
    assert record.overhead_macs > samples * 3 * growth.measure.cost.forward_macs(build_model(
        "ResNet-20", num_classes=3, image_size=8, width=0.25), (3, 8, 8))
    assert record.overhead_seconds > 0 and record.width == (0.25, 0.5)
    assert all(info["from_svd"] >= 1 for info in record.prepared["groups"].values())


def test_same_seed_and_epoch_same_growth():
    def run():
        model, record, *_ = grow_one_group(GradMax(batch_size=4), epoch=3)
        return model.state_dict()
    a, b = run(), run()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_statistics_pass_changes_nothing():
    model = model_of("ResNet-20", 8, 0.25).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    data = tiny_data(8)
    found = group_bridges(model, group(model, "stem"))
    grow_matrices(model, [group(model, "stem")], grow_batches(context(model, data), 4, 2), {"stem": found.bridges})
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), r"batch_size=0 is not allowed: give a positive integer"),
    (dict(batches=1.5), r"batches=1.5 is not allowed"),
    (dict(scale=-1.0), r"scale=-1.0 is not allowed: give a finite number > 0"),
    (dict(scale_method="max"), r"scale_method='max' is unknown: choose one of mean_norm, fixed"),
    (dict(unsupported="skip"), r"unsupported='skip' is unknown: choose one of error, random"),
])
def test_bad_settings_fail_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradMax(**kwargs)


def test_gradmax_without_data_fails_before_any_change():
    model = model_of("MLP", 4, 0.04)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"method 'gradmax' looks at training data.*grow_width\(\.\.\., context=ctx\)"):
        grow_width(model, width=0.08, method="gradmax")
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
