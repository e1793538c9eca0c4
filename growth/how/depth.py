"""Depth growth: add one block (AutoGrow's sub-module) at the end of a stage.

Every family of the zoo that grows in depth provides ``model.new_block(stage)``; this module
appends it.  The new block is default-initialised (AutoGrow's "default random initialisation" of all
layers but the last BN); the initialisers of AutoGrow and FRAGrow build on this.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..protocol import GrowthContext


def grow_depth(model, stage: int):
    """Append a new block to ``model.stages[stage]``, in place; returns ``model``.

    Device, dtype and train/eval mode follow the model; ``model.spec`` follows the new depth
    (``Basic3ResNet-1-1-1`` -> ``Basic3ResNet-2-1-1``).
    """
    if not getattr(model, "depth_growable", False):
        raise ValueError(f"model={getattr(model, 'spec', type(model).__name__)!r} does not grow in depth")
    model._check_stage(stage)
    model.stages[stage].append(model.new_block(stage))
    return model


@dataclass
class AddBlock:
    """Operator: ``grow_depth`` at the stage the locator chose."""

    name: str = "add-block"

    def __call__(self, ctx: GrowthContext, stage: int):
        return grow_depth(ctx.model, stage)
