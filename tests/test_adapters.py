"""Layer adapters (growth.how.adapters): a layer type width growth has never seen grows once it has one
adapter, with every method, keeping the function where the method promises it; without one the
model is refused, naming the type, before any change."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from growth.how import grow_width
from growth.how.adapters import LAYER_ADAPTERS, LinearAdapter, layer_adapter, norm_adapter, register_layer_adapter
from growth.models.base import GrowableNet, Wiring, wired_channel_groups


class Affine(nn.Module):
    """A linear map that is not an nn.Linear (as a template-mixing layer would not be)."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in) / fan_in**0.5)
        self.bias = nn.Parameter(torch.randn(fan_out) * 0.1)

    def forward(self, x):
        return x @ self.weight.T + self.bias


class AffineAdapter(LinearAdapter):
    types = (Affine,)

    def install(self, module, weight, bias, depthwise):
        module.weight = nn.Parameter(weight.reshape(weight.shape[0], -1).contiguous())
        if bias is not None:
            module.bias = nn.Parameter(bias)

    def fresh(self, module, shape, depthwise):
        return Affine(shape[1], shape[0])


class Hidden(nn.Module):
    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.fc = Affine(fan_in, fan_out)
        self.norm = nn.BatchNorm1d(fan_out)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.norm(self.fc(x.flatten(1))))

    def wiring(self):
        return Wiring(reads=("fc",), writes=("fc",), write_norms=("norm",))


class Head(nn.Module):
    def __init__(self, fan_in, classes):
        super().__init__()
        self.fc = Affine(fan_in, classes)

    def forward(self, x):
        return self.fc(x)

    def wiring(self):
        return Wiring(reads=("fc",))


class Tiny(GrowableNet):
    family = "Tiny"

    def __init__(self):
        super().__init__(num_classes=3, image_size=2, width=1.0)
        self.stem = Hidden(12, 5)
        self.stages = nn.ModuleList([nn.Sequential(Hidden(5, 4))])
        self.head = Head(4, 3)

    def channel_groups(self):
        return wired_channel_groups(self)


@pytest.fixture
def affine_adapter():
    adapter = register_layer_adapter(AffineAdapter())
    yield adapter
    LAYER_ADAPTERS.remove(adapter)


def tiny() -> Tiny:
    torch.manual_seed(0)
    model = Tiny().double()
    with torch.no_grad():
        model.train()(torch.randn(8, 3, 2, 2, dtype=torch.float64))
    return model.eval()


@pytest.mark.parametrize("method", ["net2net", "gradmax-random", "random", "vt"])
def test_a_new_layer_type_grows_with_one_adapter(affine_adapter, method):
    model = tiny()
    x = torch.randn(6, 3, 2, 2, dtype=torch.float64)
    with torch.no_grad():
        before = model(x)
    record = grow_width(model, channels={"stem": 7, "stages.0.0": 6}, method=method,
                        generator=torch.Generator().manual_seed(1))
    assert model.stem.fc.weight.shape == (7, 12) and model.stages[0][0].fc.weight.shape == (6, 7)
    assert model.head.fc.weight.shape == (3, 6) and model.stem.norm.num_features == 7
    assert record.groups == {"stem": (5, 7), "stages.0.0": (4, 6)}
    with torch.no_grad():
        after = model(x)
    keeps = method in ("net2net", "gradmax-random")
    assert torch.allclose(before, after, rtol=1e-10, atol=1e-12) == keeps


def test_without_an_adapter_the_type_is_named_before_any_change():
    model = tiny()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"layer type Affine cannot grow in width: layers with an adapter are "
                                         r"Linear, Conv2d, Embedding \(growth.how.adapters.register_layer_adapter adds one\)"):
        grow_width(model, channels={"stem": 7}, method="net2net")
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_lookups():
    assert isinstance(layer_adapter(nn.Linear(2, 3)), LinearAdapter)
    assert layer_adapter(nn.ReLU(), required=False) is None
    assert norm_adapter(nn.BatchNorm2d(3)) is not None and norm_adapter(nn.Linear(2, 3)) is None
    with pytest.raises(ValueError, match=r"adapter=3 is not allowed"):
        register_layer_adapter(3)
