"""MoGrow's initialiser (Li et al. 2022, "momentum growth"; FRAGrow's Table 10): a new block copies an
exponential moving average (EMA) of the preceding block's weights.

:class:`WeightEMA` keeps, for every floating-point parameter and buffer of the model (BN running
statistics included), ``ema <- decay * ema + (1 - decay) * value`` after every optimizer step (the
authors' code keeps EMA copies of the network, decay about 0.999 [code]).  A tensor seen for the
first time (the seed's at the first step, a new block's after a growth) starts at its value.
:class:`MomentumInit` is the :class:`~growth.how.depth_init.DepthInit` that uses it: like ``copy``
(FRAGrow's default, :class:`~growth.how.depth_init.CopyInit`) it inserts a block shaped like the
preceding one, but loads the preceding block's *averaged* tensors into it; where there is no block to
copy it falls back to the family's new block.

Cost (both counted): the EMA holds one float copy of every tracked tensor
(``WeightEMA.nbytes``, the largest it held in ``peak_bytes``) and spends two multiply-adds per element
per step (``WeightEMA.updates`` elements updated in all); its seconds are the training loop's
``observer_seconds`` per epoch.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from .depth_init import DEPTH_INITS, CopyInit, DepthInit, interchangeable, template_block

__all__ = ["MomentumInit", "WeightEMA"]


class WeightEMA:
    """An exponential moving average of a model's floating-point parameters and buffers, by name."""

    def __init__(self, decay: float = 0.999) -> None:
        if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0 <= decay < 1:
            raise ValueError(f"decay={decay!r} is not allowed: use a number in [0, 1)")
        self.decay = float(decay)
        self.shadow: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.updates = 0
        self.peak_bytes = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step over every floating-point tensor of ``model``'s state dict."""
        seen = set()
        for name, value in model.state_dict().items():
            if not value.is_floating_point():
                continue
            seen.add(name)
            avg = self.shadow.get(name)
            if avg is None or avg.shape != value.shape:
                self.shadow[name] = value.detach().clone()
            else:
                avg.mul_(self.decay).add_(value, alpha=1 - self.decay)
            self.updates += value.numel()
        for name in set(self.shadow) - seen:  # renamed or removed by growth
            del self.shadow[name]
        self.steps += 1
        self.peak_bytes = max(self.peak_bytes, self.nbytes)

    @property
    def nbytes(self) -> int:
        """Bytes the averages hold now."""
        return sum(t.numel() * t.element_size() for t in self.shadow.values())

    def averaged(self, prefix: str) -> dict[str, torch.Tensor]:
        """The averages under ``prefix`` (e.g. ``"stages.1.0."``), keys without the prefix."""
        return {k[len(prefix):]: v for k, v in self.shadow.items() if k.startswith(prefix)}

    def renumber(self, stage_prefix: str, position: int) -> None:
        """Shift the averages of blocks ``position..`` of the stage under ``stage_prefix`` (``"stages.1."``)
        one index up, as ``nn.Sequential.insert`` does to their names."""
        moved = {}
        for key in list(self.shadow):
            if key.startswith(stage_prefix):
                index, _, rest = key[len(stage_prefix):].partition(".")
                if index.isdigit() and int(index) >= position:
                    moved[f"{stage_prefix}{int(index) + 1}.{rest}"] = self.shadow.pop(key)
        self.shadow.update(moved)


@dataclass(repr=False)
class MomentumInit(DepthInit):
    """MoGrow: the new block is the preceding block of the stage with its EMA tensors (module docstring).

    ``decay``: the EMA's decay per optimizer step (0.999, the authors' code).  The training loop must
    call :meth:`after_step` after each step (a :class:`growth.Grower` with an :class:`growth.how.AddBlock`
    of this initialiser does); before any step the block is a plain copy.
    """

    name: ClassVar[str] = "mogrow"
    decay: float = 0.999
    ema: WeightEMA = field(init=False)

    def __post_init__(self) -> None:
        self.ema = WeightEMA(self.decay)

    def after_step(self, model: nn.Module) -> None:
        self.ema.update(model)

    def make(self, model: nn.Module, stage: int, position: int) -> nn.Module:
        block = CopyInit().make(model, stage, position)
        if position > 0 and interchangeable(model.stages[stage][position - 1], template_block(model, stage)):
            averages = self.ema.averaged(f"stages.{stage}.{position - 1}.")
            if averages:
                state = block.state_dict()
                missing = sorted(k for k, v in state.items() if v.is_floating_point() and k not in averages)
                if missing:
                    raise ValueError(f"the moving average lacks {missing} of stages.{stage}.{position - 1}: "
                                     "call after_step(model) after every optimizer step")
                with torch.no_grad():
                    for key, value in state.items():
                        if value.is_floating_point():
                            value.copy_(averages[key])
        return block

    def finish(self, model: nn.Module, block: nn.Module, stage: int, position: int, ctx: Any, prepared: Any) -> None:
        self.ema.renumber(f"stages.{stage}.", position)


DEPTH_INITS[MomentumInit.name] = MomentumInit  # grow_depth(..., init="mogrow"); defined here, beside its EMA
