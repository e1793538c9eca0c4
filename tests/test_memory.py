"""growth.measure.memory (VT Fig. 7(a) on any device): saved activations and step memory by hand, growth with
batch and width, bad input."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import growth
from growth.measure.memory import saved_activation_bytes, step_memory_bytes

pytestmark = pytest.mark.usefixtures("one_thread")


def test_saved_activations_by_hand():
    """Linear saves its input for the weight's gradient (4 x 10 floats = 160 bytes), ReLU its output
    (4 x 5 floats = 80 bytes); the next Linear saves that same output, counted once; weights never count."""
    x = torch.randn(4, 10)
    assert saved_activation_bytes(nn.Sequential(nn.Linear(10, 5)), x) == 160
    assert saved_activation_bytes(nn.Sequential(nn.Linear(10, 5), nn.ReLU()), x) == 240
    assert saved_activation_bytes(nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 3)), x) == 240


def test_step_memory_by_hand():
    """55 parameters x 4 bytes x (weights, gradients, 2 Adam buffers) = 880 bytes."""
    assert step_memory_bytes(nn.Linear(10, 5), (10,), 4, buffers_per_param=2) == {
        "state": 880, "activations": 160, "total": 1040}


def test_activations_grow_with_batch_and_width_and_bn_stats_are_untouched():
    small = growth.build_model("ResNet-20", num_classes=10, width=0.25)
    wide = growth.build_model("ResNet-20", num_classes=10, width=0.5)
    before = small.stages[0][0].bn1.running_mean.clone()
    a = step_memory_bytes(small, (3, 32, 32), 8)["activations"]
    # BatchNorm also saves its per-channel statistics, which do not grow with the batch
    assert step_memory_bytes(small, (3, 32, 32), 16)["activations"] == pytest.approx(2 * a, rel=1e-3)
    assert 1.9 * a < step_memory_bytes(wide, (3, 32, 32), 8)["activations"] < 2.1 * a
    assert torch.equal(small.stages[0][0].bn1.running_mean, before)


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "batch_size=0 is not allowed"),
    (dict(batch_size=4, buffers_per_param=-1), "buffers_per_param=-1 is not allowed"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        step_memory_bytes(nn.Linear(2, 2), (2,), **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU only: the loop logs the device's peak on CUDA")
def test_train_logs_peak_memory_on_cuda():
    data = growth.load_dataset("synthetic", num_train=64, num_test=32, num_classes=5, seed=0, device="cuda")
    model = growth.build_model("CNN4", num_classes=5, image_size=32, width=0.25)
    run = growth.train(model, data, epochs=1, batch_size=16, device="cuda")
    assert run.history.epochs[0]["peak_memory_bytes"] > 0
