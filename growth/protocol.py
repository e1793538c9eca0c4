"""The growth protocol: a trigger decides *when*, a locator *where*, an operator *how*.

The training loop calls :meth:`Grower.step` at the end of every epoch.  The three parts only see a
:class:`GrowthContext`, so a new method is one callable in ``growth.when``, ``growth.where`` or
``growth.how``.  An operator that computes (AutoGrow's AdamInit, GradMax's SVD) adds that compute to
``ctx.cost`` with ``add_extra``; the event records it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from torch import nn

from .history import History


@dataclass
class GrowthContext:
    """What the trigger, locator and operator may look at: the model, the run so far, the data."""

    model: nn.Module
    epoch: int  # epochs completed so far (1-based: the epoch that just ended)
    epochs: int  # the run's total epochs
    history: History
    data: Any = None
    cost: Any = None  # a growth.cost.CostMeter
    seed: int = 0
    state: dict[str, Any] = field(default_factory=dict)  # scratch space kept across events


Trigger = Callable[[GrowthContext], bool]
Locator = Callable[[GrowthContext], Optional[Any]]  # None: nothing can grow any more
Operator = Callable[[GrowthContext, Any], nn.Module]  # returns the grown model (may be the same object)


class Grower:
    """Bundles when / where / how; fires at most one growth event per epoch."""

    def __init__(self, when: Trigger, where: Locator, how: Operator, *, name: str = "") -> None:
        self.when, self.where, self.how = when, where, how
        self.name = name or f"{_name(when)}/{_name(where)}/{_name(how)}"
        self.state: dict[str, Any] = {}

    def step(self, ctx: GrowthContext) -> tuple[nn.Module, dict[str, Any] | None]:
        """Grow if the trigger fires and the locator finds a target; return (model, event or None)."""
        ctx.state = self.state
        if not self.when(ctx):
            return ctx.model, None
        target = self.where(ctx)
        if target is None:
            return ctx.model, None
        before = ctx.model.spec if hasattr(ctx.model, "spec") else type(ctx.model).__name__
        extra_before = _extra(ctx)
        start = time.perf_counter()
        model = self.how(ctx, target)
        seconds = time.perf_counter() - start
        event = {
            "epoch": ctx.epoch,
            "target": target,
            "before": before,
            "after": model.spec if hasattr(model, "spec") else type(model).__name__,
            "seconds": seconds,
            "extra_macs": _extra(ctx) - extra_before,
            "method": self.name,
        }
        return model, event


def _name(part: Any) -> str:
    return getattr(part, "name", None) or getattr(part, "__name__", None) or type(part).__name__


def _extra(ctx: GrowthContext) -> int:
    return sum(ctx.cost.extra_macs.values()) if ctx.cost is not None else 0
