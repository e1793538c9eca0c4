"""Depth growth: insert one block (AutoGrow's sub-module) into a stage, with an initialiser.

Every family of the zoo that grows in depth (Basic3ResNet, Basic4ResNet, Bottleneck4ResNet,
Plain3Net, Plain4Net, VGG, MobileNetV2) provides ``model.new_block(stage)``, a block that keeps the
stage's resolution and channels; :func:`grow_depth` initialises one (:mod:`growth.how.depth_init`)
and inserts it, in place.  :class:`AddBlock` is the operator the training loop calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from torch import nn

from ..models.base import GrowableNet
from ..protocol import GrowthContext
from .depth_init import DEPTH_INITS, DepthInit, interchangeable, make_depth_init, template_block

__all__ = ["AddBlock", "DEPTH_INITS", "depth_families", "grow_depth", "template_block"]


def depth_families() -> list[str]:
    """The families of the zoo that grow in depth."""
    found, todo = set(), [GrowableNet]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.depth_growable and cls.family:
            found.add(cls.family)
    return sorted(found)


def _check(model: nn.Module, stage: Any, position: Any, max_depth: Any) -> int:
    """Validate every argument against ``model``; returns the position. Touches nothing."""
    if not getattr(model, "depth_growable", False):
        name = getattr(model, "spec", type(model).__name__)
        raise ValueError(f"model={name!r} does not grow in depth: depth-growable families are "
                         f"{', '.join(depth_families())}")
    n_stages = len(model.stages)
    if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < n_stages:
        raise ValueError(f"stage={stage!r} does not exist in {model.spec}: valid stages are 0..{n_stages - 1}")
    depth = len(model.stages[stage])
    if max_depth is not None:
        limits = [max_depth] * n_stages if isinstance(max_depth, int) and not isinstance(max_depth, bool) else max_depth
        try:
            limits = list(limits)
        except TypeError:
            limits = []
        if len(limits) != n_stages or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in limits):
            raise ValueError(f"max_depth={max_depth!r} is not allowed: use a positive integer (blocks per stage) "
                             f"or one per stage ({n_stages} stages)")
        if depth + 1 > limits[stage]:
            raise ValueError(f"max_depth={max_depth!r}: stage {stage} of {model.spec} already has {depth} "
                             f"block(s), the most allowed is {limits[stage]}")
    if position is None:
        return depth
    first = 0 if interchangeable(model.stages[stage][0], template_block(model, stage)) else 1
    if isinstance(position, bool) or not isinstance(position, int) or not first <= position <= depth:
        why = "" if first == 0 else f" (0 is not: the first block of stage {stage} downsamples or changes channels)"
        raise ValueError(f"position={position!r} is not allowed in stage {stage} of {model.spec}: "
                         f"valid positions are {first}..{depth}{why}")
    return position


def grow_depth(
    model: nn.Module,
    stage: int,
    *,
    init: str | DepthInit = "he",
    position: int | None = None,
    max_depth: int | Sequence[int] | None = None,
    ctx: GrowthContext | None = None,
) -> nn.Module:
    """Insert one new block into ``model.stages[stage]``, IN PLACE; returns the same model object.

    ``init``: a name of :data:`~growth.how.depth_init.DEPTH_INITS` (``zero``, ``uniform``,
    ``gaussian``, ``adam``: AutoGrow's, Tables 6/7 of the review; ``he``; ``copy``: FRAGrow's) or a
    :class:`~growth.how.depth_init.DepthInit`.  ``position``: index of the new block in the stage
    (default: the end); 0 only where the stage's first block keeps the resolution and channels.
    ``max_depth``: blocks allowed per stage (an int, or one per stage).  ``ctx``: the
    :class:`~growth.protocol.GrowthContext`, needed by ``adam`` (data, cost).

    Device, dtype and train/eval mode follow the model; ``model.spec`` follows the new depth
    (``Basic3ResNet-1-1-1`` -> ``Basic3ResNet-2-1-1``).  Blocks after ``position`` are renumbered,
    as ``nn.Sequential.insert`` does, so the state_dict keys stay those of ``build_model(model.spec)``;
    parameter *names* of those blocks shift (optimizer state carried by name needs the shift).
    A bad argument raises ``ValueError`` (naming it, its value and what is allowed) before any change.
    """
    initialiser = make_depth_init(init)
    position = _check(model, stage, position, max_depth)
    initialiser.check(model, ctx)
    prepared = initialiser.prepare(model, stage, position, ctx)
    block = initialiser.make(model, stage, position)
    model.stages[stage].insert(position, block)
    initialiser.finish(model, block, stage, position, ctx, prepared)
    return model


@dataclass
class AddBlock:
    """Operator: :func:`grow_depth` at the end of the stage the locator chose, with ``init``.

    Always appends at the end, so no parameter of the model is renamed and the training loop's
    optimizer carry-over (by name, :mod:`growth.optim`) stays exact.
    """

    init: str | DepthInit = "he"
    max_depth: int | Sequence[int] | None = None
    name: str = ""
    _init: DepthInit = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._init = make_depth_init(self.init)  # an unknown name fails here, before training
        if not self.name:
            self.name = f"add-block({self._init.name or type(self._init).__name__})"

    @property
    def initializer(self) -> DepthInit:
        """The :class:`DepthInit` that ``init`` names."""
        return self._init

    def __call__(self, ctx: GrowthContext, stage: int) -> nn.Module:
        return grow_depth(ctx.model, stage, init=self._init, max_depth=self.max_depth, ctx=ctx)
