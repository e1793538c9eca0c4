"""Convergent growth: grow once the current net has converged (AutoGrow's c-AutoGrow).

The rule, with ``M(s)`` the best value of ``metric`` over epochs ``1..s`` of the run (a running
maximum for accuracies, a running minimum for losses) and ``g`` the epoch of the last growth (0
before any):

    fire at epoch ``t``  iff  ``t - g >= patience``, ``(t - g) % every == 0``, ``t > patience``
    and the improvement ``M(t) - M(t - patience)`` is below ``min_delta``.

In words: over the last ``patience`` epochs, all of them trained on the current net, the best
validation accuracy rose by less than ``min_delta`` (percent points, as accuracies are in percent
throughout): the authors' test, ``delta < threshold`` [code].  ``strict=False`` fires on an
improvement of exactly ``min_delta`` too (``<=``), the rule FRAGrow's convergent baseline keeps.  The reference ``M(t - patience)`` is the best of the whole run so far, so
right after a growth the new net is compared with everything before it: it has converged when it
could not beat that best by more than ``min_delta`` within ``patience`` epochs.

The metric helpers (:func:`~growth.metrics.metric_values`, :func:`~growth.metrics.improvement`) live in
:mod:`growth.metrics`, shared with AutoGrow's stopping policy in :mod:`growth.where.stopping`.

AutoGrow's code (``main.py``, the convergent version) [code]: growth is checked every ``K`` epochs
(``every = patience = K``) on an exponential moving average (decay 0.95) of the accuracy; the
improvement over the last ``K`` epochs must stay below the threshold.  We use the running maximum,
as the authors' later periodic code does for its stopping policy (``--growing-metric max``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..history import History
from ..metrics import check_metric, improvement, metric_values, resolve_mode
from ..protocol import GrowthContext


def last_growth(history: History, upto: int | None = None) -> int:
    """Epoch of the last growth event (``kind == "grow"``) at or before ``upto``; 0 if none."""
    epochs = [
        e["epoch"] for e in history.events
        if e.get("kind", "grow") == "grow" and (upto is None or e["epoch"] <= upto)
    ]
    return max(epochs, default=0)


@dataclass
class Convergent:
    """Fires once the current net has converged (module docstring has the exact rule).

    ``patience``: epochs without an improvement above ``min_delta`` (default 10).
    ``min_delta``: the improvement, in the metric's units, that still counts as progress (default
    0.05, AutoGrow's tau, in percent points).  ``metric``: a per-epoch History key (default
    ``"val_acc"``).  ``every``: look only every ``every`` epochs after the last growth (default 1;
    AutoGrow's code checks every K epochs: ``every = patience = K``).  ``mode``: ``"max"`` (accuracy),
    ``"min"`` (loss) or ``"auto"`` (by the metric's name; the default).  ``strict``: converged when the
    improvement is below ``min_delta`` (default, AutoGrow's code) or, with ``False``, at most it.
    """

    patience: int = 10
    min_delta: float = 0.05
    metric: str = "val_acc"
    every: int = 1
    mode: str = "auto"
    strict: bool = True
    name: str = "convergent"

    def __post_init__(self) -> None:
        for param in ("patience", "every"):
            value = getattr(self, param)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{param}={value!r} is not allowed: use a positive integer number of epochs")
        if isinstance(self.min_delta, bool) or not isinstance(self.min_delta, (int, float)) \
                or not math.isfinite(self.min_delta) or self.min_delta < 0:
            raise ValueError(f"min_delta={self.min_delta!r} is not allowed: use a finite number >= 0")
        check_metric(self.metric, self.mode)
        if not isinstance(self.strict, bool):
            raise ValueError(f"strict={self.strict!r} is not allowed: use True (improvement < min_delta) or False (<=)")

    def __call__(self, ctx: GrowthContext) -> bool:
        t = ctx.epoch
        since = t - last_growth(ctx.history, t)
        if since < self.patience or since % self.every or t <= self.patience:
            return False
        mode = resolve_mode(self.metric, self.mode)
        values = metric_values(ctx.history, self.metric, t)
        gain = improvement(values, t - self.patience, t, mode)
        return gain < self.min_delta if self.strict else gain <= self.min_delta
