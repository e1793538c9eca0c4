"""App. H's dynamic orthogonalised SGD (VT paper; after Wan et al.'s OSGD, ICML 2020), for a network
that grows with its data stream (:mod:`growth.data.stream`).

At each growth, before the network grows, the gradient of the old data ``D_{t-1}`` is accumulated over
one additional epoch (forward and backward passes, no update; charged to the run's cost); after the
growth it is zero-padded to the new shapes, ``g~``.  Every gradient ``g`` of the next stage is then
replaced by (App. H)

    ``g' = lambda g_orth + (1 - lambda) g``,  ``g_orth = g - (<g, g~> / <g~, g~>) g~``,

``g_orth`` the part of ``g`` orthogonal to ``g~`` (at ``lambda = 1`` the new steps do not interfere with
the old data's direction), ``lambda`` annealed from 1 to 0 so that the new data and units fade in.
Where the paper's text was lost (each a parameter) **[open]**: the inner products run over all the
parameters at once (``projection="global"``) or per tensor (``"tensor"``); ``lambda`` falls linearly
over the stage's optimizer steps, ``1 - s / S`` at its step ``s`` of ``S``; the old gradient is the sum
of the batch gradients of the extra epoch (only its direction matters).

:class:`DynamicOSGD` wraps the run's growth operator (:class:`growth.how.AddWidth`): the training loop
calls its ``before_step`` between each backward pass and optimizer step (``Grower.gradient_hooks``).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..measure.cost import training_macs_per_sample

__all__ = ["PROJECTIONS", "DynamicOSGD", "old_gradient", "orthogonal_blend"]

PROJECTIONS = ("global", "tensor")


def orthogonal_blend(grads: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], lam: float,
                     projection: str = "global") -> dict[str, torch.Tensor]:
    """``lam g_orth + (1 - lam) g`` per tensor: ``g`` minus ``lam`` times its projection on ``reference``
    (over all tensors at once, or per tensor); a tensor without a reference, or a zero reference, keeps ``g``."""
    if projection not in PROJECTIONS:
        raise ValueError(f"projection={projection!r} is unknown: choose one of {', '.join(PROJECTIONS)}")
    shared = [n for n in grads if n in reference]
    if projection == "global":
        dot = sum(float((grads[n].double() * reference[n].double()).sum()) for n in shared)
        norm = sum(float(reference[n].double().square().sum()) for n in shared)
        coefficients = {n: dot / norm if norm > 0 else 0.0 for n in shared}
    else:
        coefficients = {}
        for n in shared:
            norm = float(reference[n].double().square().sum())
            coefficients[n] = float((grads[n].double() * reference[n].double()).sum()) / norm if norm > 0 else 0.0
    return {n: g - lam * coefficients[n] * reference[n].to(g) if n in coefficients else g for n, g in grads.items()}


def old_gradient(model: nn.Module, loader, criterion: Callable | None = None) -> tuple[dict[str, torch.Tensor], int]:
    """The summed gradient of every trainable parameter over one pass of ``loader`` (the old data), and the
    samples seen.  Training mode (as the data was trained on), but the model is left as it was: its
    buffers (BatchNorm's statistics) are restored and its ``.grad`` fields cleared."""
    criterion = criterion or nn.CrossEntropyLoss()
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    seen = 0
    was_training = model.training
    model.train()
    with torch.random.fork_rng(devices=[]):  # dropout draws leave the run's random stream alone
        for x, y in loader:
            model.zero_grad(set_to_none=True)
            criterion(model(x), y).backward()
            for n, p in params.items():
                if p.grad is not None:
                    total[n] += p.grad
            seen += x.shape[0]
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for n, b in model.named_buffers():
            b.copy_(buffers[n])
    model.train(was_training)
    return {n: g.detach() for n, g in total.items()}, seen


def _padded(old: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``old`` in the leading corner of zeros of ``shape`` (where width growth keeps the old weights)."""
    grown = old.new_zeros(shape)
    grown[tuple(slice(0, n) for n in old.shape)] = old
    return grown


@dataclass
class DynamicOSGD:
    """Operator: ``how`` (the growth), preceded by the old data's gradient epoch; then, step by step, the
    blend of :func:`orthogonal_blend` with ``lambda`` annealed over ``anneal_steps[k]`` steps after growth
    ``k`` (one entry per growth: the steps of the stage that follows it).  ``batch_size``: of the extra
    epoch (no augmentation)."""

    how: Callable[..., nn.Module]
    anneal_steps: Sequence[int]
    batch_size: int = 128
    projection: str = "global"
    name: str = ""
    reference: dict[str, torch.Tensor] | None = field(default=None, init=False, repr=False)
    steps: int = field(default=0, init=False)
    growths: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection={self.projection!r} is unknown: choose one of {', '.join(PROJECTIONS)}")
        if not self.anneal_steps or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
                                        for s in self.anneal_steps):
            raise ValueError(f"anneal_steps={list(self.anneal_steps)!r} is not allowed: give each growth's stage a "
                             "positive number of optimizer steps")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, numbers.Integral) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} is not allowed: use a positive integer")
        self.name = self.name or f"dynamic-osgd({getattr(self.how, 'name', type(self.how).__name__)})"

    def check(self, model: nn.Module) -> None:
        check = getattr(self.how, "check", None)
        if callable(check):
            check(model)

    def __call__(self, ctx: Any, target: Any) -> nn.Module:
        loader = ctx.data.train_loader(self.batch_size, seed=ctx.seed * 100_003 + ctx.epoch, augment=False)
        grads, seen = old_gradient(ctx.model, loader)
        if ctx.cost is not None:
            ctx.cost.add_extra(seen * training_macs_per_sample(ctx.model, ctx.cost.input_shape),
                               "dynamic OSGD: the old data's gradient epoch")
        model = self.how(ctx, target)
        shapes = {n: p.shape for n, p in model.named_parameters()}
        self.reference = {n: _padded(g, shapes[n]) for n, g in grads.items() if n in shapes}
        self.steps, self.growths = 0, self.growths + 1
        return model

    def lam(self) -> float:
        """``lambda`` of the next step: 1 right after a growth, falling linearly to 0 over its stage."""
        total = self.anneal_steps[min(self.growths, len(self.anneal_steps)) - 1]
        return max(0.0, 1.0 - self.steps / total)

    def before_step(self, model: nn.Module) -> None:
        """Replace the gradients by the blend (nothing before the first growth, or once ``lambda`` is 0)."""
        if self.reference is None:
            return
        lam = self.lam()
        self.steps += 1
        if lam == 0.0:
            return
        params = {n: p for n, p in model.named_parameters() if p.grad is not None}
        blended = orthogonal_blend({n: p.grad for n, p in params.items()}, self.reference, lam, self.projection)
        for n, p in params.items():
            p.grad = blended[n]
