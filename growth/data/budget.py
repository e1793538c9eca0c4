"""Fitting a dataset to a compute budget: the smoke and bench profiles' small data.

``capped("synthetic", {"num_train": 2000}, max_train=1000)`` gives options with at most 1000 training
images; for a dataset of fixed size it gives instead the fraction of the training set to keep
(``load(..., subsample=fraction)``, seeded and class-stratified).
"""
from __future__ import annotations

import numbers
from typing import Any

from .registry import load
from .synthetic import SYNTHETIC_DEFAULTS, SYNTHETIC_PRESETS

__all__ = ["capped"]


def capped(
    name: str,
    options: dict[str, Any] | None = None,
    *,
    max_train: int,
    max_test: int | None = None,
    difficulty: float | None = None,
    root: Any = None,
) -> tuple[dict[str, Any], float]:
    """``(options, fraction)`` that keep dataset ``name`` within ``max_train`` training images
    (the validation split included).

    ``synthetic`` is generated at the size asked: ``num_train`` / ``num_test`` are capped at
    ``max_train`` / ``max_test`` and ``difficulty`` is set unless ``options`` set it or name a
    preset; the fraction is 1.
    Any other dataset keeps its options and its whole test set; the fraction is
    ``min(1, max_train / its training images)`` (the dataset is read once to count them).
    """
    for key, value in (("max_train", max_train), ("max_test", max_test)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
            raise ValueError(f"{key}={value!r} is not allowed: use a positive integer")
    opts = dict(options or {})
    if name == "synthetic":
        base = {**SYNTHETIC_DEFAULTS, **SYNTHETIC_PRESETS.get(opts.get("preset"), {}), **opts}
        opts["num_train"] = min(base["num_train"], max_train)
        if max_test is not None:
            opts["num_test"] = min(base["num_test"], max_test)
        if difficulty is not None and "preset" not in opts:
            opts.setdefault("difficulty", difficulty)
        return opts, 1.0
    full = load(name, root=root, **opts).num_train
    return opts, min(1.0, max_train / full)
