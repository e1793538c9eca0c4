"""LipGrow's growth: every block of the net is duplicated (the depth doubles), as an ODE solver halves
its step (Dong et al., ICML 2020; FRAGrow's Tables 6-7: "Lipgrow doubles blocks for each growth").

:func:`double_blocks` inserts, right after each block of a stage, a copy of it (weights and BN
statistics); a block that cannot be copied (the first of a stage when it downsamples or changes the
channels) is followed by the family's new block instead (``he``).  The residual branch of every
identity-residual block involved, original and copy, is multiplied by ``scale`` (``1/sqrt(2)``,
as the LipGrow authors' code does [code]) through its last BN's weight and bias.  With ``targets``, a stage doubles only
up to its target depth: its last ``min(depth, target - depth)`` blocks are duplicated (VGG-2-2-2-2-4
-> VGG-2-2-4-4-4 where the target is FRAGrow's).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..protocol import GrowthContext
from .depth import grow_depth
from .depth_init import CopyInit, last_bn

__all__ = ["DoubleBlocks", "double_blocks"]


def _identity_residual(block: nn.Module) -> bool:
    wiring = getattr(block, "wiring", None)
    return bool(wiring is not None and getattr(wiring(), "residual", False))


def double_blocks(model: nn.Module, stages: Sequence[int] | None = None, *, targets: Sequence[int] | None = None,
                  scale: float = 1 / math.sqrt(2)) -> nn.Module:
    """Duplicate the blocks of ``stages`` (default: all) of ``model`` IN PLACE; returns the model.

    ``targets``: the most blocks per stage (one per stage); ``scale``: the factor on the residual branch
    of the identity-residual blocks involved (1 leaves them as they are).
    """
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale={scale!r} is not allowed: use a finite number > 0")
    n = len(model.stages)
    stages = tuple(range(n)) if stages is None else tuple(stages)
    if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < n for s in stages):
        raise ValueError(f"stages={stages!r} is not allowed: valid stages of {model.spec} are 0..{n - 1}")
    if targets is not None and (len(targets) != n or any(not isinstance(t, int) or t < 1 for t in targets)):
        raise ValueError(f"targets={targets!r} is not allowed: give one positive depth per stage ({n} stages)")
    for stage in stages:
        depth = len(model.stages[stage])
        count = depth if targets is None else max(0, min(depth, targets[stage] - depth))
        involved = []
        for i in reversed(range(depth - count, depth)):  # from the end: earlier positions stay valid
            grow_depth(model, stage, init=CopyInit(), position=i + 1)
            involved += [model.stages[stage][i], model.stages[stage][i + 1]]
        with torch.no_grad():
            for block in involved:
                if _identity_residual(block):
                    bn = last_bn(block)
                    bn.weight.mul_(scale)
                    bn.bias.mul_(scale)
    return model


@dataclass
class DoubleBlocks:
    """Operator: :func:`double_blocks` on the stages the locator returns (:class:`growth.where.AllStages`)."""

    targets: Sequence[int] | None = None
    scale: float = 1 / math.sqrt(2)
    name: str = "double-blocks"

    def __call__(self, ctx: GrowthContext, stages: Sequence[int]) -> nn.Module:
        return double_blocks(ctx.model, stages, targets=self.targets, scale=self.scale)
