"""A growth budget for any trigger: fire when it fires, or once the budget of epochs is spent.

The trigger alone cannot end growth (only the locator can, by returning ``None``); ``Deadline``
makes sure the locator is asked at the end of the budget, so that a locator that knows the budget
(e.g. :class:`growth.where.StoppingRoundRobin` with ``max_epochs``) ends growth there and the
fine-tuning phase begins, as AutoGrow's code does when its ``--epochs`` of growth run out [code].
"""
from __future__ import annotations

from dataclasses import dataclass
from ..protocol import GrowthContext, Trigger


@dataclass
class Deadline:
    """Fires when ``trigger`` fires or at any epoch ``>= epochs``."""

    trigger: Trigger
    epochs: int
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs={self.epochs!r} is not allowed: the growth budget must be a positive integer")
        if not self.name:
            self.name = getattr(self.trigger, "name", None) or type(self.trigger).__name__

    def __call__(self, ctx: GrowthContext) -> bool:
        return ctx.epoch >= self.epochs or bool(self.trigger(ctx))
