"""Seeded, class-stratified subsets of a labelled set: the validation hold-out and subsampling.

Both operations pick, in every class, a share of that class's samples proportional to the class
size (largest-remainder rounding, so the total is exactly ``round(fraction * n)``), drawn with a
NumPy generator seeded from ``seed``. The same labels and seed give the same indices on every
machine; another seed gives another draw.

Order used by :func:`growth.data.load`: first ``subsample`` keeps a fraction of the training set
(AutoGrow, Table 10), then ``val_fraction`` of *what remains* is held out as validation (FRAGrow).
So ``load(..., subsample=0.5, val_fraction=0.1)`` trains on 45% and validates on 5% of the
original training set. The test set is never touched.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["allocate", "stratified_split", "subsample_indices", "validation_split"]

# Separate streams for the two draws, so that changing val_fraction never changes which samples
# subsample keeps (and vice versa).
_SUBSAMPLE_STREAM = 1
_VALIDATION_STREAM = 2


def _as_numpy_labels(labels) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    return labels.astype(np.int64, copy=False)


def allocate(counts: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` over classes proportionally to ``counts`` (largest remainder, random ties).

    Returns an int array ``take`` with ``take.sum() == total`` and ``0 <= take <= counts``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    if not 0 <= total <= n:
        raise ValueError(f"total must be in [0, {n}], got {total}")
    if n == 0:
        return np.zeros_like(counts)
    exact = counts * (total / n)
    take = np.floor(exact).astype(np.int64)
    remainder = exact - take
    missing = total - int(take.sum())
    if missing > 0:
        # Largest remainders first; ties broken by a random key from the seeded generator.
        tie_break = rng.random(len(counts))
        order = np.lexsort((tie_break, -remainder))
        eligible = [c for c in order if take[c] < counts[c]]
        for c in eligible[:missing]:
            take[c] += 1
    return take


def stratified_split(labels, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``round(fraction * n)`` samples, stratified by class.

    Returns ``(chosen, rest)``: two sorted, disjoint int64 index arrays covering ``range(n)``.
    """
    y = _as_numpy_labels(labels)
    n = len(y)
    classes, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    total = int(round(fraction * n))
    take = allocate(counts, total, rng)
    chosen = []
    for k in range(len(classes)):
        members = np.flatnonzero(inverse == k)
        chosen.append(rng.permutation(members)[: take[k]])
    chosen_idx = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[chosen_idx] = False
    return chosen_idx.astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def subsample_indices(labels, fraction: float, seed: int) -> np.ndarray:
    """Indices (sorted) of a seeded, class-stratified ``fraction`` of a labelled set."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"subsample must be in (0, 1], got {fraction!r}")
    y = _as_numpy_labels(labels)
    if fraction == 1.0:
        return np.arange(len(y), dtype=np.int64)
    rng = np.random.default_rng([int(seed), _SUBSAMPLE_STREAM])
    kept, _ = stratified_split(y, fraction, rng)
    if len(kept) == 0:
        raise ValueError(
            f"subsample={fraction!r} of {len(y)} training samples keeps no sample; "
            f"use subsample >= {1.0 / len(y):.3g}"
        )
    return kept


def validation_split(labels, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, class-stratified hold-out: returns sorted ``(train_idx, val_idx)``.

    ``fraction == 0`` returns every index as training and an empty validation set. For a positive
    fraction the validation set has ``max(1, round(fraction * n))`` samples.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction!r}")
    y = _as_numpy_labels(labels)
    n = len(y)
    if fraction == 0.0:
        return np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if n < 2:
        raise ValueError(f"val_fraction={fraction!r} needs at least 2 training samples, got {n}")
    # At least one validation sample, and at least one left for training.
    effective = min(max(1, round(fraction * n)), n - 1) / n
    rng = np.random.default_rng([int(seed), _VALIDATION_STREAM])
    val_idx, train_idx = stratified_split(y, effective, rng)
    return train_idx, val_idx
