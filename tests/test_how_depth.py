"""grow_depth and AddBlock: in place, positions, spec / device / dtype / mode, errors before any change,
and the training loop's optimizer carry-over across depth growth."""
from __future__ import annotations

import re
import sys

import pytest
import torch

import growth
from growth.how import DEPTH_INITS, AddBlock, grow_depth
from growth.models import build_model

NON_ADAM = [name for name in DEPTH_INITS if name != "adam"]


pytestmark = pytest.mark.usefixtures("one_thread")


def small(name: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, num_classes=5, width=kw.pop("width", 0.25), **kw)


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_state(model, snap) -> bool:
    now = model.state_dict()
    return list(now) == list(snap) and all(torch.equal(now[k], snap[k]) for k in snap)


# --------------------------------------------------------------------------- in place, spec, placement


@pytest.mark.parametrize("name", ["Basic3ResNet-1-1-1", "Basic4ResNet-1-1-1-1", "Bottleneck4ResNet-1-1-1-1",
                                  "Plain3Net-1-1-1", "Plain4Net-1-1-1-1", "VGG-1-1-1-1-2", "MobileNetV2-1-1-1-1-1"])
def test_every_family_grows_in_place(name):
    model = small(name, image_size=32)
    family = name.split("-")[0]
    depths = list(model.depths)
    x = torch.randn(2, 3, 32, 32)
    for stage in range(len(depths)):
        assert grow_depth(model, stage, init="he") is model
        depths[stage] += 1
        assert model.spec == "-".join([family, *map(str, depths)])
    assert model.eval()(x).shape == (2, 5)


@pytest.mark.parametrize("init", NON_ADAM)
def test_dtype_device_and_mode_follow_the_model(init):
    model = small("Basic4ResNet-2-2-1-1").double().eval()
    grow_depth(model, 1, init=init)
    block = model.stages[1][-1]
    assert all(p.dtype == torch.float64 and p.device.type == "cpu" for p in block.parameters())
    assert all(b.dtype in (torch.float64, torch.long) for b in block.buffers())
    assert not block.training
    model.train()
    grow_depth(model, 0, init=init)
    assert model.stages[0][-1].training and model.spec == "Basic4ResNet-3-3-1-1"
    assert model(torch.randn(2, 3, 16, 16, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("init", NON_ADAM)
def test_new_block_on_the_gpu(init):
    model = small("MobileNetV2-1-2-1-1-1").cuda()
    grow_depth(model, 1, init=init)
    assert all(p.is_cuda for p in model.parameters())
    assert model(torch.randn(2, 3, 32, 32, device="cuda")).shape == (2, 5)


def test_position_inserts_in_order_and_keeps_canonical_names():
    model = small("Basic4ResNet-1-3-1-1").eval()
    old = list(model.stages[1])
    grow_depth(model, 1, init="he", position=2)
    now = list(model.stages[1])
    assert now[:2] == old[:2] and now[3] is old[2] and all(now[2] is not b for b in old)
    assert model.spec == "Basic4ResNet-1-4-1-1"
    again = build_model(model.spec, num_classes=5, width=0.25).eval()
    again.load_state_dict(model.state_dict())  # the state_dict keys are those of the spec's net
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(again(x), model(x))


def test_position_zero_where_the_first_block_keeps_the_shape():
    model = small("Basic3ResNet-1-2-1")
    first = model.stages[0][0]
    grow_depth(model, 0, position=0)
    assert model.stages[0][1] is first and model.spec == "Basic3ResNet-2-2-1"
    model.eval()(torch.randn(2, 3, 16, 16))


def test_add_block_appends_with_its_init_and_names_itself():
    model = small("Basic3ResNet-1-1-1")
    op = AddBlock(init="zero", max_depth=2)
    assert op.name == "add-block(zero)"
    ctx = growth.GrowthContext(model=model, epoch=1, epochs=2, history=growth.History())
    assert op(ctx, 2) is model and model.spec == "Basic3ResNet-1-1-2"
    assert torch.equal(model.stages[2][1].bn2.weight, torch.zeros_like(model.stages[2][1].bn2.weight))
    with pytest.raises(ValueError, match="max_depth=2"):
        op(ctx, 2)


# --------------------------------------------------------------------------- errors before any change


def fails_cleanly(model, match, **kw):
    snap, depths = snapshot(model), model.depths
    with pytest.raises(ValueError, match=match):
        grow_depth(model, **kw)
    assert model.depths == depths and same_state(model, snap)


@pytest.mark.parametrize("stage", [-1, 3, "0", 1.0, True, None])
def test_bad_stage(stage):
    fails_cleanly(small("Basic3ResNet-1-1-1"), re.escape(f"stage={stage!r}") + ".*valid stages are 0..2", stage=stage)


@pytest.mark.parametrize("position", [-1, 3, "1", 1.5])
def test_bad_position(position):
    fails_cleanly(small("Basic3ResNet-1-2-1"), re.escape(f"position={position!r}") + ".*valid positions are 1..2",
                  stage=1, position=position)


@pytest.mark.parametrize("name, stage", [("Basic3ResNet-1-1-1", 1), ("Bottleneck4ResNet-1-1-1-1", 0),
                                         ("VGG-1-1-1-1-1", 4), ("MobileNetV2-1-1-1-1-1", 3)])
def test_position_zero_refused_before_a_downsampling_first_block(name, stage):
    # VGG's last stage keeps the channels (512 -> 512) but pools; MobileNetV2's stage 3 has stride 1 but
    # changes the channels: neither first block can follow a new block.
    fails_cleanly(small(name, image_size=32), r"position=0 is not allowed.*downsamples", stage=stage, position=0)


@pytest.mark.parametrize("max_depth, match", [(2, "max_depth=2: stage 0 .* already has 2 block"),
                                              ((2, 5, 5), r"max_depth=\(2, 5, 5\): stage 0"),
                                              (0, "max_depth=0 is not allowed"),
                                              ((3, 3), r"max_depth=\(3, 3\) is not allowed.*3 stages"),
                                              ("4", "max_depth='4' is not allowed")])
def test_bad_or_reached_max_depth(max_depth, match):
    fails_cleanly(small("Basic3ResNet-2-1-1"), match, stage=0, max_depth=max_depth)


def test_max_depth_allows_growth_below_the_limit():
    model = small("Basic3ResNet-2-1-1")
    grow_depth(model, 0, max_depth=3)
    grow_depth(model, 1, max_depth=(3, 2, 1))
    assert model.spec == "Basic3ResNet-3-2-1"


def test_unknown_init_lists_the_names():
    names = ", ".join(sorted(DEPTH_INITS))
    assert names == "adam, copy, gaussian, he, mogrow, uniform, zero"
    fails_cleanly(small("Basic3ResNet-1-1-1"), re.escape(f"init='kaiming' is unknown: choose one of {names}"),
                  stage=0, init="kaiming")
    with pytest.raises(ValueError, match="init='kaiming'"):
        AddBlock(init="kaiming")


@pytest.mark.parametrize("name", ["MobileNetV1", "WRN-16-2", "CNN4", "MLP"])
def test_model_that_does_not_grow_in_depth(name):
    model = build_model(name, num_classes=5, width=0.25)
    fails_cleanly(model, re.escape(f"model={model.spec!r} does not grow in depth") + ".*Basic3ResNet.*VGG",
                  stage=0)


# --------------------------------------------------------------------------- the training loop


def test_grower_with_copy_keeps_the_momentum_of_old_blocks(monkeypatch):
    data = growth.load_dataset("synthetic", num_train=64, num_test=32, device="cpu")
    loop = sys.modules["growth.train"]
    real, seen = loop.rebuild_optimizer, []

    def spy(optimizer, old_state, model, *, reset=False):
        new = real(optimizer, old_state, model, reset=reset)
        seen.append({
            "old": {n: s["momentum_buffer"].clone() for n, (_, s) in old_state.items()},
            "new": {n: new.state[p]["momentum_buffer"].clone() for n, p in model.named_parameters() if p in new.state},
            "names": [n for n, _ in model.named_parameters()],
        })
        return new

    monkeypatch.setattr(loop, "rebuild_optimizer", spy)
    growth.seed_everything(0)
    model = build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    grower = growth.Grower(growth.when.Periodic(1), growth.where.RoundRobin([2, 2, 1]), AddBlock(init="copy"))
    run = growth.train(model, data, epochs=3, batch_size=32, lr=0.05, grower=grower)
    assert run.model.spec == "Basic3ResNet-2-2-1" and len(seen) == 2  # stage 0: a copy; stage 1: `he` fallback
    assert [e["method"] for e in run.history.events] == ["periodic/round-robin/add-block(copy)"] * 2
    for event in seen:
        assert set(event["new"]) == set(event["old"])  # old blocks carried, the new block starts empty
        assert len(event["names"]) > len(event["old"])
        assert all(torch.equal(event["new"][n], buf) for n, buf in event["old"].items())
