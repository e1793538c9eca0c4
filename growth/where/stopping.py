"""AutoGrow's circular list of sub-networks and its stopping policy.

:class:`StoppingRoundRobin` keeps the list of stages (AutoGrow's sub-networks) still allowed to grow.
Each time the trigger fires, the grower asks it for a target and it

1. drops the stages that reached their ``max_depth`` cap (reason ``"max-depth"``);
2. once the growth budget ``max_epochs`` is spent: with ``at_budget="stop"`` drops every stage
   (reason ``"budget"``), no growth at that epoch (c-AutoGrow's code); with ``"grow"`` the check at
   the budget still applies the stopping policy and grows, then every stage left is dropped
   (p-AutoGrow's code, whose last growth comes right before the fine-tuning) [code];
3. applies the **stopping policy**: if the running maximum ``M`` of validation accuracy rose by less
   than ``tau`` (percent points) over the last ``J`` epochs, the stage grown most recently leaves the
   list for good (reason ``"stopping-policy"``);
4. returns the next stage of the list after the one grown last, circularly (the first stage of the
   list before any growth), or ``None`` once the list is empty: the grower is then finished and
   ``growth.train`` switches to its fine-tuning phase.

When the policy is evaluated [code, ``cifar10/main_gradual.py`` of wenwei202/autogrow]: only at the
growth checks, i.e. every ``K`` epochs, just before the growth of that check, never in between.  In
this library that is exactly when the trigger fires (the grower only asks the locator then).  ``M``
runs over every epoch of the run (it is never reset at a growth); the improvement is
``M(t) - M(t - J)``, and a stage is frozen when it is ``< tau``.  Before any growth there is no
"most recently grown" stage and nothing is frozen.  With fewer than ``J + 1`` epochs the code
compares with nothing (``delta = M(t)``, which never falls below tau in practice); here: no freeze.

``anchor="growth"`` measures instead how much the most recent growth helped within the ``J`` epochs
that followed it, ``M(g + J) - M(g)`` (``g`` its epoch; no decision before ``g + J``): the stopping
rule of AutoGrow's convergent code (``main.py``, with ``J = K``) [code], used by c-AutoGrow.

Every freeze is recorded, ``{"kind": "freeze", "epoch", "stage", "depth", "reason", "delta"}``, in
the grower's state (``ctx.state["frozen"]``) and as an event of the run's History
(``ctx.history.events``), just before the growth event of the same epoch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from ..metrics import check_metric, improvement, metric_values, resolve_mode
from ..protocol import GrowthContext

ANCHORS = ("trailing", "growth")
AT_BUDGET = ("stop", "grow")


@dataclass
class StoppingRoundRobin:
    """Round robin over the stages still allowed to grow, with AutoGrow's stopping policy.

    ``J``: the stopping window in epochs (paper: 100 on CIFAR, 30 on ImageNet).  ``tau``: the least
    rise of the running best ``metric`` over ``J`` epochs that keeps the last grown stage growing
    (paper: 0.05, percent points).  ``metric``: a per-epoch History key (``"val_acc"``; AutoGrow's
    code uses the test set: ``"test_acc"``).  ``anchor``: ``"trailing"`` (p-AutoGrow) or
    ``"growth"`` (c-AutoGrow), see the module docstring.  ``max_depth``: a cap on the blocks of
    every stage (an int) or of each stage (a sequence; ``None`` entries: no cap); AutoGrow's code
    caps at 200-200-200.  ``max_epochs``: the growth budget; at that epoch the list is emptied, after
    one last growth with ``at_budget="grow"``, before it with ``"stop"`` (module docstring).  ``mode``: ``"max"``, ``"min"`` or ``"auto"`` (min for a loss metric).
    """

    J: int = 100
    tau: float = 0.05
    metric: str = "val_acc"
    anchor: str = "trailing"
    max_depth: int | Sequence[int | None] | None = None
    max_epochs: int | None = None
    at_budget: str = "stop"
    mode: str = "auto"
    name: str = "stopping-round-robin"

    def __post_init__(self) -> None:
        if isinstance(self.J, bool) or not isinstance(self.J, int) or self.J < 1:
            raise ValueError(f"J={self.J!r} is not allowed: the stopping window must be a positive integer of epochs")
        if isinstance(self.tau, bool) or not isinstance(self.tau, (int, float)) \
                or not math.isfinite(self.tau) or self.tau < 0:
            raise ValueError(f"tau={self.tau!r} is not allowed: use a finite number >= 0 (percent points)")
        if self.at_budget not in AT_BUDGET:
            raise ValueError(f"at_budget={self.at_budget!r} is unknown: choose one of {', '.join(AT_BUDGET)}")
        if self.anchor not in ANCHORS:
            raise ValueError(f"anchor={self.anchor!r} is unknown: choose one of {', '.join(ANCHORS)}")
        check_metric(self.metric, self.mode)
        caps = self.max_depth if isinstance(self.max_depth, (list, tuple)) else [self.max_depth]
        if not caps or any(c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1) for c in caps):
            raise ValueError(
                f"max_depth={self.max_depth!r} is not allowed: use None, a positive integer, or one positive "
                f"integer (or None) per stage"
            )
        if isinstance(self.max_depth, list):
            self.max_depth = tuple(self.max_depth)
        if self.max_epochs is not None and (
            isinstance(self.max_epochs, bool) or not isinstance(self.max_epochs, int) or self.max_epochs < 1
        ):
            raise ValueError(f"max_epochs={self.max_epochs!r} is not allowed: use None or a positive integer")

    def check(self, model) -> None:
        """Before training: a per-stage ``max_depth`` has one entry per stage of ``model``."""
        depths = getattr(model, "depths", None)
        if depths is None:
            raise ValueError(f"the model {type(model).__name__} has no stages to grow (growth.build_model builds growable nets)")
        self._caps(len(depths), model)

    # ------------------------------------------------------------------ the locator

    def __call__(self, ctx: GrowthContext) -> int | None:
        state = ctx.state
        depths = tuple(ctx.model.depths)
        caps = self._caps(len(depths), ctx.model)
        if "growing" not in state:
            state["growing"] = list(range(len(depths)))
            state["grown"] = None
            state["grown_at"] = None
            state.setdefault("frozen", [])
        growing: list[int] = state["growing"]
        t = ctx.epoch

        for stage in list(growing):
            if caps[stage] is not None and depths[stage] >= caps[stage]:
                self._freeze(ctx, stage, "max-depth", None)

        if self.max_epochs is not None and t >= self.max_epochs and self.at_budget == "stop":
            for stage in list(growing):
                self._freeze(ctx, stage, "budget", None)

        grown = state["grown"]
        if grown is not None and grown in growing:
            delta = self.stopping_delta(ctx)
            if delta is not None and delta < self.tau:
                self._freeze(ctx, grown, "stopping-policy", delta)

        if not growing:
            return None
        if grown is None:
            target = growing[0]
        else:  # the next stage after the one grown last, circularly; itself if it is the only one left
            n = len(depths)
            target = next(s for s in ((grown + i) % n for i in range(1, n + 1)) if s in growing)
        state["grown"], state["grown_at"] = target, t
        return target

    def exhausted(self, ctx: GrowthContext) -> bool:
        """With ``at_budget="grow"``, right after the growth at the budget: drop every stage left
        (reason ``"budget"``), so the grower finishes there."""
        if self.at_budget != "grow" or self.max_epochs is None or ctx.epoch < self.max_epochs:
            return False
        for stage in list(ctx.state.get("growing", [])):
            self._freeze(ctx, stage, "budget", None)
        return True

    # ------------------------------------------------------------------ the stopping policy

    def stopping_delta(self, ctx: GrowthContext) -> float | None:
        """The improvement the stopping policy compares with ``tau`` at ``ctx.epoch``; ``None``: too
        early to decide (fewer than ``J + 1`` epochs, or fewer than ``J`` since the last growth)."""
        t = ctx.epoch
        mode = resolve_mode(self.metric, self.mode)
        if self.anchor == "trailing":
            if t < self.J + 1:
                return None
            start, end = t - self.J, t
        else:
            g = ctx.state.get("grown_at")
            if g is None or t < g + self.J:
                return None
            start, end = g, g + self.J
        values = metric_values(ctx.history, self.metric, end)
        return improvement(values, start, end, mode)

    # ------------------------------------------------------------------ helpers

    def _caps(self, stages: int, model) -> tuple[int | None, ...]:
        if isinstance(self.max_depth, tuple):
            if len(self.max_depth) != stages:
                raise ValueError(
                    f"max_depth={self.max_depth!r} has {len(self.max_depth)} entries; the model "
                    f"{getattr(model, 'spec', '?')} has {stages} stages"
                )
            return self.max_depth
        return (self.max_depth,) * stages

    def _freeze(self, ctx: GrowthContext, stage: int, reason: str, delta: float | None) -> None:
        ctx.state["growing"].remove(stage)
        record: dict[str, Any] = {
            "kind": "freeze",
            "epoch": ctx.epoch,
            "stage": stage,
            "depth": int(ctx.model.depths[stage]),
            "reason": reason,
            "delta": delta,
        }
        ctx.state["frozen"].append(record)
        if ctx.history is not None:
            ctx.history.events.append(dict(record, method=self.name))
