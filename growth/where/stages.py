"""Which stage grows next, towards a target depth per stage.

``RoundRobin`` is AutoGrow's circular list of sub-networks (FRAGrow's "circulation" ablation);
``Sequential`` fills stages front to back (FRAGrow's default); ``AllStages`` grows every stage at
once (LipGrow).  Both return ``None`` once every
stage has reached its target depth, and ``exhausted(ctx)`` tells the :class:`growth.Grower` so right
after the growth that reached it (the fine-tuning then starts at once).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..protocol import GrowthContext


def _check_targets(targets: Sequence[int]) -> tuple[int, ...]:
    if not isinstance(targets, (list, tuple)) or not targets or any(
            isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in targets):
        raise ValueError(f"targets={targets!r} is not allowed: give a positive target depth per stage")
    return tuple(targets)


def _check_model(targets: tuple[int, ...], model) -> None:
    """``ValueError`` unless ``targets`` has one depth per stage of ``model``, none shallower than its seed."""
    depths = getattr(model, "depths", None)
    if depths is None:
        raise ValueError(f"the model {type(model).__name__} has no stages to grow (growth.build_model builds growable nets)")
    if len(depths) != len(targets):
        raise ValueError(f"targets={targets!r} has {len(targets)} stages; the model {model.spec} has {len(depths)}")
    shallower = [s for s, (d, t) in enumerate(zip(depths, targets)) if t < d]
    if shallower:
        raise ValueError(f"targets={targets!r} is shallower than the model {model.spec} in stage(s) {shallower}: "
                         f"give every stage a target at least its depth, {tuple(depths)}")


def _room(ctx: GrowthContext, targets: tuple[int, ...]) -> list[int]:
    depths = ctx.model.depths
    if len(depths) != len(targets):
        raise ValueError(f"targets={targets!r} has {len(targets)} stages; the model {ctx.model.spec} has {len(depths)}")
    return [s for s, (d, t) in enumerate(zip(depths, targets)) if d < t]


@dataclass
class Sequential:
    """Grow the first stage that is below its target depth."""

    targets: Sequence[int]
    name: str = "sequential"

    def __post_init__(self) -> None:
        self.targets = _check_targets(self.targets)

    def check(self, model) -> None:
        """Before training: one target per stage of ``model``, none shallower than it."""
        _check_model(self.targets, model)

    def __call__(self, ctx: GrowthContext) -> int | None:
        room = _room(ctx, self.targets)
        return room[0] if room else None

    def exhausted(self, ctx: GrowthContext) -> bool:
        """Every stage has reached its target depth."""
        return not _room(ctx, self.targets)


@dataclass
class RoundRobin:
    """Visit the stages still below their target in turn, starting after the stage grown last."""

    targets: Sequence[int]
    name: str = "round-robin"

    def __post_init__(self) -> None:
        self.targets = _check_targets(self.targets)

    def check(self, model) -> None:
        """Before training: one target per stage of ``model``, none shallower than it."""
        _check_model(self.targets, model)

    def __call__(self, ctx: GrowthContext) -> int | None:
        room = _room(ctx, self.targets)
        if not room:
            return None
        last = ctx.state.get("round_robin_last", -1)
        stage = next((s for s in room if s > last), room[0])
        ctx.state["round_robin_last"] = stage
        return stage

    def exhausted(self, ctx: GrowthContext) -> bool:
        """Every stage has reached its target depth."""
        return not _room(ctx, self.targets)


@dataclass
class AllStages:
    """Every stage still below its target, at once (LipGrow's growth doubles the whole net):
    returns the tuple of those stages."""

    targets: Sequence[int]
    name: str = "all-stages"

    def __post_init__(self) -> None:
        self.targets = _check_targets(self.targets)

    def check(self, model) -> None:
        """Before training: one target per stage of ``model``, none shallower than it."""
        _check_model(self.targets, model)

    def __call__(self, ctx: GrowthContext) -> tuple[int, ...] | None:
        room = _room(ctx, self.targets)
        return tuple(room) if room else None

    def exhausted(self, ctx: GrowthContext) -> bool:
        """Every stage has reached its target depth."""
        return not _room(ctx, self.targets)
