"""Growth at given epochs, and growth that must be done by a given epoch.

:class:`AtEpochs` fires at a fixed list of epochs: FRAGrow's periodic baseline (every ``I_max``,
Eq. 4) and the slow / fast growth of its Table 1 (:func:`growth.when.fragrow.speed_schedule`).

:class:`AtLatest` wraps any trigger so that ``growths`` growths are done by epoch ``by``: the
``k``-th growth (``k = 1 .. growths``) fires when the trigger fires, or at the latest at epoch
``floor(by - (growths - k) * gap)``.  FRAGrow's Algorithm 1 fine-tunes the target for at least
``E_F^min`` epochs, so every when-to-grow policy of its Tables 5-10 must reach the target by
``E_T - E_F^min``; LipGrow's code forces a growth when the epochs left are just enough for the
growths left, ``gap`` epochs apart, and 30 for the final model [code: ``TolTrigger``].
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Sequence

from ..protocol import GrowthContext, Trigger


def growth_count(ctx: GrowthContext) -> int:
    """Growth events so far (``kind == "grow"``)."""
    return sum(1 for e in ctx.history.events if e.get("kind", "grow") == "grow")


@dataclass
class AtEpochs:
    """Fires after each epoch of ``epochs`` (1-based, as the History counts them)."""

    epochs: Sequence[int]
    name: str = "at-epochs"

    def __post_init__(self) -> None:
        bad = not isinstance(self.epochs, (list, tuple)) or any(
            isinstance(e, bool) or not isinstance(e, numbers.Integral) or e < 1 for e in self.epochs)
        if bad:
            raise ValueError(f"epochs={self.epochs!r} is not allowed: give a list of positive integer epochs")
        self.epochs = tuple(sorted(int(e) for e in self.epochs))

    def __call__(self, ctx: GrowthContext) -> bool:
        return ctx.epoch in self.epochs


@dataclass
class AtLatest:
    """``trigger``, but the ``k``-th of ``growths`` growths fires at the latest at
    ``floor(by - (growths - k) * gap)``; ``gap`` defaults to ``by / growths`` (evenly spaced deadlines).

    The trigger is called every epoch, also when a deadline fires, so a trigger that records what it
    measures (FRAGrow's ORL, LipGrow's bound) records every epoch.  Each forced growth is counted in
    ``ctx.state["forced"]`` (a list of epochs).
    """

    trigger: Trigger
    growths: int
    by: int
    gap: float | None = None
    name: str = ""
    _gap: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for key in ("growths", "by"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{key}={value!r} is not allowed: use a positive integer")
        if self.gap is not None and (isinstance(self.gap, bool) or not isinstance(self.gap, numbers.Real)
                                     or not math.isfinite(self.gap) or self.gap < 0):
            raise ValueError(f"gap={self.gap!r} is not allowed: use None (by / growths) or a number of epochs >= 0")
        self._gap = self.by / self.growths if self.gap is None else float(self.gap)
        if self.by - (self.growths - 1) * self._gap < 1:
            raise ValueError(f"gap={self.gap!r}: {self.growths} growths {self._gap:g} epochs apart do not fit "
                             f"in by={self.by} epochs")
        if not self.name:
            self.name = getattr(self.trigger, "name", None) or type(self.trigger).__name__

    def deadline(self, k: int) -> int:
        """The epoch by which the ``k``-th growth (1-based) must have happened."""
        return math.floor(self.by - (self.growths - k) * self._gap + 1e-9)

    def __call__(self, ctx: GrowthContext) -> bool:
        fired = bool(self.trigger(ctx))
        k = growth_count(ctx) + 1
        if fired or k > self.growths:
            return fired
        if ctx.epoch >= self.deadline(k):
            ctx.state.setdefault("forced", []).append(ctx.epoch)
            return True
        return False
