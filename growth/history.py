"""The record of one run: per-epoch metrics, growth events and the run's metadata, as JSON.

A run writes a History (per epoch: architecture, losses, accuracies, LR, cost so far, wall
time, growth events) next to the notebook's output; a notebook re-reads, never re-computes, it.
Accuracies are in percent, as in the papers' tables; ``macs`` is the cumulative training cost in MACs
(fvcore, 1 MAC = 1 FLOP) including the compute of growth procedures.

A History says how its run ended (``meta["status"]``): ``"running"`` while the run trains (a file
left so by a killed run is incomplete), ``"complete"``, or ``"diverged"`` (the loss became
non-finite; ``meta["diverged"]`` says where). :meth:`History.load` warns about an incomplete one. The
file is strict JSON: a non-finite number is written as ``null``.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import atomic_write_json

#: Per-epoch and per-event keys that measure wall-clock time, and meta keys that log how a run was
#: carried out (where it resumed): they differ between two runs of one configuration, nothing else does.
WALL_CLOCK_KEYS = frozenset({"train_seconds", "eval_seconds", "wall", "seconds", "observer_seconds",
                             "lipschitz_seconds", "wall_seconds", "training_seconds", "overhead_seconds",
                             "similarity_seconds"})
RUN_LOG_KEYS = frozenset({"resumed", "outcome", "machine", "device"})


class IncompleteHistoryWarning(UserWarning):
    """A History whose run did not finish (killed, or still running) was loaded."""


@dataclass
class History:
    """Per-epoch records (``epochs``), growth events (``events``) and metadata (``meta``)."""

    meta: dict[str, Any] = field(default_factory=dict)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``"running"``, ``"complete"`` or ``"diverged"`` (module docstring). A History written
        before statuses were recorded is complete if its run recorded ``epochs_run``."""
        return self.meta.get("status") or ("complete" if "epochs_run" in self.meta else "running")

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

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

    def without_wall_clock(self) -> dict[str, Any]:
        """:meth:`to_dict` without :data:`WALL_CLOCK_KEYS` and :data:`RUN_LOG_KEYS`: what two runs of
        one configuration on one machine share bit for bit (the resume test's comparison)."""
        def strip(obj: Any) -> Any:
            if isinstance(obj, dict):
                return {k: strip(v) for k, v in obj.items() if k not in WALL_CLOCK_KEYS}
            if isinstance(obj, list):
                return [strip(v) for v in obj]
            return obj

        meta = {k: v for k, v in self.meta.items() if k not in RUN_LOG_KEYS}
        return strip({"meta": meta, "epochs": self.epochs, "events": self.events})

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as strict JSON, atomically."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "History":
        """Read a History; warns (:class:`IncompleteHistoryWarning`) when its run did not finish."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not a History: not valid JSON ({err})") from None
        if not isinstance(data, dict) or not isinstance(data.get("epochs", []), list):
            raise ValueError(f"{path} is not a History: expected an object with 'meta', 'epochs', 'events'")
        history = cls(meta=data.get("meta", {}), epochs=data.get("epochs", []), events=data.get("events", []))
        if history.status == "running":
            warnings.warn(f"{path} is incomplete: its run stopped after epoch {len(history.epochs)} of "
                          f"{history.meta.get('epochs', '?')} (killed, or still running); resume it to finish",
                          IncompleteHistoryWarning, stacklevel=2)
        return history
