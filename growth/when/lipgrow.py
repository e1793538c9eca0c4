"""LipGrow's when-to-grow policy (Dong, Liu, Li, Shang, "Towards Adaptive Residual Network Training:
A Neural-ODE Perspective", ICML 2020), FRAGrow's fastest baseline (its Tables 6-7).

The bound (as the authors' public code computes it, [code]):

* a conv's Lipschitz constant is its spectral norm as a linear operator on its actual input shape,
  estimated by power iteration (:func:`conv_spectral_norm`; the adjoint is the autograd
  vector-Jacobian product, i.e. the transposed convolution);
* a batch norm (eval mode) contributes ``max_c |gamma_c| / sqrt(var_c + eps)``
  (:func:`batchnorm_lipschitz`);
* a block's bound is the product over the convs and BNs of its residual branch
  (:func:`block_lipschitz`; shortcut layers are not part of the branch); the monitored value is the
  mean over all blocks (:func:`model_lipschitz`).

The trigger (:class:`LipGrow`, the authors' ``TolTrigger``): after each growth the per-epoch values
start a new series; its mean over the last ``window`` epochs is compared with the first such mean
(the value "right after the previous growth"); the net grows when the ratio exceeds ``tolerance``
(1.4, the authors' launch script), the same after every growth, as their final code; their first
commit halved the excess tolerance at each growth (``1.4 -> 1.2 -> 1.1``), which
``tolerance_decay=0.5`` gives.  The growth doubles every block (:class:`growth.how.DoubleBlocks`);
forced growths that keep 30 epochs for the final net are :class:`growth.when.AtLatest`'s job.

Cost: every estimate runs ``iterations`` power iterations per conv (100, as the authors' code;
warm-started from the last epoch's vectors), each one convolution and one transposed convolution on
a single input; their MACs are charged to the run (``ctx.cost.add_extra(macs, "LipGrow")``) and
their seconds recorded per epoch (``lipschitz_seconds``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from ..machine import exact_sqrt
from ..protocol import GrowthContext
from .convergent import last_growth

#: Power iterations per conv and estimate, as the authors' code (their hooks' ``n_power_iterations``).
POWER_ITERATIONS = 100

__all__ = ["LipGrow", "batchnorm_lipschitz", "block_lipschitz", "conv_input_shapes", "conv_macs",
           "conv_spectral_norm", "model_lipschitz"]

_SKIP = ("shortcut", "downsample")


def conv_spectral_norm(conv: nn.Conv2d, input_shape: tuple[int, int, int], *, iterations: int = POWER_ITERATIONS,
                       start: torch.Tensor | None = None) -> tuple[float, torch.Tensor]:
    """Power iteration for the spectral norm of ``conv`` (weights only, no bias) as the linear map of
    one ``input_shape`` = ``(C, H, W)`` input.  Returns ``(sigma, v)``; pass ``v`` back as ``start``
    to warm-start the next estimate.  The estimate never exceeds the true norm and converges to it."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations={iterations!r} is not allowed: use a positive integer")
    weight = conv.weight.detach()

    def apply(x: torch.Tensor) -> torch.Tensor:
        return conv._conv_forward(x, weight, None)

    shape = (1, *input_shape)
    v = start if start is not None and tuple(start.shape) == shape else torch.randn(shape, device=weight.device,
                                                                                      dtype=weight.dtype)
    v = v / v.norm()
    sigma = 0.0
    with torch.enable_grad():
        for _ in range(iterations):
            x = v.detach().requires_grad_(True)
            u = apply(x)
            sigma = float(u.detach().norm())
            if sigma == 0.0:
                return 0.0, v.detach()
            (w,) = torch.autograd.grad(u, x, grad_outputs=u / sigma)  # A^T u / |A v|
            v = w / w.norm()
    with torch.no_grad():
        sigma = float(apply(v).norm())
    return sigma, v.detach()


def batchnorm_lipschitz(bn: nn.modules.batchnorm._BatchNorm) -> float:
    """``max_c |gamma_c| / sqrt(running_var_c + eps)``: the BN's Lipschitz constant in eval mode."""
    gamma = bn.weight.detach().abs() if bn.weight is not None else torch.ones_like(bn.running_var)
    return float((gamma / exact_sqrt(bn.running_var + bn.eps)).max())


def _branch(block: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in block.named_modules()
            if isinstance(m, (nn.Conv2d, nn.modules.batchnorm._BatchNorm)) and not n.startswith(_SKIP)]


@torch.no_grad()
def conv_input_shapes(model: nn.Module, input_shape: tuple[int, int, int]) -> dict[nn.Conv2d, tuple[int, int, int]]:
    """The ``(C, H, W)`` each conv of ``model`` sees, from one forward pass of a zero input (eval mode)."""
    shapes: dict[nn.Conv2d, tuple[int, int, int]] = {}

    def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        shapes.setdefault(module, tuple(inputs[0].shape[1:]))

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was_training = model.training
    param = next(model.parameters())
    try:
        model.eval()
        model(torch.zeros((1, *input_shape), device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return shapes


def conv_macs(conv: nn.Conv2d, input_shape: tuple[int, int, int]) -> int:
    """Multiply-adds of ``conv`` on one input of ``input_shape``."""
    _, h, w = input_shape
    kh, kw = conv.kernel_size
    out_h = (h + 2 * conv.padding[0] - conv.dilation[0] * (kh - 1) - 1) // conv.stride[0] + 1
    out_w = (w + 2 * conv.padding[1] - conv.dilation[1] * (kw - 1) - 1) // conv.stride[1] + 1
    return conv.out_channels * out_h * out_w * (conv.in_channels // conv.groups) * kh * kw


def block_lipschitz(block: nn.Module, shapes: dict, *, iterations: int = POWER_ITERATIONS,
                    vectors: dict | None = None) -> tuple[float, int]:
    """The bound of one block: product over its residual branch's convs (spectral norms) and BNs.
    Returns ``(bound, MACs spent)``; ``vectors`` (conv -> last power-iteration vector) is read and updated."""
    bound, macs = 1.0, 0
    for _, m in _branch(block):
        if isinstance(m, nn.Conv2d):
            start = vectors.get(m) if vectors is not None else None
            sigma, v = conv_spectral_norm(m, shapes[m], iterations=iterations, start=start)
            if vectors is not None:
                vectors[m] = v
            bound *= sigma
            macs += 2 * iterations * conv_macs(m, shapes[m]) + conv_macs(m, shapes[m])
        else:
            bound *= batchnorm_lipschitz(m)
    return bound, macs


def model_lipschitz(model: nn.Module, input_shape: tuple[int, int, int], *, iterations: int = POWER_ITERATIONS,
                    vectors: dict | None = None) -> tuple[float, int]:
    """LipGrow's monitored value: the mean of :func:`block_lipschitz` over every block of every stage
    of a :class:`growth.models.GrowableNet`.  Returns ``(mean bound, MACs spent)``."""
    shapes = conv_input_shapes(model, input_shape)
    bounds, macs = [], sum(conv_macs(c, s) for c, s in shapes.items())  # the shape-finding pass
    for stage in model.stages:
        for block in stage:
            b, m = block_lipschitz(block, shapes, iterations=iterations, vectors=vectors)
            bounds.append(b)
            macs += m
    return sum(bounds) / len(bounds), macs


@dataclass
class LipGrow:
    """Grow when the smoothed Lipschitz bound exceeds ``tolerance`` times its value after the last
    growth (module docstring).  ``window``: epochs averaged (10); ``tolerance``: 1.4; ``tolerance_decay``:
    the excess ``tolerance - 1`` is multiplied by it after each growth (1 keeps it, the authors' final
    code; 0.5 their first commit); ``iterations``: power iterations per conv per epoch (100).  Writes
    ``lipschitz``, ``lipschitz_smooth``, ``lipschitz_ratio`` and ``lipschitz_seconds`` into the epoch's
    History record."""

    window: int = 10
    tolerance: float = 1.4
    tolerance_decay: float = 1.0
    iterations: int = POWER_ITERATIONS
    name: str = "lipgrow"
    _series: list[float] = field(default_factory=list, init=False, repr=False)
    _base: float | None = field(default=None, init=False, repr=False)
    _since: int = field(default=0, init=False, repr=False)
    _current: float = field(default=0.0, init=False, repr=False)
    _vectors: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for key in ("window", "iterations"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}={value!r} is not allowed: use a positive integer")
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float)) \
                or not math.isfinite(self.tolerance) or self.tolerance <= 1:
            raise ValueError(f"tolerance={self.tolerance!r} is not allowed: use a finite number > 1")
        if isinstance(self.tolerance_decay, bool) or not isinstance(self.tolerance_decay, (int, float)) \
                or not 0 < self.tolerance_decay <= 1:
            raise ValueError(f"tolerance_decay={self.tolerance_decay!r} is not allowed: use a number in (0, 1]")
        self._current = float(self.tolerance)

    def __call__(self, ctx: GrowthContext) -> bool:
        grown = last_growth(ctx.history, ctx.epoch)
        if grown != self._since:  # a growth since the last call: a new series, a tighter tolerance
            growths = sum(1 for e in ctx.history.events if e.get("kind", "grow") == "grow")
            self._since, self._series, self._base = grown, [], None
            self._current = 1 + (self.tolerance - 1) * self.tolerance_decay ** growths
            self._vectors = {}
        start = time.perf_counter()
        shape = getattr(ctx.cost, "input_shape", None) or getattr(ctx.data, "input_shape", None)
        if shape is None:
            raise ValueError("LipGrow needs the input shape: give the GrowthContext a cost meter or data with input_shape")
        value, macs = model_lipschitz(ctx.model, tuple(shape), iterations=self.iterations, vectors=self._vectors)
        seconds = time.perf_counter() - start
        if ctx.cost is not None:
            ctx.cost.add_extra(macs, "LipGrow")
        self._series.append(value)
        record = ctx.history.epochs[-1]
        record.update(lipschitz=value, lipschitz_seconds=seconds, lipschitz_macs=macs, lipschitz_tolerance=self._current)
        if len(self._series) < self.window:
            return False
        smooth = sum(self._series[-self.window:]) / self.window
        if self._base is None:
            self._base = smooth
        record.update(lipschitz_smooth=smooth, lipschitz_ratio=smooth / self._base)
        return smooth / self._base > self._current
