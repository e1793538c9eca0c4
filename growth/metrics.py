"""A per-epoch metric of a History: its values, its running best and how much that best improved.

Shared by the triggers and locators that decide on a metric's progress: :class:`growth.when.Convergent`
and AutoGrow's stopping policy (:class:`growth.where.StoppingRoundRobin`).  ``mode``: ``"max"`` (an
accuracy), ``"min"`` (a loss) or ``"auto"`` (by the metric's name).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from .history import History

__all__ = ["MODES", "check_metric", "improvement", "metric_values", "resolve_mode", "running_best"]

MODES = ("auto", "max", "min")


def resolve_mode(metric: str, mode: str) -> str:
    """``"auto"``: ``"min"`` for a loss (the metric's name ends in ``loss``), ``"max"`` otherwise."""
    if mode == "auto":
        return "min" if metric.endswith("loss") else "max"
    return mode


def check_metric(metric: Any, mode: Any) -> None:
    """``ValueError`` naming the parameter for a bad ``metric`` or ``mode``."""
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"metric={metric!r} is not allowed: name a per-epoch History key such as 'val_acc'")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is unknown: choose one of {', '.join(MODES)}")


def metric_values(history: History, metric: str, upto: int) -> list[float]:
    """The value of ``metric`` at epochs ``1..upto`` (index ``s - 1`` holds epoch ``s``).

    Raises ``ValueError`` when an epoch lacks the metric (e.g. ``val_acc`` without a validation
    split), so a policy never decides on missing numbers.
    """
    values: list[float] = []
    for record in history.epochs[:upto]:
        value = record.get(metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(
                f"metric={metric!r} was not recorded at epoch {record.get('epoch')}: load the data with "
                f"val_fraction > 0 for 'val_acc', or choose another metric (e.g. 'test_acc', 'train_acc')"
            )
        values.append(float(value))
    if len(values) < upto:
        raise ValueError(f"the history has {len(values)} epochs, the policy asked for epoch {upto}")
    return values


def running_best(values: Sequence[float], upto: int, mode: str) -> float:
    """``M(upto)``: the best of ``values[:upto]`` (max or min by ``mode``); ``upto >= 1``."""
    window = values[:upto]
    return max(window) if mode == "max" else min(window)


def improvement(values: Sequence[float], start: int, end: int, mode: str) -> float:
    """How much the running best improved from epoch ``start`` to epoch ``end``: ``M(end) - M(start)``
    for ``mode="max"`` and ``M(start) - M(end)`` for ``"min"`` (never negative)."""
    gain = running_best(values, end, mode) - running_best(values, start, mode)
    return gain if mode == "max" else -gain
