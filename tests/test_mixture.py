"""MixtureGrowth's growth step (growth.how.mixture): the new coefficients' rules, the operator in the
training loop (phases, events, optimizer state, cost, resume)."""
from __future__ import annotations

import pytest
import torch

import growth
from growth.how.mixture import COEFFICIENT_INITS, MixtureGrowth, new_coefficients, tile
from growth.models.template import template_net
from growth.optim.schedules import make_schedule
from growth.protocol import Grower
from growth.when.width_schedule import StageBoundaries


def hidden_layers(model):
    return [m for _, m in model.mixing_layers() if m.role == "hidden"]


@pytest.mark.parametrize("templates", [2, 3, 5])
def test_orthogonal_new_vectors_are_orthogonal_to_their_sets(templates):
    """The paper's rule: the new tile over a set starts orthogonal to the member's vector over that set,
    with the member's norm."""
    model = template_net("WRNnoBN-16-1", width=0.5, templates=templates)
    new_coefficients(model, "orthogonal", generator=torch.Generator().manual_seed(1))
    for layer in hidden_layers(model):
        for new, own in ((2, 0), (3, 1)):
            c, m = layer.coefficients[new].detach().double(), layer.coefficients[own].detach().double()
            assert abs(float(c @ m)) < 1e-6 * float(m.norm()) ** 2
            assert torch.isclose(c.norm(), m.norm(), rtol=1e-5)


def test_orthogonal_across_a_shared_pair():
    """'pairs': the two layers of a pair share their banks, so their member vectors and both new vectors
    over one set are four vectors; with 4 templates they are all mutually orthogonal where room allows:
    each new one orthogonal to every earlier one over its bank."""
    model = template_net("WRNnoBN-16-2", width=0.5, templates=4, sharing="pairs")
    new_coefficients(model, "orthogonal")
    a, b = model.get_submodule("stages.0.1.conv1"), model.get_submodule("stages.0.1.conv2")
    for member, new in ((0, 2), (1, 3)):
        vectors = [a.coefficients[member], b.coefficients[member], a.coefficients[new], b.coefficients[new]]
        v = torch.stack([x.detach().double() for x in vectors])
        gram = v @ v.T
        for i, j in ((2, 0), (2, 1), (3, 0), (3, 1), (3, 2)):
            assert abs(float(gram[i, j])) < 1e-6 * float(gram.diagonal().max())


def test_orthogonal_svd_is_the_codes_rule():
    model = template_net("WRNnoBN-10-1", width=0.5)
    before = {id(m): m.coefficients[2].detach().clone() for m in hidden_layers(model)}
    new_coefficients(model, "orthogonal-svd", noise=2.0)
    for m in hidden_layers(model):
        assert torch.equal(m.coefficients[2].detach(), before[id(m)])  # tile 2 keeps its construction row
        rows = torch.stack([m.coefficients[i].detach() for i in (0, 1, 2)])
        last = torch.linalg.svd(rows, full_matrices=True).Vh[-1]
        assert torch.allclose(m.coefficients[3].detach(), 2.0 * last)


def test_copy_random_and_uniform():
    model = template_net("WRNnoBN-10-1", width=0.5)
    new_coefficients(model, "copy")  # the paper's copy: no noise
    for m in hidden_layers(model):
        assert torch.equal(m.coefficients[2], m.coefficients[0]) and torch.equal(m.coefficients[3], m.coefficients[1])
    new_coefficients(model, "copy", noise=0.5)
    for m in hidden_layers(model):
        for new, own in ((2, 0), (3, 1)):
            step = m.coefficients[new] - m.coefficients[own]
            assert torch.isclose(step.norm(), torch.tensor(0.5)) and (step >= 0).all()  # 0.5 u / |u|, u in [0, 1)
    new_coefficients(model, "random-uniform", noise=3.0)
    values = torch.cat([c.detach() for m in hidden_layers(model) for c in m.coefficients[2:]])
    assert values.min() >= 0 and values.max() < 3.0
    new_coefficients(model, "random")
    values = torch.cat([c.detach() for m in hidden_layers(model) for c in m.coefficients[2:]])
    assert values.min() < 0 < values.max()


def test_inits_are_reproducible_per_generator():
    for init in COEFFICIENT_INITS:
        runs = []
        for _ in range(2):
            torch.manual_seed(0)
            model = template_net("WRNnoBN-10-1", width=0.5)
            new_coefficients(model, init, generator=torch.Generator().manual_seed(5))
            runs.append(torch.cat([c.detach() for m in hidden_layers(model) for c in m.coefficients]))
        assert torch.equal(*runs), init


@pytest.mark.parametrize("kwargs, match", [({"init": "zeros"}, "coefficient_init='zeros'"),
                                           ({"noise": -1.0}, "noise=-1.0")])
def test_bad_init_arguments(kwargs, match):
    model = template_net("WRNnoBN-10-1", width=0.5)
    with pytest.raises(ValueError, match=match):
        tile(model, **kwargs)
    assert not model.grown


def test_tile_refuses_plain_nets():
    with pytest.raises(ValueError, match="template-mixing"):
        tile(growth.build_model("WRN-10-1", num_classes=10))


def _train(model, grower, epochs):
    data = growth.load_dataset("synthetic", num_train=64, num_test=32, num_classes=4, device="cpu", seed=0)
    return growth.train(model, data, epochs=sum(epochs), batch_size=16, lr=0.05, device="cpu", grower=grower)


def _grower(epochs, fusion=True):
    how = MixtureGrowth("orthogonal", fusion=fusion)
    return Grower(StageBoundaries(epochs), how.where, how, name=how.name)


def test_operator_in_the_training_loop():
    """net1 trains, then net2 (a 'member' event), then the grown net (a 'grow' event); the optimizer keeps
    the state of the parameters that survive (templates, coefficients); the meter charges the mixing."""
    torch.manual_seed(0)
    model = template_net("WRNnoBN-10-1", width=0.5, num_classes=4)
    run = _train(model, _grower([2, 2, 1]), [2, 2, 1])
    h = run.history
    assert [e["kind"] for e in h.events] == ["member", "grow"]
    assert [e["epoch"] for e in h.events] == [2, 4]
    assert h.series("spec") == ["TemplateWRNnoBN-10-1"] * 2 + ["TemplateWRNnoBN-10-1:net2"] * 2 + \
        ["TemplateWRNnoBN-10-1:grown"]
    assert run.model.grown
    assert h.meta["cost"]["batch_macs"] > 0
    arch = [stage["arch"] for stage in h.meta["cost"]["timeline"]]
    assert arch == ["TemplateWRNnoBN-10-1", "TemplateWRNnoBN-10-1:net2", "TemplateWRNnoBN-10-1:grown"]


def test_no_fusion_grows_from_network_one():
    model = template_net("WRNnoBN-10-1", width=0.5, num_classes=4)
    run = _train(model, _grower([2, 1], fusion=False), [2, 1])
    assert [e["kind"] for e in run.history.events] == ["grow"]
    assert run.history.series("spec")[-1] == "TemplateWRNnoBN-10-1:grown"


def test_network_one_stands_still_while_network_two_trains():
    """Momentum and weight decay do not move network 1 once network 2 trains: its tensors after two
    epochs (one each) are those after network 1's single epoch."""
    data = growth.load_dataset("synthetic", num_train=64, num_test=32, num_classes=4, device="cpu", seed=0)
    ends = []
    for epochs in (1, 2):
        torch.manual_seed(0)
        how = MixtureGrowth()
        run = growth.train(template_net("WRNnoBN-10-1", width=0.5, num_classes=4), data, epochs=epochs,
                           batch_size=16, lr=0.05, device="cpu", grower=Grower(StageBoundaries([1, 1, 1]), how.where, how))
        layer = run.model.get_submodule("stages.0.0.conv1")
        ends.append((layer.banks[0].templates.detach().clone(), layer.coefficients[0].detach().clone(),
                     layer.banks[1].templates.detach().clone()))
    assert torch.equal(ends[0][0], ends[1][0]) and torch.equal(ends[0][1], ends[1][1])
    assert not torch.equal(ends[0][2], ends[1][2])  # network 2 did train


def test_phases_schedule():
    s = make_schedule("phases", 0.1, 5, phases=[{"epochs": 2, "schedule": "cosine"},
                                                {"epochs": 3, "schedule": "constant", "lr": 0.01}])
    assert [s(e) for e in range(5)] == [0.1, pytest.approx(0.05), 0.01, 0.01, 0.01]
    with pytest.raises(ValueError, match="add up"):
        make_schedule("phases", 0.1, 6, phases=[{"epochs": 2}])
    with pytest.raises(ValueError, match="nest"):
        make_schedule("phases", 0.1, 2, phases=[{"epochs": 2, "schedule": "phases"}])
    with pytest.raises(ValueError, match="allowed keys"):
        make_schedule("phases", 0.1, 2, phases=[{"epochs": 2, "gamma": 0.1}])
    r = make_schedule("warm-restarts", 1.0, 8, period=2, decay=0.5)
    assert [r(e) for e in (0, 2, 4, 6)] == [1.0, 0.5, 0.25, 0.125]
