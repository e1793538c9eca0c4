"""Splitting steepest descent (growth.how.splitting): splitting a unit along any direction v changes the
loss by eps^2/2 v^T S v (second-order finite differences, a Linear and a conv with its BatchNorm, on
exactly smooth activations); the chosen direction is the minimum eigenvector and the chosen units the
lowest lambda_min, within a group or across groups (GlobalPick); the function is kept at eps = 0; the
groups where the splitting matrix is not defined are refused or copied as Net2Net; a training run
splits through the protocol with its cost charged."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import growth
from growth.measure.cost import CostMeter
from growth.data.core import TensorSplits
from growth.how import AddWidth, Splitting, grow_width
from growth.how.splitting import lanczos_smallest, split_sites, splitting_matrices
from growth.models import build_model, channel_counts
from growth.when import Periodic
from growth.where import GlobalPick

pytestmark = pytest.mark.usefixtures("one_thread")


def smooth(model: nn.Module) -> nn.Module:
    """Every ReLU replaced by softplus(beta=3): the splitting matrix is then exact, not a surrogate."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, name, nn.Softplus(beta=3.0))
    return model


def model_of(name, size, width, smooth_it=True):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3, image_size=size, width=width).double()
    if smooth_it:
        smooth(model)
    with torch.no_grad():
        for _ in range(2):
            model.train()(torch.randn(6, 3, size, size, dtype=torch.float64))
    return model.eval()


def tiny_data(size, n=16):
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(n, 3, size, size, generator=g), torch.randint(0, 3, (n,), generator=g)
    return TensorSplits("tiny", train=(x, y), val=(x[:0], y[:0]), test=(x[:4], y[:4]), num_classes=3,
                        classes=["0", "1", "2"], mean=(0.0,) * 3, std=(1.0,) * 3, flip=False, pad=0)


def context(model, data, epoch=1):
    return growth.GrowthContext(model=model, epoch=epoch, epochs=4, history=growth.History(), data=data,
                                cost=CostMeter(input_shape=data.input_shape), seed=3)


class SplitAlong(Splitting):
    """Split unit ``unit`` of the growing group along ``direction`` (the finite-difference probe)."""

    needs_data = False

    def __init__(self, unit, direction, eps):
        super().__init__(eps=eps, unsupported="net2net")
        self.unit, self.direction = unit, direction

    def prepare(self, model, groups, plans, context, generator):
        for g in groups:
            plan = plans[g.name]
            if plan.added:
                plan.source = torch.tensor([self.unit])
                producer = model.get_submodule(g.producers[0])
                plan.split = {g.producers[0]: (self.direction * self.eps).reshape(1, *producer.weight.shape[1:])}
        return {}


def loss(model, x, y):
    with torch.no_grad():
        return F.cross_entropy(model.eval()(x.double()), y).item()


@pytest.mark.parametrize("name, size, width, group, unit", [
    ("MLP", 4, 0.02, "stages.0.1", 3),                 # Linear -> softplus
    ("ResNet-20", 8, 0.25, "stages.0.0.conv1", 1),      # conv -> BatchNorm -> softplus
])
def test_the_loss_change_of_a_split_is_eps_squared_over_two_times_the_quadratic_form(name, size, width, group, unit):
    model = model_of(name, size, width)
    data = tiny_data(size)
    x, y = data.tensors("train")
    grp = next(g for g in model.channel_groups() if g.name == group)
    sites, reasons = split_sites(model, [grp])
    assert group in sites and not reasons
    matrices, samples = splitting_matrices(model, sites, [(x, y)])
    S = matrices[group][unit]
    base = loss(model, x, y)
    old = channel_counts(model)[group]
    for seed in range(3):
        v = torch.randn(S.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        v /= v.norm()
        expected = float(v @ S @ v) / 2
        changes = []
        for eps in (1e-2, 5e-3):
            split = copy.deepcopy(model)
            grow_width(split, channels={group: old + 1}, method=SplitAlong(unit, v, eps))
            changes.append((loss(split, x, y) - base) / eps**2)
        # second order: the ratio's error shrinks with eps (O(eps)); Richardson removes it
        richardson = 2 * changes[1] - changes[0]
        assert richardson == pytest.approx(expected, rel=2e-3, abs=1e-9)


def test_the_chosen_units_and_directions_are_the_lowest_eigenpairs_and_the_function_is_kept_at_eps_zero():
    model = model_of("MLP", 4, 0.02)
    data = tiny_data(4)
    ctx = context(model, data)
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)
    method = Splitting(eps=0.0, batch_size=16, augment=False)
    grp = next(g for g in model.channel_groups() if g.name == "stages.0.1")
    found, _ = method.eigen(model, [grp], ctx)
    values, directions, producer = found["stages.0.1"]
    sites, _ = split_sites(model, [grp])
    x_train, y_train = data.tensors("train")
    S = splitting_matrices(model, sites, [(x_train, y_train)])[0]["stages.0.1"]
    eig = torch.linalg.eigvalsh(S)
    assert torch.allclose(values, eig[:, 0], rtol=1e-10)
    quad = torch.einsum("cd,cde,ce->c", directions.reshape(len(values), -1), S, directions.reshape(len(values), -1))
    assert torch.allclose(quad, values, rtol=1e-8, atol=1e-14)
    record = grow_width(model, channels={"stages.0.1": 13}, method=method, context=ctx)
    assert record.prepared["groups"]["stages.0.1"]["lambda_min"] == sorted(values.tolist())[:3]
    with torch.no_grad():
        assert torch.allclose(model(x), before, rtol=1e-12, atol=1e-12)


def _symmetric(count, dim, seed, spectrum=None):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(count, dim, dim, generator=g, dtype=torch.float64))
    values = spectrum if spectrum is not None else torch.randn(count, dim, generator=g, dtype=torch.float64)
    return q @ torch.diag_embed(values) @ q.transpose(1, 2)


@pytest.mark.parametrize("dim, steps, spectrum", [
    (30, 64, None),                                                                   # D <= steps: exact
    (10, 64, torch.tensor([[-1.0, 0, 0, 0, 0, 0, 0, 0, 2, 3]] * 3, dtype=torch.float64)),  # early breakdown
    (200, 64, torch.cat([torch.full((4, 1), -5.0, dtype=torch.float64),
                         torch.rand(4, 199, generator=torch.Generator().manual_seed(1), dtype=torch.float64)], 1)),
])
def test_lanczos_finds_the_smallest_eigenpair_of_every_operator(dim, steps, spectrum):
    count = 3 if spectrum is None else spectrum.shape[0]
    matrices = _symmetric(count, dim, dim, spectrum)
    start = torch.randn(count, dim, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    values, vectors, taken = lanczos_smallest(lambda q: torch.einsum("cde,ce->cd", matrices, q), start, steps)
    true_values, true_vectors = torch.linalg.eigh(matrices)
    assert taken == min(dim, steps)
    assert torch.allclose(values, true_values[:, 0], rtol=1e-9, atol=1e-9)
    assert torch.allclose((vectors * true_vectors[:, :, 0]).sum(dim=1).abs(), torch.ones(count, dtype=torch.float64),
                          atol=1e-7)


def test_a_split_unit_and_its_copy_share_the_fan_out_and_differ_by_two_eps_v():
    model = model_of("MLP", 4, 0.02, smooth_it=False)
    data = tiny_data(4)
    reference = copy.deepcopy(model)
    record = grow_width(model, channels={"stages.0.1": 11}, method=Splitting(batch_size=16),
                        context=context(model, data))
    (lam,) = record.prepared["groups"]["stages.0.1"]["lambda_min"]
    rows = model.stages[0][1].fc.weight.detach()
    old_rows = reference.stages[0][1].fc.weight.detach()
    changed = [i for i in range(10) if not torch.equal(rows[i], old_rows[i])]
    assert len(changed) == 1
    i = changed[0]
    assert (rows[i] - rows[10]).norm().item() == pytest.approx(2e-2, rel=1e-9)  # w + eps v, w - eps v, |v| = 1
    assert torch.allclose((rows[i] + rows[10]) / 2, old_rows[i])
    cols = model.stages[0][2].fc.weight.detach()
    assert torch.allclose(cols[:, i], reference.stages[0][2].fc.weight.detach()[:, i] / 2)
    assert torch.equal(cols[:, i], cols[:, 10])


def test_residual_groups_are_refused_or_copied_as_net2net():
    model = model_of("ResNet-20", 8, 0.25, smooth_it=False)
    with pytest.raises(ValueError, match=r"method 'splitting' is not defined on group stem of Basic3ResNet-3-3-3 "
                                         r"\(4 producers \(Splitting splits one layer's units\)\).*"
                                         r"unsupported='net2net'"):
        Splitting().check(model)
    data = tiny_data(8)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)
    record = grow_width(model, width=0.5, method=Splitting(eps=0.0, unsupported="net2net", batch_size=8),
                        context=context(model, data))
    groups = record.prepared["groups"]
    assert groups["stem"] == {"net2net": True} and "lambda_min" in groups["stages.0.0.conv1"]
    with torch.no_grad():
        assert torch.allclose(model(x), before, rtol=1e-10, atol=1e-12)


def test_global_pick_takes_the_lowest_fraction_across_groups():
    model = build_model("MLP", num_classes=3, image_size=4, width=0.02)
    scores = {"stages.0.0": torch.tensor([0.5, -2.0, 0.1] + [1.0] * 7),
              "stages.0.1": torch.tensor([-3.0, 0.2] + [1.0] * 8)}
    ctx = growth.GrowthContext(model=model, epoch=1, epochs=2, history=growth.History())
    pick = GlobalPick(lambda c: scores, fraction=0.15)  # 3 of 20 units
    assert pick(ctx) == {"stages.0.0": 12, "stages.0.1": 11}
    assert {g: u.tolist() for g, u in ctx.state["width_pick"].items()} == {"stages.0.0": [1, 2], "stages.0.1": [0]}
    assert GlobalPick(lambda c: scores, fraction=0.5, negative_only=True)(ctx) == {"stages.0.0": 11, "stages.0.1": 11}
    with pytest.raises(ValueError, match=r"fraction=0 is not allowed: give a number in \(0, 1\]"):
        GlobalPick(lambda c: scores, fraction=0)


def test_splitting_with_a_global_pick_through_the_training_loop():
    data = tiny_data(4, n=48)
    torch.manual_seed(0)
    model = build_model("MLP", num_classes=3, image_size=4, width=0.02)
    method = Splitting(batch_size=16)
    grower = growth.Grower(Periodic(1), GlobalPick(method.scores, fraction=0.1, growths=2), AddWidth(method=method))
    before = sum(channel_counts(model).values())
    run = growth.train(model, data, epochs=4, batch_size=16, lr=0.05, seed=0, grower=grower, progress=False)
    grows = [e for e in run.history.events if e["kind"] == "grow"]
    assert len(grows) == 2 and all(e["extra_macs"] > 0 for e in grows)
    assert before == 80  # 8 hidden layers of 10 units, every one a split site
    assert sum(channel_counts(run.model).values()) == 80 + round(0.1 * 80) + round(0.1 * 88)
    assert run.history.meta["cost"]["extra_macs"]["splitting scores"] == sum(e["extra_macs"] for e in grows)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=-1.0), r"eps=-1.0 is not allowed: give a finite number >= 0"),
    (dict(batch_size=0), r"batch_size=0 is not allowed"),
    (dict(unsupported="skip"), r"unsupported='skip' is unknown: choose one of error, net2net"),
])
def test_bad_settings_fail_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Splitting(**kwargs)


@pytest.mark.parametrize("method, most", [("splitting", 64), ("firefly-split", 64), ("firefly", 64 + 70)])
def test_a_schedule_adding_more_units_than_splits_is_refused_before_training(method, most):
    """Each unit splits at most once per growth (Firefly adds its candidates too): a schedule that grows a
    split group beyond that is refused by the operator's check, which runs before the first epoch."""
    model = build_model("MLP", num_classes=10, image_size=8, width=0.128)  # 64 units a layer
    seed = channel_counts(model)
    assert set(seed.values()) == {64}
    AddWidth(channels=[seed, {g: n + most for g, n in seed.items()}], method=method).check(model)  # the most
    with pytest.raises(ValueError, match=rf"method '{method}': the schedule grows group stages.0.0 from 64 to "
                                         rf"{65 + most} units in one growth, more than the {most} it can add"):
        AddWidth(channels=[seed, {g: n + most + 1 for g, n in seed.items()}], method=method).check(model)
