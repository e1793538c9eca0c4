"""MoGrow: the weight EMA against a hand-computed average, the new block's tensors, renumbering."""
import pytest
import torch

import growth
from growth.how import AddBlock, MomentumInit, WeightEMA, grow_depth

pytestmark = pytest.mark.usefixtures("one_thread")


def test_ema_by_hand():
    lin = torch.nn.Linear(1, 1, bias=False)
    ema = WeightEMA(decay=0.9)
    values = [1.0, 2.0, 4.0]
    for v in values:
        with torch.no_grad():
            lin.weight.fill_(v)
        ema.update(lin)
    # starts at 1; then 0.9*1 + 0.1*2 = 1.1; then 0.9*1.1 + 0.1*4 = 1.39
    assert ema.shadow["weight"].item() == pytest.approx(1.39)
    assert ema.steps == 3 and ema.updates == 3 and ema.nbytes == 4 and ema.peak_bytes == 4
    with pytest.raises(ValueError, match="decay="):
        WeightEMA(1.0)


def test_mogrow_block_is_the_averaged_preceding_block():
    torch.manual_seed(0)
    model = growth.build_model("Basic4ResNet-1-2-1-1", num_classes=10, width=0.125)
    init = MomentumInit(decay=0.5)
    init.after_step(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    init.after_step(model)  # average = old + 0.5
    before = {k: v.clone() for k, v in model.stages[1][1].state_dict().items()}
    grow_depth(model, 1, init=init)
    new = model.stages[1][2].state_dict()
    assert torch.allclose(new["conv1.weight"], before["conv1.weight"] - 0.5)
    assert torch.allclose(new["bn2.running_var"], before["bn2.running_var"])  # buffers untouched by the steps
    # the preceding block itself keeps its current weights
    assert torch.equal(model.stages[1][1].conv1.weight, before["conv1.weight"])


def test_inserting_renumbers_the_averages():
    model = growth.build_model("VGG-1-3-1-1-2", num_classes=10, width=0.125)
    init = MomentumInit(decay=0.9)
    init.after_step(model)
    marker = init.ema.shadow["stages.1.2.conv.weight"].clone()
    grow_depth(model, 1, init=init, position=1)
    assert torch.equal(init.ema.shadow["stages.1.3.conv.weight"], marker)
    assert "stages.1.2.conv.weight" in init.ema.shadow  # the old block 1, now at 2, moved too
    assert "stages.1.1.conv.weight" not in init.ema.shadow  # the new block starts at its value next step


def test_the_training_loop_feeds_the_average_through_the_grower():
    data = growth.load_dataset("synthetic", num_train=64, num_test=32, val_fraction=0.25)
    model = growth.build_model("VGG-1-1-1-1-2", num_classes=10, width=0.125)
    how = AddBlock(init=MomentumInit(decay=0.9))
    grower = growth.Grower(growth.when.Periodic(1), growth.where.Sequential((1, 2, 1, 1, 2)), how)
    run = growth.train(model, data, epochs=2, batch_size=16, grower=grower, device="cpu")
    ema = how.initializer.ema
    assert ema.steps == 2 * 3  # 48 training images / 16
    assert run.model.spec == "VGG-1-2-1-1-2"
    assert all("observer_seconds" in r for r in run.history.epochs)
    assert set(ema.shadow) == {k for k, v in run.model.state_dict().items() if v.is_floating_point()}
