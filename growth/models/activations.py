"""A ReLU whose derivative at 0 is 1, for networks that grow units with zero fan-in.

PyTorch's ``nn.ReLU`` (and ``F.relu``, ``clamp(min=0)``, ``nn.ReLU6``) has derivative 0 at 0.  A
new unit with zero fan-in (GradMax, Evci et al. 2022, Sec. 3) has pre-activation exactly 0, so behind
such a ReLU its fan-in never receives a gradient and the unit never learns.  The GradMax authors use
``maximum(x, 0)`` "to ensure gradient is 1 at 0" between grown layers; :class:`ReLU1` computes
``where(x >= 0, x, 0)``: the same values as ``nn.ReLU``, derivative 1 at 0.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ReLU1", "relu_one_at_zero"]


class ReLU1(nn.Module):
    """``max(x, 0)`` with derivative 1 at 0 (not in place: ``inplace`` is accepted and ignored)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= 0, x, torch.zeros((), dtype=x.dtype, device=x.device))


def relu_one_at_zero(model: nn.Module) -> int:
    """Replace every ``nn.ReLU`` module of ``model`` by a :class:`ReLU1`, IN PLACE; returns how many.

    The values the model computes do not change; only the gradient at exactly 0 does.
    """
    swapped = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.ReLU:
                setattr(module, name, ReLU1())
                swapped += 1
    return swapped
