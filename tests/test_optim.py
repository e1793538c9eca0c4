"""Optimizer state across growth: kept for survivors, zero-padded for grown ones, empty for new ones."""
import torch
from torch import nn

from growth.optim import build_optimizer, named_state, rebuild_optimizer


def _step(model, opt):
    opt.zero_grad()
    model(torch.randn(5, 3)).sum().backward()
    opt.step()


def test_sgd_momentum_survives_depth_growth():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = build_optimizer(model, "sgd", lr=0.1, momentum=0.9, weight_decay=0.0)
    _step(model, opt)
    before = {n: s["momentum_buffer"].clone() for n, (_, s) in named_state(opt, model).items()}
    old = named_state(opt, model)
    model.append(nn.Linear(2, 2))  # a new layer: new parameters
    new = rebuild_optimizer(opt, old, model)
    state = named_state(new, model)
    assert set(state) == set(before)  # new parameters start with empty state
    for name, buf in before.items():
        assert torch.equal(state[name][1]["momentum_buffer"], buf)
    assert new.param_groups[0]["momentum"] == 0.9
    assert len(new.param_groups[0]["params"]) == 6


def test_adam_moments_zero_padded_for_grown_parameter_and_step_kept():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4))
    opt = build_optimizer(model, "adam", lr=1e-3, weight_decay=0.0)
    _step(model, opt)
    _step(model, opt)
    old = named_state(opt, model)
    exp_avg = old["0.weight"][1]["exp_avg"].clone()
    grown = nn.Linear(3, 6)  # two new output units appended
    model[0] = grown
    new = rebuild_optimizer(opt, old, model)
    state = new.state[grown.weight]
    assert state["exp_avg"].shape == (6, 3)
    assert torch.equal(state["exp_avg"][:4], exp_avg)
    assert torch.count_nonzero(state["exp_avg"][4:]) == 0
    assert float(state["step"]) == 2.0


def test_reset_drops_all_state():
    model = nn.Sequential(nn.Linear(3, 4))
    opt = build_optimizer(model, "sgd", lr=0.1)
    _step(model, opt)
    new = rebuild_optimizer(opt, named_state(opt, model), model, reset=True)
    assert len(new.state) == 0


def test_shrunk_or_reshaped_parameter_starts_empty():
    model = nn.Sequential(nn.Linear(3, 4))
    opt = build_optimizer(model, "sgd", lr=0.1)
    _step(model, opt)
    old = named_state(opt, model)
    model[0] = nn.Linear(3, 2)
    new = rebuild_optimizer(opt, old, model)
    assert len(new.state) == 0


def test_insertion_mid_stage_keeps_state_with_the_tensor_not_the_name():
    """Inserting a layer renumbers those after it: state follows the surviving tensor, the new one starts empty."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    opt = build_optimizer(model, "sgd", lr=0.1, momentum=0.9, weight_decay=0.0)
    _step(model, opt)
    second = model[1].weight
    buf = opt.state[second]["momentum_buffer"].clone()
    old = named_state(opt, model)
    model.insert(1, nn.Linear(3, 3))  # the old "1" is now "2"; the new layer takes the name "1"
    new = rebuild_optimizer(opt, old, model)
    assert torch.equal(new.state[second]["momentum_buffer"], buf)
    assert model[1].weight not in new.state
