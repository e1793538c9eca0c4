"""The growth schedulers of the VT paper: when to widen, to what width, for how long, at what batch size.

Yuan, Savarese, Maire, NeurIPS 2023, Sec. 3.2 ("Flexible and Efficient Growth Scheduler", Eq. 6-8) and
Sec. 4 (implementation details).  Our copy of the paper lost the formulas; where they are missing we follow a third party's
write-up of them.  Tags: **[secondary]** (that write-up or the text around a lost formula),
**[open]** (our choice; a parameter wherever it matters).

A run has ``S`` stages.  Stage ``k`` trains a model whose every channel group has
``round(C * c_k)`` channels (``C``: the group's count in the full model) for ``T_k`` epochs at batch
size ``B_k``; between stages the model is widened (:class:`growth.how.AddWidth` with a channel
schedule), at the epochs :func:`stage_boundaries` gives (:class:`StageBoundaries`, the trigger).

* :func:`width_fractions` (Eq. 6), :func:`round_channels`, :func:`group_channels`, :func:`stage_channels`
  (the models of these stages: :func:`growth.how.width.build_stage_model`, :func:`growth.how.width.stage_models`);
* :func:`stage_epochs` (Eq. 7); :func:`stage_batch_sizes` (Eq. 8);
* :func:`schedule_cost`: the training cost relative to the full model trained for the whole budget.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from ..measure.cost import training_macs_per_sample
from ..models import build_model, channel_counts
from ..models.base import width_groups
from ..protocol import GrowthContext

__all__ = [
    "EPOCH_KINDS", "EPOCH_ROUNDINGS", "GROW_GROUPS", "ROUNDINGS", "WIDTH_KINDS", "StageBoundaries", "full_channels", "group_channels",
    "round_channels", "schedule_cost", "stage_batch_sizes", "stage_boundaries", "stage_channels", "stage_epochs",
    "width_fractions",
]

ROUNDINGS = ("even", "nearest", "ceil-even")
EPOCH_KINDS = ("exponential", "linear", "steps")
WIDTH_KINDS = ("exponential", "linear")
#: Which channel groups a schedule narrows: every one (VT), or the blocks' inner groups (GradMax's WRN).
GROW_GROUPS = ("all", "inner")
#: How :func:`stage_epochs` makes integers of Eq. 7's epochs [open].
EPOCH_ROUNDINGS = {"nearest": lambda t: math.floor(t + 0.5), "floor": math.floor, "ceil": math.ceil}


def _real(name: str, value: Any, *, low: float, open_low: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not ok or (value <= low if open_low else value < low):
        raise ValueError(f"{name}={value!r} is not allowed: use a finite number {'>' if open_low else '>='} {low:g}")
    return float(value)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed: use a positive integer")
    return int(value)


# --------------------------------------------------------------------------- Eq. 6: the architecture


def width_fractions(stages: int = 9, c0: float = 0.25, p: float = 0.2, *,
                    kind: str = "exponential") -> tuple[float, ...]:
    """Eq. 6: stage ``k``'s width fraction ``c_k = c0 (1 + p)^k``, ``k = 0 .. stages - 1``.

    Clamped to 1, and the last stage is exactly 1 (the full model) [secondary].  The paper's CIFAR and
    ImageNet setting: ``c0 = 1/4`` "of large baselines ... for all layers", ``p = 0.2``, 9 stages
    (Sec. 4); with these, ``c_8 = 1.07`` is clamped.  One stage is the full model alone.
    ``kind="linear"``: equal steps ``c_k = c0 + k (1 - c0) / (stages - 1)`` (``p`` unused), GradMax's
    schedule (each growth adds a quarter of the seed's inner width: 0.25 -> 1 in 12 steps).
    """
    stages = _positive_int("stages", stages)
    c0 = _real("c0", c0, low=0.0, open_low=True)
    if c0 > 1:
        raise ValueError(f"c0={c0!r} is not allowed: the seed's width fraction must be in (0, 1]")
    p = _real("p", p, low=0.0)
    if kind == "exponential":
        early = [min(1.0, c0 * (1 + p) ** k) for k in range(stages - 1)]
    elif kind == "linear":
        early = [c0 + k * (1 - c0) / (stages - 1) for k in range(stages - 1)]
    else:
        raise ValueError(f"kind={kind!r} is unknown: choose one of {', '.join(WIDTH_KINDS)}")
    return (*early, 1.0)


def round_channels(x: float, rounding: str = "even") -> int:
    """A channel count from a real ``x``: ``"even"`` the nearest even number (Eq. 6's rounding
    [secondary]; halfway rounds up), ``"nearest"`` the nearest integer (halfway up), ``"ceil-even"`` the
    even number at or above ``x`` [open: our alternative readings].  At least 2 (1 for ``"nearest"``)."""
    if rounding == "even":
        return max(2, 2 * math.floor(x / 2 + 0.5))
    if rounding == "nearest":
        return max(1, math.floor(x + 0.5))
    if rounding == "ceil-even":
        return max(2, 2 * math.ceil(x / 2 - 1e-9))
    raise ValueError(f"rounding={rounding!r} is unknown: choose one of {', '.join(ROUNDINGS)}")


def full_channels(name: str, *, width: float = 1.0, num_classes: int = 10, image_size: int = 32) -> dict[str, int]:
    """Each channel group's count in the full model ``build_model(name, ..., width=width)`` (built on
    the ``meta`` device: no memory, no init)."""
    with torch.device("meta"):
        model = build_model(name, num_classes=num_classes, image_size=image_size, width=width)
    return channel_counts(model)


def group_channels(name: str, fraction: float, *, width: float = 1.0, num_classes: int = 10,
                   image_size: int = 32, rounding: str = "even", groups: str = "all") -> dict[str, int]:
    """Each channel group's count at width ``fraction`` of the full model ``name`` (at multiplier
    ``width``): ``round_channels(C * fraction, rounding)`` per group, ``C`` the full count; a
    fraction of 1 gives the full counts exactly.  ``groups="inner"``: only the blocks' inner groups
    (:attr:`~growth.models.base.ChannelGroup.inner`) are narrowed, the others keep ``C``."""
    fraction = _real("fraction", fraction, low=0.0, open_low=True)
    round_channels(1.0, rounding)  # names a bad rounding before building anything
    if groups not in GROW_GROUPS:
        raise ValueError(f"groups={groups!r} is unknown: choose one of {', '.join(GROW_GROUPS)}")
    with torch.device("meta"):
        model = build_model(name, num_classes=num_classes, image_size=image_size, width=width)
    full = channel_counts(model)
    if fraction >= 1:
        return full
    narrowed = {g.name for g in width_groups(model) if groups == "all" or g.inner}
    if not narrowed:
        raise ValueError(f"groups={groups!r}: {name} has no inner channel groups (blocks with a group between "
                         "their layers): use groups='all'")
    return {group: min(count, round_channels(count * fraction, rounding)) if group in narrowed else count
            for group, count in full.items()}


def stage_channels(name: str, fractions: Sequence[float], *, width: float = 1.0, num_classes: int = 10,
                   image_size: int = 32, rounding: str = "even", groups: str = "all") -> list[dict[str, int]]:
    """:func:`group_channels` of every stage's fraction (e.g. :func:`width_fractions`)."""
    return [group_channels(name, f, width=width, num_classes=num_classes, image_size=image_size,
                           rounding=rounding, groups=groups) for f in fractions]


# --------------------------------------------------------------------------- Eq. 7: the epochs


def stage_epochs(total: int, stages: int = 9, T0: float = 8, *, kind: str = "exponential",
                 rate: float = 0.2, rounding: str = "nearest") -> tuple[int, ...]:
    """Eq. 7: epochs per stage, summing to ``total``.

    ``kind="exponential"``: ``T_k = T0 (1 + rate)^k``; ``"linear"``: ``T_k = T0 + k * rate`` (Fig. 6's
    "Linear" baseline [secondary]); ``"steps"``: ``T_0 = T0``, then ``T_k = rate`` (GradMax's code: the seed
    trains until ``start_iteration``, then one growth every ``update_frequency`` steps).  Stages ``0 .. S-2`` take ``T_k`` rounded (``rounding``:
    ``"nearest"``, halfway up, ``"floor"`` or ``"ceil"``; at least 1) [open], the last stage what is left
    of ``total`` [secondary].  ``T0``: 8 on CIFAR-10, 10
    on CIFAR-100, 4 on ImageNet (Sec. 4); ``rate`` (the paper's q) is [open]: 0.2, the width rate
    ``p``, leaves the full model 28 of 160 (CIFAR-10), 35 of 200 (CIFAR-100), 24 of 90 (ImageNet)
    epochs, consistent with a paper that trains "the final full-sized architecture ... for a fraction".
    ``ValueError`` if the earlier stages leave the last one no epoch.
    """
    total = _positive_int("total", total)
    stages = _positive_int("stages", stages)
    T0 = _real("T0", T0, low=0.0, open_low=True)
    rate = _real("rate", rate, low=0.0 if kind == "exponential" else -math.inf)
    if kind == "exponential":
        raw = [T0 * (1 + rate) ** k for k in range(stages - 1)]
    elif kind == "linear":
        raw = [T0 + k * rate for k in range(stages - 1)]
    elif kind == "steps":
        if rate <= 0:
            raise ValueError(f"rate={rate!r} is not allowed with kind='steps': use the epochs between growths (> 0)")
        raw = [T0] + [rate] * (stages - 2)
    else:
        raise ValueError(f"kind={kind!r} is unknown: choose one of {', '.join(EPOCH_KINDS)}")
    to_int = EPOCH_ROUNDINGS.get(rounding)
    if to_int is None:
        raise ValueError(f"rounding={rounding!r} is unknown: choose one of {', '.join(EPOCH_ROUNDINGS)}")
    early = [max(1, to_int(t)) for t in raw]
    if sum(early) >= total:
        raise ValueError(f"total={total!r} epochs is too small for {stages} stages from T0={T0:g} ({kind}, rate "
                         f"{rate:g}): the first {stages - 1} stages take {sum(early)} epochs and the last needs at "
                         f"least 1; give total > {sum(early)}, fewer stages or a smaller T0")
    return (*early, total - sum(early))


def stage_boundaries(epochs: Sequence[int]) -> tuple[int, ...]:
    """The epochs (1-based, counted from the start) after which the model grows: ``T_0``,
    ``T_0 + T_1``, ..., up to the start of the last stage."""
    return tuple(sum(epochs[:k + 1]) for k in range(len(epochs) - 1))


@dataclass
class StageBoundaries:
    """Trigger: fires after the epochs of :func:`stage_boundaries` (``epochs``: each stage's length)."""

    epochs: Sequence[int]
    name: str = "stage-boundaries"

    def __post_init__(self) -> None:
        self.epochs = tuple(_positive_int("epochs", e) for e in self.epochs)
        self._at = frozenset(stage_boundaries(self.epochs))

    def __call__(self, ctx: GrowthContext) -> bool:
        return ctx.epoch in self._at


# --------------------------------------------------------------------------- Eq. 8: the batch size


def stage_batch_sizes(fractions: Sequence[float], batch_size: int = 128, *, exponent: float = 1.0,
                      multiple: int = 8, cap: int | None = None) -> tuple[int, ...]:
    """Eq. 8 [open]: ``B_k = B (1 / c_k)^exponent``, rounded to the nearest multiple of ``multiple``
    (at least one multiple) and at most ``cap`` (None: ``B / min(c)``, i.e. uncapped).

    The paper grows the batch "in a reverse order" to the width so that thin stages fill the GPU
    (Sec. 3.2); its formula is lost; ``exponent = 1`` keeps the activations per batch roughly
    constant.  The LR is not rescaled [secondary].  The full stage (``c = 1``) keeps ``batch_size``.
    """
    batch_size = _positive_int("batch_size", batch_size)
    multiple = _positive_int("multiple", multiple)
    exponent = _real("exponent", exponent, low=0.0)
    if cap is not None:
        cap = _positive_int("cap", cap)
    sizes = []
    for c in fractions:
        c = _real("fraction", c, low=0.0, open_low=True)
        b = batch_size if c >= 1 else max(multiple, multiple * math.floor(batch_size * c ** -exponent / multiple
                                                                          + 0.5))
        sizes.append(b if cap is None else min(b, cap))
    return tuple(sizes)


# --------------------------------------------------------------------------- the cost of a schedule


def schedule_cost(models: Sequence[nn.Module], epochs: Sequence[int], full: nn.Module,
                  input_shape: Sequence[int] | None = None) -> float:
    """Training cost of a schedule relative to ``full`` trained for all its epochs (:mod:`growth.measure.cost`):
    ``sum_k T_k M(model_k) / (sum_k T_k M(full))`` with ``M`` fvcore's training MACs per sample
    (:func:`growth.measure.cost.training_macs_per_sample`); samples per epoch cancel.  The paper's Table 10
    gives 54.90% for ResNet-20 on CIFAR-10; see :mod:`growth.recipes.vt` for what we get."""
    if len(models) != len(epochs):
        raise ValueError(f"models and epochs differ in length ({len(models)} vs {len(epochs)}): give one "
                         "model per stage")
    spent = sum(T * training_macs_per_sample(m, input_shape) for m, T in zip(models, epochs))
    return spent / (sum(epochs) * training_macs_per_sample(full, input_shape))
