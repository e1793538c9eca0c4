"""Which channel groups grow next, and to how many channels: the width locators.

A width locator returns a target for :class:`growth.how.AddWidth`: a width multiplier (every group to
``build_model(..., width=w)``'s counts) or a dict group name -> channel count (unnamed groups keep
theirs), and None once its schedule is done.

* :class:`WidthSteps`: every group at once, to the next of increasing width multipliers.
* :class:`ChannelStages`: every group at once, stage after stage of a channel schedule (the VT paper's
  scheduler, Sec. 3.2: :mod:`growth.when.width_schedule`).
* :class:`GroupRoundRobin`: one group per growth, the groups in turn, a fixed number of channels at a
  time, until every group has its target count (GradMax's round robin over layer tuples, Evci et al.
  2022, Sec. 4).
* :class:`GlobalPick`: the units with the lowest scores across all groups, a fraction of them
  (Splitting's and Firefly's global selection); the chosen units go to the operator in
  ``ctx.state["width_pick"]``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..models import channel_counts
from ..protocol import GrowthContext

__all__ = ["ChannelStages", "GlobalPick", "GroupRoundRobin", "WidthSteps"]


@dataclass
class WidthSteps:
    """Locator: the first of ``widths`` (one multiplier or increasing ones) above the model's width."""

    widths: float | Sequence[float]
    name: str = "width-steps"

    def __post_init__(self) -> None:
        widths = (self.widths,) if isinstance(self.widths, numbers.Real) else tuple(self.widths)
        if not widths or any(isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w)
                             or w <= 0 for w in widths) or list(widths) != sorted(set(widths)):
            raise ValueError(f"width={self.widths!r} is not allowed: give a width > 0 or increasing widths")
        self.widths = tuple(float(w) for w in widths)

    def __call__(self, ctx: GrowthContext) -> float | None:
        current = getattr(ctx.model, "width", None)
        if current is None:
            raise ValueError(f"model={getattr(ctx.model, 'spec', ctx.model)!r} has no width multiplier (grown per "
                             "group): a width schedule needs one")
        return next((w for w in self.widths if w > current), None)


@dataclass
class ChannelStages:
    """Locator: after ``k`` width growths of the run (``ctx.state["width_growth"]``), entry ``k + 1`` of
    ``channels`` (per-stage counts, group name -> count, all naming the same groups, the first the seed's)."""

    channels: Sequence[dict[str, int]]
    name: str = "channel-stages"

    def __post_init__(self) -> None:
        stages = list(self.channels) if isinstance(self.channels, (list, tuple)) else None
        if not stages or any(not isinstance(s, dict) or set(s) != set(stages[0]) for s in stages) or any(
                isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1
                for s in stages for n in s.values()):
            raise ValueError(f"channels={self.channels!r} is not allowed: give a list of dicts group name -> "
                             "positive channel count, all naming the same groups, the first the seed's")
        shrinks = [k for k in range(1, len(stages)) if any(stages[k][g] < stages[k - 1][g] for g in stages[0])]
        if shrinks:
            raise ValueError(f"channels: stage {shrinks[0]} has fewer channels than stage {shrinks[0] - 1} in some "
                             "group: width growth only widens, give counts that never decrease")
        self.channels = [dict(s) for s in stages]

    def __call__(self, ctx: GrowthContext) -> dict[str, int] | None:
        done = len(ctx.state.get("width_growth", []))
        return dict(self.channels[done + 1]) if done + 1 < len(self.channels) else None


@dataclass
class GroupRoundRobin:
    """Locator: one group per growth, in turn (``groups``' order; all the model's groups in forward order
    if None), each growth adding ``step`` channels (an int, or group name -> int) to that group, until
    every group reaches ``targets`` (group name -> count).  Groups already at their target are passed
    over.  ``exhausted(ctx)`` tells the Grower once every group is there."""

    targets: dict[str, int]
    step: int | dict[str, int] = 1
    groups: Sequence[str] | None = None
    name: str = "group-round-robin"
    _turn: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.targets, dict) or not self.targets or any(
                isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in self.targets.values()):
            raise ValueError(f"targets={self.targets!r} is not allowed: give a dict group name -> positive channel "
                             "count")
        steps = self.step.values() if isinstance(self.step, dict) else [self.step]
        if any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in steps):
            raise ValueError(f"step={self.step!r} is not allowed: give a positive integer, or one per group")
        if self.groups is not None:
            unknown = [g for g in self.groups if g not in self.targets]
            if unknown:
                raise ValueError(f"groups={list(self.groups)!r} names group(s) without a target: {unknown}")

    def check(self, model: Any) -> None:
        """Before training: every target names a group of ``model`` and is at least its count."""
        current = channel_counts(model)
        unknown = [g for g in self.targets if g not in current]
        if unknown:
            raise ValueError(f"targets name unknown group(s) {unknown}: the groups of "
                             f"{getattr(model, 'spec', type(model).__name__)} are {', '.join(current)}")
        narrower = [g for g, n in self.targets.items() if n < current[g]]
        if narrower:
            raise ValueError(f"targets are below the model's channel counts in group(s) {narrower}: width growth "
                             "only widens")

    def _order(self, ctx: GrowthContext) -> list[str]:
        if self.groups is not None:
            return list(self.groups)
        return [g for g in channel_counts(ctx.model) if g in self.targets]

    def _step(self, group: str) -> int:
        return self.step.get(group, 1) if isinstance(self.step, dict) else self.step

    def __call__(self, ctx: GrowthContext) -> dict[str, int] | None:
        current = channel_counts(ctx.model)
        order = self._order(ctx)
        for k in range(len(order)):
            group = order[(self._turn + k) % len(order)]
            if current[group] < self.targets[group]:
                self._turn = (self._turn + k + 1) % len(order)
                return {group: min(self.targets[group], current[group] + self._step(group))}
        return None

    def exhausted(self, ctx: GrowthContext) -> bool:
        current = channel_counts(ctx.model)
        return all(current[g] >= n for g, n in self.targets.items())


@dataclass
class GlobalPick:
    """Locator: pool every unit's score across groups (``score(ctx)``: group -> one score per unit,
    lower grows first, e.g. :meth:`growth.how.Splitting.scores`) and pick the lowest ``fraction`` of
    all units (at least one; the Splitting authors split the lowest 30%, Firefly grows 30-35%), only
    negative scores if ``negative_only``.  Returns the groups' new counts (old + picked) and leaves the
    picked units in ``ctx.state["width_pick"]`` (group -> unit indices) for the operator; None once
    ``growths`` growths were made or nothing is picked."""

    score: Callable[[GrowthContext], dict[str, torch.Tensor]]
    fraction: float = 0.3
    growths: int | None = None
    negative_only: bool = False
    name: str = "global-pick"
    _done: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        ok = not isinstance(self.fraction, bool) and isinstance(self.fraction, numbers.Real)
        if not ok or not 0 < self.fraction <= 1:
            raise ValueError(f"fraction={self.fraction!r} is not allowed: give a number in (0, 1]")
        if self.growths is not None and (isinstance(self.growths, bool) or not isinstance(self.growths, int)
                                         or self.growths < 1):
            raise ValueError(f"growths={self.growths!r} is not allowed: give a positive integer or None")

    def __call__(self, ctx: GrowthContext) -> dict[str, int] | None:
        if self.growths is not None and self._done >= self.growths:
            return None
        scores = {g: torch.as_tensor(s).detach().cpu().flatten() for g, s in self.score(ctx).items()}
        if not scores:
            return None
        groups = list(scores)
        pooled = torch.cat([scores[g] for g in groups])
        owner = torch.cat([torch.full((len(scores[g]),), k) for k, g in enumerate(groups)])
        unit = torch.cat([torch.arange(len(scores[g])) for g in groups])
        order = torch.argsort(pooled, stable=True)[:max(1, round(self.fraction * len(pooled)))]
        if self.negative_only:
            order = order[pooled[order] < 0]
        if len(order) == 0:
            return None
        counts = channel_counts(ctx.model)
        picked = {groups[k]: torch.sort(unit[order][owner[order] == k]).values for k in range(len(groups))}
        picked = {g: units for g, units in picked.items() if len(units)}
        ctx.state["width_pick"] = picked
        self._done += 1
        return {g: counts[g] + len(units) for g, units in picked.items()}
