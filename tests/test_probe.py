"""growth.measure.probe (VT Fig. 4(b, c)): the stage map by hand, norms by hand, agreement with the RA optimizers'
stage map across two growths, update norms equal to LR x gradient norm (global LR) and to Eq. 5's LR x
gradient norm (RA), the loop's per-step log, bad input before any work."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import growth
from growth.how import grow_width
from growth.optim import build_optimizer, named_state, rebuild_optimizer
from growth.measure.probe import StageNormProbe, extend_stage_map
from growth.optim.rate_adaptation import stage_norms

pytestmark = pytest.mark.usefixtures("one_thread")

LAYER = "stages.1.0.conv.weight"


def test_extend_stage_map_by_hand():
    stage = torch.zeros(2, 2, dtype=torch.long)
    grown = extend_stage_map(stage, torch.Size([3, 3]))
    assert grown.tolist() == [[0, 0, 1], [0, 0, 1], [1, 1, 1]]
    assert extend_stage_map(grown, torch.Size([3, 4])).tolist() == [[0, 0, 1, 2], [0, 0, 1, 2], [1, 1, 1, 2]]


def test_extend_stage_map_refuses_shrinking():
    with pytest.raises(ValueError, match=r"\(2, 2\) became \(1, 3\)"):
        extend_stage_map(torch.zeros(2, 2, dtype=torch.long), torch.Size([1, 3]))


def test_stage_norms_by_hand():
    values = torch.tensor([[3.0, 4.0], [0.0, 12.0]], dtype=torch.float64)
    assert stage_norms(values, torch.tensor([[0, 0], [1, 1]]), 2).tolist() == [5.0, 12.0]
    assert stage_norms(values, torch.tensor([[0, 1], [1, 1]]), 3).tolist() == [3.0, math.sqrt(160.0), 0.0]


def _cnn():
    torch.manual_seed(0)
    return growth.build_model("CNN4", num_classes=5, image_size=32, width=0.25).double()


def _step(model, opt, probe, gen):
    opt.zero_grad()
    x = torch.randn(4, 3, 32, 32, generator=gen, dtype=torch.float64)
    nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
    opt.step()
    probe(model)


@pytest.mark.parametrize("optimizer", ["sgd", "ra-sgd"])
def test_probe_across_two_growths(optimizer):
    """Without momentum or weight decay, each part's update is its LR times its gradient: the base LR for
    every part under SGD, Eq. 5's LR (the optimizer's logged stage_lrs) under RA-SGD; the probe's stage
    map is the RA optimizer's."""
    model, gen, lr = _cnn(), torch.Generator().manual_seed(1), 0.05
    opt = build_optimizer(model, optimizer, lr=lr, momentum=0.0, weight_decay=0.0)
    probe = StageNormProbe([LAYER])
    probe.check(model)
    for width in (None, 0.5, 0.75):
        if width is not None:
            old = named_state(opt, model)
            grow_width(model, width=width, method="vt", noise=1e-3, generator=torch.Generator().manual_seed(0))
            opt = rebuild_optimizer(opt, old, model)
        for _ in range(3):
            _step(model, opt, probe, gen)
        log = probe.pop_epoch()[LAYER]
        stages = 1 if width is None else 2 if width == 0.5 else 3
        assert len(log["grad"]) == 3 and all(len(g) == stages for g in log["grad"])
        assert log["update"][0] is None and sum(log["entries"]) == dict(model.named_parameters())[LAYER].numel()
        lrs = opt.stage_lrs()[LAYER] if optimizer == "ra-sgd" else [lr] * stages
        # the last step's update against the last step's gradient and LRs (RA-SGD logs its LRs in float32)
        rel = 1e-6 if optimizer == "ra-sgd" else 1e-12
        assert log["update"][-1] == pytest.approx([f * g for f, g in zip(lrs, log["grad"][-1])], rel=rel)
        if optimizer == "ra-sgd":
            param = dict(model.named_parameters())[LAYER]
            assert torch.equal(opt.state[param]["stage"], probe._stage[LAYER])
    if optimizer == "ra-sgd":  # three distinct LRs: the check above did compare parts with different rates
        assert len(set(opt.stage_lrs()[LAYER])) == 3


def test_train_logs_every_step_per_stage(tmp_path):
    data = growth.load_dataset("synthetic", num_train=64, num_test=32, num_classes=5, seed=0)
    model = growth.build_model("CNN4", num_classes=5, image_size=32, width=0.25)
    run = growth.train(model, data, epochs=2, batch_size=16, lr=0.05, device="cpu", probe=[LAYER],
                       history_path=tmp_path / "h.json")
    history = growth.History.load(tmp_path / "h.json")
    for record in history.epochs:
        log = record["stage_norms"][LAYER]
        assert len(log["grad"]) == 4 and log["entries"] == [dict(run.model.named_parameters())[LAYER].numel()]
    assert history.epochs[0]["stage_norms"][LAYER]["update"][0] is None
    assert history.epochs[1]["stage_norms"][LAYER]["update"][0] is not None


def test_bad_probe_fails_before_training():
    data = growth.load_dataset("synthetic", num_train=32, num_test=16, num_classes=5, seed=0)
    model = growth.build_model("CNN4", num_classes=5, image_size=32, width=0.25)
    with pytest.raises(ValueError, match=r"probe names \['nope.weight'\] are not parameters.*stages.0.0.conv.weight"):
        growth.train(model, data, epochs=1, device="cpu", probe=["nope.weight"])
    with pytest.raises(ValueError, match="probe='stages' is not allowed: give a list of parameter names"):
        growth.train(model, data, epochs=1, device="cpu", probe="stages")
    with pytest.raises(ValueError, match="probe=5 is not allowed: give a list of parameter names"):
        growth.train(model, data, epochs=1, device="cpu", probe=5)
