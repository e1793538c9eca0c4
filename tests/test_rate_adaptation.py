"""Stage-wise LR adaptation (VT paper Sec. 3.1 Eq. 5, App. C/D) and LARS: hand-computed updates, equality
with torch's SGD / Adam where RA reduces to them, AvaGrad against a reference written from the authors'
algorithm, the stage map and ages across width growth and the loop's per-epoch log, bad input."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import growth
from growth.how import AddWidth, grow_width
from growth.optim import build_optimizer, carry_state, named_state, rebuild_optimizer
from growth.optim.rate_adaptation import LARS, RAAdam, RAAvaGrad, RASGD, output_layer, stage_factors


pytestmark = pytest.mark.usefixtures("one_thread")


def param(values):
    """A float64 parameter with a gradient of ones."""
    p = nn.Parameter(torch.tensor(values, dtype=torch.float64))
    p.grad = torch.ones_like(p)
    return p


def close(a, b, tol=1e-12):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                          rtol=tol, atol=tol)


# --------------------------------------------------------------------------- RA-SGD by hand


@pytest.mark.parametrize("rule, new_factor", [("norm-ratio", 1.5), ("inverse", 2 / 3)])
def test_ra_sgd_one_step_by_hand(rule, new_factor):
    """W = [[2, 1], [2, 2]], stage 0 = the top-left entry (f = 2), stage 1 the rest (f = sqrt(1+4+4) = 3):
    with gradient 1 and lr 0.1, stage 0 moves by 0.1, stage 1 by 0.1 * 3/2 (norm-ratio) or 0.1 * 2/3."""
    w = param([[2.0, 1.0], [2.0, 2.0]])
    opt = RASGD([("w", w)], lr=0.1, momentum=0.0, rule=rule)
    opt.state[w]["stage"] = torch.tensor([[0, 1], [1, 1]])
    opt.step()
    step = 0.1 * new_factor
    assert close(w.detach(), [[1.9, 1.0 - step], [2.0 - step, 2.0 - step]])
    assert close(opt.stage_lrs()["w"], [0.1, step])


@pytest.mark.parametrize("output_lr, scale", [("fan-in-ratio", 2 / 3), ("fan-in", 1 / 3), ("none", 1.0)])
def test_ra_sgd_output_layer_by_hand(output_lr, scale):
    """Logits layer grown from fan-in 2 to 3: W = [[3, 0, 1], [0, 4, 1]], stage 0 = the first two columns
    (f = 5), stage 1 the last (f = sqrt 2).  Stage factors 1 and sqrt(2)/5, times 2/3 (seed fan-in / fan-in),
    1/3 (1 / fan-in) or 1."""
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3.0, 0.0, 1.0], [0.0, 4.0, 1.0]]))
    model[0].weight.grad = torch.ones(2, 3)
    opt = build_optimizer(model, "ra-sgd", lr=0.1, momentum=0.0, weight_decay=0.0, output_lr=output_lr)
    assert opt.defaults["output"] == "0"
    opt.state[model[0].weight]["stage"] = torch.tensor([[0, 0, 1], [0, 0, 1]])
    opt.step()
    old, new = 0.1 * scale, 0.1 * math.sqrt(2) / 5 * scale
    expected = torch.tensor([[3.0 - old, -old, 1.0 - new], [-old, 4.0 - old, 1.0 - new]])
    assert torch.allclose(model[0].weight.detach(), expected, atol=1e-6)
    assert close(opt.stage_lrs()["0.weight"], [old, new], tol=1e-6)


def test_a_zero_part_keeps_the_base_lr():
    """A part (or stage 0) with norm 0 gets factor 1: else a zero-initialised part would never move."""
    w = param([0.0, 3.0, 1.0])
    assert close(stage_factors(w, torch.tensor([0, 1, 2]), 3), [1.0, 1.0, 1.0])  # f(W_0) = 0
    assert close(stage_factors(w, torch.tensor([1, 0, 2]), 3), [1.0, 1.0, 1.0 / 3.0])  # f(W_1) = 0
    assert close(stage_factors(w, torch.tensor([1, 0, 2]), 3, "inverse"), [1.0, 1.0, 3.0])


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).double()


def _steps(model, opt, n, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        opt.zero_grad()
        model(torch.randn(4, 3, generator=gen, dtype=torch.float64)).square().sum().backward()
        opt.step()


@pytest.mark.parametrize("nesterov", [False, True])
def test_ra_sgd_with_one_stage_is_torch_sgd(nesterov):
    a, b = _mlp(), _mlp()
    kw = dict(lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=5e-4)
    _steps(a, torch.optim.SGD(a.parameters(), **kw), 6)
    _steps(b, build_optimizer(b, "ra-sgd", **kw), 6)  # the output layer at its seed fan-in: factor 1
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


# --------------------------------------------------------------------------- RA-Adam


def test_ra_adam_bias_correction_per_part_by_hand():
    """Entry 0 (stage 0) has trained 3 steps (m = 0.2, v = 0.04), entry 1 was just born (stage 1, age 0).
    Equal norms, so Eq. 5's factor is 1.  With g = 0.5: the newborn's first step is lr * g / (|g| + eps)
    (corrected with t = 1); the old entry's is Adam's at t = 4.  Without RA both use t = 4."""
    b1, b2, eps, lr, g = 0.9, 0.999, 1e-8, 0.01, 0.5

    def adam(m, v, t):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        return lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)

    for with_ra, newborn in ((True, lr * g / (g + eps)), (False, adam(0.0, 0.0, 4))):
        w = nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
        w.grad = torch.full_like(w, g)
        opt = RAAdam([("w", w)], lr=lr, with_ra=with_ra)
        opt.state[w].update(stage=torch.tensor([0, 1]), age=torch.tensor([3, 0]),
                            exp_avg=torch.tensor([0.2, 0.0], dtype=torch.float64),
                            exp_avg_sq=torch.tensor([0.04, 0.0], dtype=torch.float64))
        opt.step()
        assert close(1.0 - w.detach(), [adam(0.2, 0.04, 4), newborn]), with_ra
        assert opt.state[w]["age"].tolist() == [4, 1]
    assert abs(lr * g / (g + eps) - lr) < 1e-9  # the newborn's first step is sign-like


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_ra_adam_with_one_stage_is_torch_adam(weight_decay):
    a, b = _mlp(), _mlp()
    _steps(a, torch.optim.Adam(a.parameters(), lr=1e-2, weight_decay=weight_decay), 6)
    _steps(b, build_optimizer(b, "ra-adam", lr=1e-2, weight_decay=weight_decay), 6)
    assert all(torch.allclose(p, q, rtol=1e-12, atol=1e-14) for p, q in zip(a.parameters(), b.parameters()))


def _widen(model):
    """The MLP's hidden layer 5 -> 7 units, old weights in the leading corner (as grow_width places them)."""
    first, last = nn.Linear(3, 7).double(), nn.Linear(7, 2).double()
    with torch.no_grad():
        first.weight[:5], first.bias[:5] = model[0].weight, model[0].bias
        last.weight[:, :5], last.bias[:] = model[2].weight, model[2].bias
    model[0], model[2] = first, last


def test_ra_adam_without_ra_is_torch_adam_across_growth():
    """with_ra=False: one step count per tensor, buffers zero-padded: torch's Adam with carried state."""
    a, b = _mlp(), _mlp()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    opt_b = build_optimizer(b, "ra-adam", lr=1e-2, weight_decay=0.0, with_ra=False)
    _steps(a, opt_a, 3)
    _steps(b, opt_b, 3)
    torch.manual_seed(5)
    old_a, old_b = named_state(opt_a, a), named_state(opt_b, b)
    _widen(a)
    torch.manual_seed(5)
    _widen(b)
    opt_a, opt_b = rebuild_optimizer(opt_a, old_a, a), rebuild_optimizer(opt_b, old_b, b)
    _steps(a, opt_a, 3, seed=2)
    _steps(b, opt_b, 3, seed=2)
    assert all(torch.allclose(p, q, rtol=1e-12, atol=1e-14) for p, q in zip(a.parameters(), b.parameters()))


# --------------------------------------------------------------------------- AvaGrad


def avagrad_reference(params, grads, lr, b1, b2, eps, wd):
    """AvaGrad as the authors' code computes it: step t uses v_{t-1} and the normaliser gamma computed
    at the end of step t-1 over the whole group; the first step only fills the moments."""
    params = [p.clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    gamma = None
    for t, step_grads in enumerate(grads, start=1):
        total, count = 0.0, 0
        for i, g in enumerate(step_grads):
            g = g + wd * params[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            if t > 1:
                denom = (v[i] / (1 - b2 ** (t - 1))).sqrt() + eps
                params[i] = params[i] - gamma * lr / (1 - b1**t) * m[i] / denom
            v[i] = b2 * v[i] + (1 - b2) * g * g
            eta = 1 / ((v[i] / (1 - b2**t)).sqrt() + eps)
            total += float((eta**2).sum())
            count += eta.numel()
        gamma = 1 / math.sqrt(total / count)
    return params


@pytest.mark.parametrize("name, weight_decay", [("ra-avagrad", 0.0), ("avagrad", 0.0), ("ra-avagrad", 0.05)])
def test_avagrad_against_reference(name, weight_decay):
    gen = torch.Generator().manual_seed(3)
    start = [torch.randn(3, generator=gen, dtype=torch.float64), torch.randn(2, 2, generator=gen, dtype=torch.float64)]
    grads = [[torch.randn(3, generator=gen, dtype=torch.float64), torch.randn(2, 2, generator=gen, dtype=torch.float64)]
             for _ in range(6)]
    model = nn.ParameterList([nn.Parameter(p.clone()) for p in start])
    opt = build_optimizer(model, name, lr=0.1, weight_decay=weight_decay, betas=(0.9, 0.99), eps=0.1)
    for step_grads in grads:
        for p, g in zip(model, step_grads):
            p.grad = g.clone()
        opt.step()
    expected = avagrad_reference(start, grads, 0.1, 0.9, 0.99, 0.1, weight_decay)
    assert all(torch.allclose(p, q, rtol=1e-10, atol=1e-12) for p, q in zip(model, expected))
    assert not torch.equal(model[0].detach(), start[0])


def test_ra_avagrad_newborn_entries_wait_one_step_by_hand():
    """Entry 0 has a previous v (age 2), entry 1 is newborn (age 0): only entry 0 counts in ||eta||, so
    its normalised eta is 1 and its update is lr * m / (1 - b1^3); the newborn does not move."""
    b1, b2, lr, g = 0.9, 0.999, 0.1, 0.5
    w = nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
    w.grad = torch.full_like(w, g)
    opt = RAAvaGrad([("w", w)], lr=lr, betas=(b1, b2))
    opt.state[w].update(stage=torch.tensor([0, 1]), age=torch.tensor([2, 0]),
                        exp_avg=torch.tensor([0.2, 0.0], dtype=torch.float64),
                        exp_avg_sq=torch.tensor([0.04, 0.0], dtype=torch.float64))
    opt.step()
    m = b1 * 0.2 + (1 - b1) * g
    assert close(w.detach(), [1.0 - lr * m / (1 - b1**3), 1.0])
    assert close(opt.state[w]["exp_avg_sq"], [b2 * 0.04 + (1 - b2) * g * g, (1 - b2) * g * g])
    assert opt.state[w]["age"].tolist() == [3, 1]


# --------------------------------------------------------------------------- LARS


def test_lars_trust_ratio_by_hand():
    """w = [3, 4] (norm 5), g = [0, 2] (norm 2), weight decay 0.1: local LR = 0.001 * 5 / (2 + 0.5) = 0.002;
    buf = 0.002 * (g + 0.1 w) = [0.0006, 0.0048]."""
    w = nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))
    opt = LARS([("w", w)], lr=1.0, momentum=0.9, weight_decay=0.1)
    w.grad = torch.tensor([0.0, 2.0], dtype=torch.float64)
    opt.step()
    assert close(w.detach(), [2.9994, 3.9952])
    assert close(opt.stage_lrs()["w"], [0.002])
    w.grad = torch.tensor([0.0, 2.0], dtype=torch.float64)
    opt.step()
    norm = math.hypot(2.9994, 3.9952)
    local = 0.001 * norm / (2.0 + 0.1 * norm)
    buf = [0.9 * 0.0006 + local * 0.1 * 2.9994, 0.9 * 0.0048 + local * (2.0 + 0.1 * 3.9952)]
    assert close(w.detach(), [2.9994 - buf[0], 3.9952 - buf[1]])
    assert close(opt.stage_lrs()["w"], [local])


def test_lars_zero_norm_falls_back_to_the_base_lr():
    b = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    b.grad = torch.tensor([1.0, -1.0], dtype=torch.float64)
    opt = LARS([("b", b)], lr=0.5, momentum=0.0)
    opt.step()
    assert close(b.detach(), [-0.5, 0.5]) and opt.stage_lrs() == {"b": [0.5]}


# --------------------------------------------------------------------------- across growth


def _cnn(width=0.25):
    torch.manual_seed(0)
    return growth.build_model("CNN4", num_classes=5, image_size=32, width=width)


def _train_steps(model, opt, n=2):
    gen = torch.Generator().manual_seed(4)
    for _ in range(n):
        opt.zero_grad()
        x = torch.randn(4, 3, 32, 32, generator=gen)
        nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
        opt.step()


def _corner(old_shape):
    return tuple(slice(0, s) for s in old_shape)


def test_stage_map_and_ages_across_width_growth():
    model = _cnn()
    opt = build_optimizer(model, "ra-adam", lr=1e-3, weight_decay=0.0)
    _train_steps(model, opt)
    old = named_state(opt, model)
    record = grow_width(model, width=0.5, method="vt", noise=1e-3, generator=torch.Generator().manual_seed(0))
    opt = rebuild_optimizer(opt, old, model)
    grown = set(record.grown())
    assert "head.fc.bias" not in grown and "head.fc.weight" in grown and "stages.0.0.conv.weight" in grown
    for name, p in model.named_parameters():
        state, (before, after) = opt.state[p], record.shapes[name]
        corner = _corner(before)
        rest = torch.ones_like(p, dtype=torch.bool)
        rest[corner] = False
        assert state["stage"].shape == p.shape == after and state["age"].shape == p.shape
        assert (state["stage"][corner] == 0).all() and (state["stage"][rest] == 1).all(), name
        assert (state["age"][corner] == 2).all() and (state["age"][rest] == 0).all(), name
        assert not state["exp_avg"][rest].any() and rest.any() == (name in grown)
    _train_steps(model, opt, 1)
    assert all((opt.state[p]["age"] == 3 - 2 * opt.state[p]["stage"]).all() for p in model.parameters())
    # a second growth: the newest entries are stage 2
    old = named_state(opt, model)
    grow_width(model, width=0.75, method="vt")
    opt = rebuild_optimizer(opt, old, model)
    stage = opt.state[model.stages[0][0].conv.weight]["stage"]
    assert stage.unique().tolist() == [0, 1, 2] and stage[0, 0, 0, 0] == 0 and stage[-1, -1, -1, -1] == 2


def test_logged_stage_lrs_after_growth():
    """After growth, each grown parameter logs two LRs: lr * f(W_1) / f(W_0) from the values before the
    step; the logits' weight also x seed fan-in / fan-in (= 1/2 here)."""
    model = _cnn()
    opt = build_optimizer(model, "ra-sgd", lr=0.1, momentum=0.9, weight_decay=5e-4)
    _train_steps(model, opt)
    assert all(len(lrs) == 1 and close(lrs[0], 0.1, 1e-7) for lrs in opt.stage_lrs().values())
    old = named_state(opt, model)
    grow_width(model, width=0.5, method="vt", noise=1e-3, generator=torch.Generator().manual_seed(0))
    opt = rebuild_optimizer(opt, old, model, reset=True)  # the paper's SGD: momentum re-initialised, stages kept
    assert all(set(opt.state[p]) == {"stage"} for p in model.parameters())
    values = {n: p.detach().clone() for n, p in model.named_parameters()}
    _train_steps(model, opt, 1)
    lrs = opt.stage_lrs()
    for name, p in model.named_parameters():
        stage = opt.state[p]["stage"]
        norms = [values[name][stage == k].norm().item() for k in range(int(stage.max()) + 1)]
        scale = 0.5 if name == "head.fc.weight" else 1.0
        expected = [0.1 * scale * n / norms[0] if n > 0 and norms[0] > 0 else 0.1 * scale for n in norms]
        assert close(lrs[name], expected, 1e-5), name
    assert len(lrs["head.fc.bias"]) == 1 and len(lrs["stages.0.0.bn.bias"]) == 2


def test_keep_buffers_false_drops_the_buffers_but_not_the_stages():
    model = _cnn()
    opt = build_optimizer(model, "ra-avagrad", lr=0.1, weight_decay=0.0, keep_buffers=False)
    _train_steps(model, opt)
    old = named_state(opt, model)
    grow_width(model, width=0.5, method="vt")
    opt = rebuild_optimizer(opt, old, model)
    assert all(set(opt.state[p]) == {"stage"} for p in model.parameters())
    assert opt.state[model.head.fc.weight]["stage"].unique().tolist() == [0, 1]


def test_carry_state_fills_a_grown_region_per_key():
    """Default 0 (momentum, ages); the stage map gets the old maximum + 1; a filtered carry keeps only keys."""
    model = nn.Sequential(nn.Linear(2, 2))
    opt = RASGD(model.named_parameters(), lr=0.1)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    opt.state[model[0].weight]["stage"] = torch.tensor([[0, 1], [1, 1]])
    old = named_state(opt, model)
    model[0] = nn.Linear(3, 3)
    new = RASGD(model.named_parameters(), lr=0.1)
    assert carry_state(old, new, model) == 2
    w = new.state[model[0].weight]
    assert w["stage"].tolist() == [[0, 1, 2], [1, 1, 2], [2, 2, 2]]
    assert not w["momentum_buffer"][2].any() and not w["momentum_buffer"][:, 2].any()
    newer = RASGD(model.named_parameters(), lr=0.1)
    carry_state(old, newer, model, keys=("stage",))
    assert set(newer.state[model[0].weight]) == {"stage"}


def test_train_records_stage_lrs_with_add_width(tmp_path):
    data = growth.load_dataset("synthetic", num_train=64, num_test=32, device="cpu")
    growth.seed_everything(0)
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    op = AddWidth(width=0.5, method="vt", noise=1e-3)
    grower = growth.Grower(growth.when.Periodic(1), op.where, op)
    run = growth.train(model, data, epochs=3, batch_size=32, lr=0.05, optimizer="ra-sgd", grower=grower,
                       reset_optimizer=True, history_path=tmp_path / "h.json")
    history = growth.History.load(tmp_path / "h.json")
    assert [e["kind"] for e in history.events] == ["grow"] and run.model.width == 0.5
    first, second, third = (r["stage_lrs"] for r in history.epochs)
    assert all(len(v) == 1 for v in first.values())
    conv = "stages.0.0.conv1.weight"
    assert len(second[conv]) == 2 and len(third[conv]) == 2 and second[conv][0] == pytest.approx(0.05)
    assert len(second["head.fc.bias"]) == 1
    assert second["head.fc.weight"][0] == pytest.approx(0.05 * 0.5)  # fan-in 16 -> 32
    assert history.meta["config"]["optimizer"] == "ra-sgd"


def test_ordinary_runs_record_no_stage_lrs():
    data = growth.load_dataset("synthetic", num_train=32, num_test=16, device="cpu")
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    run = growth.train(model, data, epochs=1, batch_size=32, lr=0.05)
    assert "stage_lrs" not in run.history.epochs[0]


def test_state_dict_round_trip_keeps_the_stages():
    """torch's load_state_dict casts state tensors to the parameter's dtype: the stage map still indexes."""
    a, b = _cnn(), _cnn()
    opt_a = build_optimizer(a, "ra-adam", lr=1e-3, weight_decay=0.0)
    _train_steps(a, opt_a)
    opt_a.state[a.head.fc.weight]["stage"][:, 4:] = 1
    b.load_state_dict(a.state_dict())
    opt_b = build_optimizer(b, "ra-adam", lr=1e-3, weight_decay=0.0)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # load_state_dict shares same-dtype tensors
    _train_steps(a, opt_a, 1)
    _train_steps(b, opt_b, 1)
    assert torch.equal(a.head.fc.weight, b.head.fc.weight)
    assert opt_a.stage_lrs()["head.fc.weight"] == opt_b.stage_lrs()["head.fc.weight"]
    assert len(opt_b.stage_lrs()["head.fc.weight"]) == 2


def test_output_layer_is_the_last_linear():
    assert output_layer(_cnn()) == "head.fc"
    assert output_layer(growth.build_model("ResNet-20", num_classes=3)) == "head.fc"
    assert output_layer(nn.Sequential(nn.Conv2d(1, 1, 1))) is None


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("name, options, match", [
    ("ra-sgd", dict(rule="sqrt"), r"rule='sqrt' is unknown: choose one of norm-ratio, inverse"),
    ("ra-sgd", dict(output_lr="muP"), r"output_lr='muP' is unknown: choose one of fan-in-ratio, fan-in, none"),
    ("ra-sgd", dict(output="classifier"), r"output='classifier' is not allowed: no parameter 'classifier.weight'"),
    ("ra-sgd", dict(with_ra="yes"), r"with_ra='yes' is not allowed: give True or False"),
    ("ra-sgd", dict(betas=(0.9, 0.99)), r"options \['betas'\] are not allowed with optimizer='ra-sgd': allowed are "
                                        r"output, output_lr, rule, with_ra"),
    ("avagrad", dict(with_ra=True), r"options \['with_ra'\] are not allowed with optimizer='avagrad'"),
    ("ra-adam", dict(betas=(1.0, 0.999)), r"betas\[0\]=1.0 is not allowed: give a number in \[0.0, 1.0\)"),
    ("ra-adam", dict(betas=0.9), r"betas=0.9 is not allowed: give two numbers in \[0, 1\)"),
    ("ra-avagrad", dict(eps=0.0), r"eps=0.0 is not allowed: give a number in \(0.0, inf\)"),
    ("ra-adam", dict(keep_buffers=1), r"keep_buffers=1 is not allowed: give True or False"),
    ("lars", dict(trust_coefficient=-1), r"trust_coefficient=-1 is not allowed: give a number in \(0.0, inf\)"),
    ("sgd", dict(rule="inverse"), r"options \['rule'\] are not allowed with optimizer='sgd': only ra-sgd, "),
    ("nadam", {}, r"optimizer='nadam' is unknown: choose one of sgd, adam, adamw, ra-sgd, ra-adam, ra-avagrad, "
                  r"avagrad, lars"),
])
def test_bad_options_fail_when_building(name, options, match):
    with pytest.raises(ValueError, match=match):
        build_optimizer(_mlp(), name, lr=0.1, **options)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1), r"lr=-0.1 is not allowed: give a number in \[0.0, inf\)"),
    (dict(momentum=1.5), r"momentum=1.5 is not allowed: give a number in \[0.0, 1.0\)"),
    (dict(momentum=0.0, nesterov=True), r"nesterov=True is not allowed with momentum=0"),
    (dict(weight_decay=float("nan")), r"weight_decay=nan is not allowed"),
])
def test_bad_sgd_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_optimizer(_mlp(), "ra-sgd", **{"lr": 0.1, **kwargs})


def test_bad_optimizer_options_in_train_fail_before_training():
    data = growth.load_dataset("synthetic", num_train=32, num_test=16, device="cpu")
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    with pytest.raises(ValueError, match=r"optimizer_options=\['rule'\] is not allowed: give a dict"):
        growth.train(model, data, epochs=1, optimizer="ra-sgd", optimizer_options=["rule"])
    with pytest.raises(ValueError, match=r"rule='x' is unknown"):
        growth.train(model, data, epochs=1, optimizer="ra-sgd", optimizer_options={"rule": "x"})
