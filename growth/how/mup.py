"""muP-style initialisation of a whole network ("transfer" in Fig. 3 of the VT paper).

Yuan, Savarese, Maire (NeurIPS 2023), Sec. 3.1 "Weights Initialization with Variance Transfer",
after Yang et al.'s muP [42]: a weight of a layer with fan-in ``F`` (input channels x kernel area)
is drawn from ``N(0, 1/F)``, the output layer's (the logits) from ``N(0, 1/F^2)``; biases are 0.
These are the variances :func:`growth.grow_width` gives new units with ``method="vt"``; applied to
a fixed-size network without muP's LR rescaling it is the paper's "transfer" baseline of Fig. 3,
which the paper reports to underperform the standard initialisation.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .width_methods import randn

__all__ = ["mup_init"]


@torch.no_grad()
def mup_init(model: nn.Module, *, generator: torch.Generator | None = None) -> nn.Module:
    """Re-initialise every Conv2d / Linear of ``model`` in place with muP variances; returns ``model``.

    The output layer is the last ``nn.Linear`` (the logits of every family of the zoo).  BatchNorm
    layers are left as they are.  ``generator``: the draws (the global RNG if None).
    """
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not layers:
        raise ValueError(f"model={type(model).__name__} has no Conv2d or Linear layer to initialise")
    logits = [m for m in layers if isinstance(m, nn.Linear)][-1:]
    for layer in layers:
        fan_in = math.prod(layer.weight.shape[1:])
        std = 1.0 / fan_in if layer in logits else fan_in ** -0.5
        layer.weight.copy_(randn(layer.weight.shape, layer.weight, generator) * std)
        if layer.bias is not None:
            layer.bias.zero_()
    return model
