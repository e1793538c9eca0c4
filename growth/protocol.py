"""The growth protocol: a trigger decides *when*, a locator *where*, an operator *how*.

The training loop calls :meth:`Grower.step` at the end of every epoch.  The three parts only see a
:class:`GrowthContext`, so a new method is one callable in ``growth.when``, ``growth.where`` or
``growth.how``.  An operator or a locator that computes (AutoGrow's AdamInit, GradMax's SVD, the
splitting matrices behind a global pick) adds that compute to ``ctx.cost`` with ``add_extra``; the
event records it.  A part may record decisions of its own as
events with another ``kind`` (AutoGrow's stopping policy appends ``{"kind": "freeze", ...}`` to
``ctx.history.events``); growth events have ``kind == "grow"``, unless the operator names another
kind for a step that is no growth (``how.event_kind(target)``: MixtureGrowth's switch to its second
network is ``"member"``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
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
    cost: Any = None  # a growth.measure.cost.CostMeter
    seed: int = 0
    state: dict[str, Any] = field(default_factory=dict)  # scratch space kept across events


Trigger = Callable[[GrowthContext], bool]
Locator = Callable[[GrowthContext], Optional[Any]]  # None: nothing can grow any more
Operator = Callable[[GrowthContext, Any], nn.Module]  # returns the grown model (may be the same object)


@dataclass(frozen=True)
class FineTune:
    """What follows growth: ``epochs`` more epochs at their own LR schedule, then the run ends.

    AutoGrow: once no sub-network may grow, fine-tune with a staircase LR (100/150 of 200 epochs).
    FRAGrow: once the target is reached, a cosine over the epochs the run has left (``epochs=None``).
    ``lr=None`` keeps the run's base LR.
    """

    epochs: int | None
    schedule: str = "step"
    lr: float | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs is not None and (isinstance(self.epochs, bool) or not isinstance(self.epochs, int)
                                        or self.epochs < 0):
            raise ValueError(f"epochs={self.epochs!r} is not allowed for fine-tuning: use a non-negative integer, "
                             "or None for the rest of the run")


class Grower:
    """Bundles when / where / how; fires at most one growth event per epoch.

    ``finished`` turns true once the locator finds nothing left to grow, or, for a locator with an
    ``exhausted(ctx)`` method (:class:`growth.where.Sequential`, :class:`growth.where.RoundRobin`),
    right after the growth that reached its targets; with ``finetune`` set, the training loop then
    switches to the fine-tuning schedule and ends the run after its epochs (``epochs`` of the run is
    then a budget, not a length).

    Parts that follow training step by step (MoGrow's moving average of the weights) define
    ``after_step(model)``; the training loop calls each of :meth:`step_observers` after every
    optimizer step.  Parts that change the gradients (App. H's dynamic OSGD) define
    ``before_step(model)``, called between the backward pass and the optimizer step
    (:meth:`gradient_hooks`).
    """

    def __init__(
        self, when: Trigger, where: Locator, how: Operator, *, finetune: FineTune | None = None, name: str = ""
    ) -> None:
        self.when, self.where, self.how = when, where, how
        self.finetune = finetune
        self.name = name or f"{_name(when)}/{_name(where)}/{_name(how)}"
        self.state: dict[str, Any] = {}
        self.finished = False

    def check(self, model: nn.Module) -> None:
        """Before training: every part with a ``check(model)`` method (a locator's targets against the
        seed's stages, ...) raises ``ValueError`` if it cannot work on ``model``."""
        for part in (self.when, self.where, self.how):
            check = getattr(part, "check", None)
            if callable(check):
                check(model)

    def step(self, ctx: GrowthContext) -> tuple[nn.Module, dict[str, Any] | None]:
        """Grow if the trigger fires and the locator finds a target; return (model, event or None)."""
        ctx.state = self.state
        if self.finished or not self.when(ctx):
            return ctx.model, None
        extra_before = _extra(ctx)  # a locator that looks at data (a global pick's scores) charges too
        start = time.perf_counter()
        target = self.where(ctx)
        if target is None:
            self.finished = True
            return ctx.model, None
        before = ctx.model.spec if hasattr(ctx.model, "spec") else type(ctx.model).__name__
        model = self.how(ctx, target)
        seconds = time.perf_counter() - start
        exhausted = getattr(self.where, "exhausted", None)
        if exhausted is not None and exhausted(ctx if model is ctx.model else _with_model(ctx, model)):
            self.finished = True
        kind = getattr(self.how, "event_kind", None)
        event = {
            "kind": kind(target) if callable(kind) else "grow",
            "epoch": ctx.epoch,
            "target": target,
            "before": before,
            "after": model.spec if hasattr(model, "spec") else type(model).__name__,
            "seconds": seconds,
            "extra_macs": _extra(ctx) - extra_before,
            "method": self.name,
        }
        return model, event

    def step_observers(self) -> list[Callable[[nn.Module], None]]:
        """The ``after_step`` methods of the trigger, locator, operator and the operator's initialiser
        (``how.initializer``, e.g. :class:`growth.how.AddBlock`'s)."""
        parts = (self.when, self.where, self.how, getattr(self.how, "initializer", None))
        return [p.after_step for p in parts if p is not None and callable(getattr(p, "after_step", None))]


    def gradient_hooks(self) -> list[Callable[[nn.Module], None]]:
        """The ``before_step`` methods of the trigger, locator and operator."""
        return [p.before_step for p in (self.when, self.where, self.how) if callable(getattr(p, "before_step", None))]


def _with_model(ctx: GrowthContext, model: nn.Module) -> GrowthContext:
    return replace(ctx, model=model)


def _name(part: Any) -> str:
    return getattr(part, "name", None) or getattr(part, "__name__", None) or type(part).__name__


def _extra(ctx: GrowthContext) -> int:
    return ctx.cost.extra_total if ctx.cost is not None else 0
