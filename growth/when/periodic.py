"""Periodic growth: grow every K epochs (AutoGrow's p-AutoGrow; FRAGrow's "periodic" baseline)."""
from __future__ import annotations

from dataclasses import dataclass

from ..protocol import GrowthContext


@dataclass
class Periodic:
    """Fires after epochs K, 2K, 3K, ... (1-based, counted from the start of the run)."""

    every: int
    name: str = "periodic"

    def __post_init__(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"every={self.every!r} is not allowed: the period K must be a positive integer")

    def __call__(self, ctx: GrowthContext) -> bool:
        return ctx.epoch % self.every == 0
