"""Firefly as the GradMax authors' code has it (growth.how.firefly): random new units whose directions
Adam optimises on the grow batch, norms held; old weights untouched; the grow-batch loss goes down;
the steps are charged to the run."""
from __future__ import annotations

import copy

import pytest
import torch

import growth
from growth.measure.cost import CostMeter, training_macs_per_sample
from growth.data.core import TensorSplits
from growth.how import FireflySimple, grow_width
from growth.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")
GROUPS = ("stages.0.2", "stages.0.4")


def setup(method, added=3):
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(32, 3, 4, 4, generator=g), torch.randint(0, 3, (32,), generator=g)
    data = TensorSplits("tiny", train=(x, y), val=(x[:0], y[:0]), test=(x[:4], y[:4]), num_classes=3,
                        classes=["0", "1", "2"], mean=(0.0,) * 3, std=(1.0,) * 3, flip=False, pad=0)
    torch.manual_seed(0)
    model = build_model("MLP", num_classes=3, image_size=4, width=0.02).double()
    reference = copy.deepcopy(model)
    ctx = growth.GrowthContext(model=model, epoch=1, epochs=2, history=growth.History(), data=data,
                               cost=CostMeter(input_shape=data.input_shape), seed=3)
    record = grow_width(model, channels={g: 10 + added for g in GROUPS}, method=method, context=ctx,
                        generator=torch.Generator().manual_seed(2))
    return model, reference, record, ctx


def fc(model, k):
    return model.stages[0][k].fc


def test_old_weights_untouched_new_norms_held_and_the_grow_batch_loss_goes_down():
    model, reference, record, ctx = setup(FireflySimple(steps=30, batch_size=16))
    for k in (2, 4):  # producers: old rows untouched, new rows of norm epsilon x the mean old row norm
        old, new = fc(reference, k).weight.detach(), fc(model, k).weight.detach()
        assert torch.equal(new[:10, :old.shape[1]], old)
        target = 1e-2 * old.norm(dim=1).mean()
        assert torch.allclose(new[10:].norm(dim=1), target.expand(3), rtol=1e-10)
    for k in (3, 5):  # consumers: old columns untouched, new columns of norm 0.5 x the mean old column norm
        old, new = fc(reference, k).weight.detach(), fc(model, k).weight.detach()
        assert torch.equal(new[:old.shape[0], :10], old[:, :10])
        target = 0.5 * old.norm(dim=0).mean()
        assert torch.allclose(new[:old.shape[0], 10:].norm(dim=0), target.expand(3), rtol=1e-10)
    losses = record.prepared["grow_batch_loss"]
    assert set(losses) == set(GROUPS) and all(after < before for before, after in losses.values())
    steps_macs = 2 * 30 * 16 * training_macs_per_sample(model, (3, 4, 4))
    assert record.overhead_macs == steps_macs == ctx.cost.extra_macs["firefly-simple growth step"]


def test_the_optimisation_moves_the_directions_not_only_the_norms():
    unoptimised, *_ = setup(FireflySimple(steps=1, lr=1e-12, batch_size=16))
    optimised, *_ = setup(FireflySimple(steps=30, batch_size=16))
    a, b = fc(unoptimised, 2).weight[10:].detach(), fc(optimised, 2).weight[10:].detach()
    cosine = (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))
    assert (cosine < 1 - 1e-6).all()


def test_all_groups_at_once_costs_one_round_and_runs_are_reproducible():
    model, _, record, _ = setup(FireflySimple(steps=10, batch_size=16, per_group=False))
    assert record.overhead_macs == 10 * 16 * training_macs_per_sample(model, (3, 4, 4))
    assert list(record.prepared["grow_batch_loss"]) == [", ".join(GROUPS)]
    again, *_ = setup(FireflySimple(steps=10, batch_size=16, per_group=False))
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize("kwargs, match", [
    (dict(epsilon=0.0), r"epsilon=0.0 is not allowed: give a finite number > 0"),
    (dict(steps=0), r"steps=0 is not allowed: give a positive integer"),
    (dict(lr=-1.0), r"lr=-1.0 is not allowed"),
])
def test_bad_settings_fail_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FireflySimple(**kwargs)


# --------------------------------------------------------------------------- the Firefly authors' method


from growth.how import Firefly, FireflySplit  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def tiny_mlp():
    torch.manual_seed(0)
    return build_model("MLP", num_classes=3, image_size=4, width=0.02).double().eval()


def tiny_context(model):
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(32, 3, 4, 4, generator=g), torch.randint(0, 3, (32,), generator=g)
    data = TensorSplits("tiny", train=(x, y), val=(x[:0], y[:0]), test=(x[:4], y[:4]), num_classes=3,
                        classes=["0", "1", "2"], mean=(0.0,) * 3, std=(1.0,) * 3, flip=False, pad=0)
    return growth.GrowthContext(model=model, epoch=1, epochs=2, history=growth.History(), data=data,
                                cost=CostMeter(input_shape=data.input_shape), seed=3)


def test_a_candidates_score_is_the_loss_derivative_along_its_perturbation():
    model = tiny_mlp()
    ctx = tiny_context(model)
    method = Firefly(candidates=4, batch_size=16, optimise_batches=2, score_batches=1, augment=False)
    group = next(g for g in model.channel_groups() if g.name == "stages.0.2")
    batches = list(growth.how.width_statistics.grow_batches(ctx, 16, 3, augment=False))
    assert len(batches) == 3  # two epochs of 2 batches of 16
    candidate, probe = method._candidate_network(model, group, torch.Generator().manual_seed(0))
    found = method._optimise_and_score(candidate, probe, batches)
    x, y = batches[2]

    def loss(net):
        with torch.no_grad():
            return F.cross_entropy(net(x.double()), y).item()

    base, t = loss(candidate), 1e-6
    producer, consumer = candidate.stages[0][2].fc, candidate.stages[0][3].fc
    for unit in (0, 7):  # splits: w +/- (1 + t) v
        moved = copy.deepcopy(candidate)
        with torch.no_grad():
            moved.stages[0][2].fc.weight[unit] += t * found["split"][unit]
            moved.stages[0][2].fc.weight[10 + unit] -= t * found["split"][unit]
        assert (loss(moved) - base) / t == pytest.approx(float(found["scores"][unit]), rel=1e-4, abs=1e-9)
    for j in range(4):  # new units: fan-out (1 + t) f
        moved = copy.deepcopy(candidate)
        with torch.no_grad():
            moved.stages[0][3].fc.weight[:, 20 + j] *= 1 + t
        assert (loss(moved) - base) / t == pytest.approx(float(found["scores"][10 + j]), rel=1e-4, abs=1e-9)
    assert torch.allclose((producer.weight[:10] + producer.weight[10:20]) / 2, model.stages[0][2].fc.weight)
    assert torch.allclose(consumer.weight[:, :10], model.stages[0][3].fc.weight[:, :10] / 2)


def test_the_kept_candidates_are_the_lowest_scores_and_grow_as_splits_and_new_units():
    model = tiny_mlp()
    ctx = tiny_context(model)
    reference = copy.deepcopy(model)
    method = Firefly(candidates=4, batch_size=16, augment=False)
    record = grow_width(model, channels={"stages.0.2": 15}, method=method, context=ctx,
                        generator=torch.Generator().manual_seed(0))
    info = record.prepared["groups"]["stages.0.2"]
    assert info["splits"] + info["new"] == 5 and info["scores"] == sorted(info["scores"])
    rows, old_rows = model.stages[0][2].fc.weight.detach(), reference.stages[0][2].fc.weight.detach()
    changed = [i for i in range(10) if not torch.equal(rows[i], old_rows[i])]
    assert len(changed) == info["splits"]
    for k, i in enumerate(changed):  # w + v and w - v, fan-out halved for both
        assert torch.allclose((rows[i] + rows[10 + k]) / 2, old_rows[i])
        cols = model.stages[0][3].fc.weight.detach()
        assert torch.allclose(cols[:, i], reference.stages[0][3].fc.weight.detach()[:, i] / 2)
        assert torch.equal(cols[:, i], cols[:, 10 + k])
    assert record.overhead_macs == ctx.cost.extra_macs["firefly growth step"] > 0


def test_firefly_split_keeps_only_splits_and_a_global_pick_drives_it_through_the_loop():
    model = tiny_mlp().float()
    ctx = tiny_context(model)
    method = FireflySplit(batch_size=16)
    grower = growth.Grower(growth.when.Periodic(1), growth.where.GlobalPick(method.scores, fraction=0.1, growths=1),
                           growth.how.AddWidth(method=method))
    run = growth.train(model, ctx.data, epochs=3, batch_size=16, lr=0.05, seed=0, grower=grower, progress=False)
    found = [e for e in run.history.events if e["kind"] == "width"]
    assert len(found) == 1 and all(info.get("new", 0) == 0 for info in found[0]["found"]["groups"].values())
    assert sum(info["splits"] for info in found[0]["found"]["groups"].values()) == round(0.1 * 80)
    assert run.history.meta["cost"]["extra_macs"]["firefly scores"] > 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(candidates=-1), r"candidates=-1 is not allowed: give an integer >= 0"),
    (dict(optimise_batches=0), r"optimise_batches=0 is not allowed: give a positive integer"),
    (dict(lr=float("nan")), r"lr=nan is not allowed"),
])
def test_firefly_bad_settings_fail_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Firefly(**kwargs)
