"""App. H's dynamic orthogonalised SGD (growth.optim.osgd): the blend by hand, the old data's gradient epoch,
and lambda's annealing inside a run."""
from __future__ import annotations

import copy

import pytest
import torch

import growth
from growth.data.core import TensorSplits
from growth.how import AddWidth
from growth.measure.cost import CostMeter, training_macs_per_sample
from growth.optim.osgd import DynamicOSGD, old_gradient, orthogonal_blend
from growth.recipes.vt import vt_config


def test_blend_of_a_two_parameter_example_by_hand():
    """The old model had one parameter, its gradient 1: zero-padded, g~ = (1, 0).  A new gradient
    g = (3, 4): g_orth = (0, 4); lambda 0.25 gives 0.25 (0, 4) + 0.75 (3, 4) = (2.25, 4)."""
    g, ref = {"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([1.0, 0.0])}
    assert torch.equal(orthogonal_blend(g, ref, 0.25)["w"], torch.tensor([2.25, 4.0]))
    assert torch.equal(orthogonal_blend(g, ref, 1.0)["w"], torch.tensor([0.0, 4.0]))
    assert torch.equal(orthogonal_blend(g, ref, 0.0)["w"], g["w"])


def test_global_and_per_tensor_projections_by_hand():
    """Two tensors a = (1, 1), b = (2); g~ = (1, 0 | 1).  Global: <g, g~> = 1 + 2 = 3, |g~|^2 = 2, so
    g_orth = g - 1.5 g~ = (-0.5, 1 | 0.5).  Per tensor: a - 1 (1, 0) = (0, 1), b - 2 (1) = 0."""
    g = {"a": torch.tensor([1.0, 1.0]), "b": torch.tensor([2.0]), "new": torch.tensor([5.0])}
    ref = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([1.0])}
    out = orthogonal_blend(g, ref, 1.0, "global")
    assert out["a"].tolist() == [-0.5, 1.0] and out["b"].tolist() == [0.5] and out["new"].tolist() == [5.0]
    out = orthogonal_blend(g, ref, 1.0, "tensor")
    assert out["a"].tolist() == [0.0, 1.0] and out["b"].tolist() == [0.0]
    zero = orthogonal_blend(g, {"a": torch.zeros(2), "b": torch.zeros(1)}, 1.0)
    assert all(torch.equal(zero[n], g[n]) for n in g)
    with pytest.raises(ValueError, match="projection='layer'"):
        orthogonal_blend(g, ref, 1.0, "layer")


def _data(n=24, classes=3):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, classes, (n,), generator=g)
    return TensorSplits("tiny", train=(x, y), val=(x[:0], y[:0]), test=(x[:4], y[:4]), num_classes=classes,
                        classes=[str(c) for c in range(classes)], mean=(0.0,) * 3, std=(1.0,) * 3, flip=False, pad=0)


def test_old_gradient_is_the_summed_batch_gradient_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = growth.build_model("ResNet-20", num_classes=3, width=0.25)
    data = _data()
    before = copy.deepcopy(model.state_dict())
    grads, seen = old_gradient(model, data.train_loader(8, seed=0, augment=False))
    assert seen == 24
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # BN statistics restored
    assert all(p.grad is None for p in model.parameters())
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    twin = copy.deepcopy(model).train()
    for x, y in data.train_loader(8, seed=0, augment=False):
        twin.zero_grad()
        torch.nn.functional.cross_entropy(twin(x), y).backward()
        for n, p in twin.named_parameters():
            expected[n] += p.grad
    assert all(torch.allclose(grads[n], expected[n], atol=1e-6) for n in grads)


def test_growth_charges_the_extra_epoch_and_pads_the_reference():
    torch.manual_seed(0)
    model = growth.build_model("ResNet-20", num_classes=3, width=0.25)
    data = _data()
    meter = CostMeter(input_shape=(3, 8, 8))
    ctx = growth.GrowthContext(model=model, epoch=1, epochs=4, history=growth.History(), data=data, cost=meter)
    macs = training_macs_per_sample(model, (3, 8, 8))
    osgd = DynamicOSGD(AddWidth(width=0.5, method="net2net"), anneal_steps=[4], batch_size=8)
    grown = osgd(ctx, 0.5)
    assert meter.extra_macs == {"dynamic OSGD: the old data's gradient epoch": 24 * macs}
    conv = osgd.reference["stages.0.0.conv1.weight"]
    assert conv.shape == grown.stages[0][0].conv1.weight.shape
    assert conv[4:].abs().sum() == 0 and conv[:4, :4].abs().sum() > 0  # old in the leading corner, new zero
    lams = []
    for _ in range(6):
        lams.append(osgd.lam())
        for p in grown.parameters():
            p.grad = torch.ones_like(p)
        osgd.before_step(grown)
    assert lams == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]


def test_before_step_applies_the_blend():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1, bias=False)
    osgd = DynamicOSGD(lambda ctx, target: ctx.model, anneal_steps=[4])
    osgd.reference, osgd.growths = {"weight": torch.tensor([[1.0, 0.0]])}, 1
    model.weight.grad = torch.tensor([[3.0, 4.0]])
    osgd.before_step(model)  # lambda 1: the orthogonal part only
    assert model.weight.grad.tolist() == [[0.0, 4.0]]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="anneal_steps"):
        DynamicOSGD(lambda c, t: c.model, anneal_steps=[0])
    with pytest.raises(ValueError, match="projection"):
        DynamicOSGD(lambda c, t: c.model, anneal_steps=[3], projection="x")
    with pytest.raises(ValueError, match="osgd=True"):
        vt_config("smoke", osgd=True)
