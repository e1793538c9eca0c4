"""FRAGrow's when-to-grow policy (Wu et al., "When to Grow? A Fitting Risk-Aware Policy for Layer
Growing in Deep Neural Networks"), Eq. 2-4, and the average training epochs of its Table 1.

Line by line against the paper:

* Eq. 2, :func:`overfitting_risk`: ``ORL = train accuracy - validation accuracy``, in percent
  points, from the epoch that just ended (the training accuracy of the training pass, the
  validation accuracy on the held-out split: 1% of the training set in the paper).
* Eq. 3, :func:`growth_interval`: ``I = I_max / (1 + exp(alpha - ORL))``; ``alpha = 4``
  (the paper's choice; Table 8 tries 2 and 6).  A high ORL (overfitting) gives ``I`` near ``I_max``
  (slow growth, strong regularisation); a low or negative ORL (underfitting) gives ``I`` near 0.
* Eq. 4, :func:`max_interval`: ``I_max = (E_T - E_F^min) / n`` with ``E_T`` the run's epochs,
  ``E_F^min`` the least fine-tuning epochs (30) and ``n`` the blocks to add
  (:func:`blocks_to_add` from the seed and the target).
* Algorithm 1, :class:`FRAGrow`: after every epoch, ``I`` is computed from that epoch's ORL; the net
  grows by one block when at least ``I`` epochs have passed since the last growth (or since the
  start).  ``I`` is re-evaluated every epoch, so a rising ORL postpones the growth.  As ``I < I_max``
  the ``n`` growths end by ``n * ceil(I_max)`` epochs; :class:`growth.when.AtLatest` makes that
  exactly ``E_T - E_F^min`` where ``I_max`` is not an integer [open].

The regularisation study (Table 1): a block added after epoch ``t_i`` of an ``E_T``-epoch run is
trained for ``E_i = E_T - t_i`` epochs; :func:`mean_training_epochs` is the average ``E-bar``
over the ``n`` added blocks (the slides' equation).  Faster growth means a larger ``E-bar`` and a
weaker regularisation.  :func:`speed_schedule` gives evenly spaced growth epochs with a chosen
``E-bar`` (the slow / fast growth knob).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

from ..history import History
from ..models import parse_name
from ..protocol import GrowthContext
from .convergent import last_growth

__all__ = [
    "FRAGrow", "blocks_to_add", "growth_interval", "history_mean_training_epochs", "max_interval",
    "mean_training_epochs", "overfitting_risk", "speed_schedule",
]


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is not allowed: use a finite number")
    return float(value)


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed: use an integer >= {minimum}")
    return int(value)


def overfitting_risk(train_acc: float, val_acc: float) -> float:
    """Eq. 2: ``ORL = train accuracy - validation accuracy`` (percent points)."""
    return _number("train_acc", train_acc) - _number("val_acc", val_acc)


def growth_interval(orl: float, i_max: float, alpha: float = 4.0) -> float:
    """Eq. 3: ``I = I_max / (1 + exp(alpha - ORL))``, in epochs, in ``(0, I_max)``."""
    orl, i_max, alpha = _number("orl", orl), _number("i_max", i_max), _number("alpha", alpha)
    if i_max <= 0:
        raise ValueError(f"i_max={i_max!r} is not allowed: the maximum interval must be > 0 epochs")
    z = alpha - orl
    if z > 700:  # exp overflows; the interval is 0 to double precision
        return 0.0
    return i_max / (1.0 + math.exp(z))


def max_interval(total_epochs: int, min_finetune_epochs: int, blocks: int) -> float:
    """Eq. 4: ``I_max = (E_T - E_F^min) / n``.

    ``ValueError`` when ``E_F^min >= E_T`` (no epoch left to grow in) or ``n < 1``.
    """
    total = _count("total_epochs", total_epochs, 1)
    finetune = _count("min_finetune_epochs", min_finetune_epochs, 0)
    n = _count("blocks", blocks, 1)
    if finetune >= total:
        raise ValueError(f"min_finetune_epochs={finetune} is not allowed with total_epochs={total}: "
                         "E_F^min must be smaller than E_T, leaving epochs to grow in")
    return (total - finetune) / n


def blocks_to_add(seed_depths: Sequence[int], target_depths: Sequence[int]) -> int:
    """``n`` of Eq. 4: the blocks that turn the seed into the target (ResNet 2-2-2-2 -> 8-8-8-8: 24).

    ``ValueError`` for a target with another number of stages, or shallower than the seed in a stage.
    """
    seed, target = list(seed_depths), list(target_depths)
    if len(seed) != len(target):
        raise ValueError(f"target depths {target} have {len(target)} stages, the seed {seed} has {len(seed)}")
    if any(t < s for s, t in zip(seed, target)):
        raise ValueError(f"target depths {target} are shallower than the seed {seed} in some stage: "
                         "a target must be at least as deep as the seed in every stage")
    return sum(t - s for s, t in zip(seed, target))


def mean_training_epochs(growth_epochs: Sequence[int], total_epochs: int) -> float:
    """``E-bar = (1/n) sum_i E_i`` with ``E_i = E_T - t_i``: the average epochs an added block trains.

    ``growth_epochs``: the epochs ``t_i`` after which the blocks were added (the History's growth
    events); NaN when no block was added.
    """
    total = _count("total_epochs", total_epochs, 1)
    times = list(growth_epochs)
    if any(t > total or t < 0 for t in times):
        raise ValueError(f"growth_epochs={times!r} must lie in [0, total_epochs={total}]")
    return sum(total - t for t in times) / len(times) if times else float("nan")


def history_mean_training_epochs(history: History) -> float:
    """:func:`mean_training_epochs` of a run: one ``t_i`` per block each growth event added (the
    difference of the depths its ``before`` and ``after`` names give: LipGrow adds several at once)."""
    times: list[int] = []
    for event in history.events:
        if event.get("kind", "grow") == "grow":
            added = sum(parse_name(event["after"])[1]) - sum(parse_name(event["before"])[1])
            times.extend([event["epoch"]] * added)
    return mean_training_epochs(times, len(history.epochs))


def speed_schedule(mean_epochs: float, total_epochs: int, blocks: int) -> list[int]:
    """Growth epochs ``t_k = round(k P)``, ``k = 1 .. n``, evenly spaced so that ``E-bar`` is
    ``mean_epochs``: ``P = 2 (E_T - E-bar) / (n + 1)``.

    The slow / fast growth of Table 1 is a smaller / larger ``E-bar``; ``E_T - E-bar`` must be at
    least ``(n + 1) / 2`` epochs (one epoch between growths) and the last growth no later than
    ``E_T - 1``.  Rounding moves the realised ``E-bar`` by less than one epoch; every run reports the
    realised value.
    """
    total = _count("total_epochs", total_epochs, 1)
    n = _count("blocks", blocks, 1)
    target = _number("mean_epochs", mean_epochs)
    period = 2 * (total - target) / (n + 1)
    if period < 1 or n * period > total - 1 + 1e-9:
        low, high = total - (total - 1) * (n + 1) / (2 * n), total - (n + 1) / 2
        raise ValueError(f"mean_epochs={mean_epochs!r} is not allowed for {n} blocks in {total} epochs: use a value "
                         f"in [{low:.2f}, {high:.2f}] (one growth per epoch at most, the last before the end)")
    return [max(1, math.floor(k * period + 0.5)) for k in range(1, n + 1)]


@dataclass
class FRAGrow:
    """Algorithm 1's when-to-grow criterion (Eq. 3): grow once ``I(ORL)`` epochs have passed since
    the last growth.

    ``i_max``: Eq. 4's ``I_max`` (:func:`max_interval`); ``alpha``: Eq. 3's (4).  ``metric`` /
    ``reference``: the History keys of Eq. 2's two accuracies (``train_acc`` and ``val_acc``).
    Each call writes ``orl`` and ``interval`` (``I``) into the epoch's History record, so every run
    can plot them.
    """

    i_max: float
    alpha: float = 4.0
    metric: str = "train_acc"
    reference: str = "val_acc"
    name: str = "fragrow"

    def __post_init__(self) -> None:
        self.i_max = _number("i_max", self.i_max)
        if self.i_max <= 0:
            raise ValueError(f"i_max={self.i_max!r} is not allowed: the maximum interval must be > 0 epochs")
        self.alpha = _number("alpha", self.alpha)

    def __call__(self, ctx: GrowthContext) -> bool:
        record = ctx.history.epochs[-1]
        values = [record.get(key) for key in (self.metric, self.reference)]
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            raise ValueError(f"FRAGrow needs {self.metric!r} and {self.reference!r} at epoch {ctx.epoch}: load the data "
                             "with val_fraction > 0 (the paper holds out 1% of the training set)")
        orl = overfitting_risk(*values)
        interval = growth_interval(orl, self.i_max, self.alpha)
        record["orl"], record["interval"] = orl, interval
        return ctx.epoch - last_growth(ctx.history, ctx.epoch) >= interval
