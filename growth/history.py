"""The record of one run: per-epoch metrics, growth events and the run's metadata, as JSON.

DESIGN.md: a run writes a History (per epoch: architecture, losses, accuracies, LR, cost so far, wall
time, growth events) next to the notebook's output; a notebook re-reads, never re-computes, it.
Accuracies are in percent, as in the papers' tables; ``macs`` is the cumulative training cost in MACs
(fvcore, 1 MAC = 1 FLOP) including the compute of growth procedures.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import atomic_write_json


@dataclass
class History:
    """Per-epoch records (``epochs``), growth events (``events``) and metadata (``meta``)."""

    meta: dict[str, Any] = field(default_factory=dict)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def series(self, key: str) -> list[Any]:
        """The value of ``key`` at every epoch (``None`` where it was not recorded)."""
        return [record.get(key) for record in self.epochs]

    def last(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` at the last epoch that recorded it."""
        for record in reversed(self.epochs):
            if record.get(key) is not None:
                return record[key]
        return default

    def best(self, key: str) -> float | None:
        """The maximum of ``key`` over epochs (e.g. the running maximum of ``val_acc`` so far)."""
        values = [v for v in self.series(key) if v is not None and not math.isnan(v)]
        return max(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "epochs": self.epochs, "events": self.events}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON, atomically."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "History":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(meta=data.get("meta", {}), epochs=data.get("epochs", []), events=data.get("events", []))
