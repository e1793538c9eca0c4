"""growth.how.mup_init: muP variances (VT paper Sec. 3.1), the "transfer" baseline of Fig. 3."""
import pytest
import torch
from torch import nn

import growth
from growth.how import mup_init


def test_variances_are_mup():
    model = growth.build_model("CNN4", num_classes=10, width=1.0)
    mup_init(model, generator=torch.Generator().manual_seed(0))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:  # fan-in = in channels x 9
        fan_in = conv.weight.shape[1] * 9
        assert conv.weight.std().item() == pytest.approx(fan_in ** -0.5, rel=0.05)
    fc = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    assert fc.weight.std().item() == pytest.approx(1 / fc.weight.shape[1], rel=0.1)
    assert torch.count_nonzero(fc.bias) == 0


def test_same_generator_same_weights_and_no_layers_refused():
    a = mup_init(growth.build_model("MLP", num_classes=10), generator=torch.Generator().manual_seed(3))
    b = mup_init(growth.build_model("MLP", num_classes=10), generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        mup_init(nn.ReLU())
