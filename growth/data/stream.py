"""A growing data stream: the training set revealed stage by stage (VT paper, App. H, Table 14).

"The network complexity scales up together with the data": the training split of stage ``k`` is a
subset ``D_k`` of a dataset's training split, stages changing at fixed epochs (the growth stages'), the
test split whole throughout.  Two settings of App. H:

* ``"class"`` (progressive class): a seeded order of the classes; stage ``k`` trains on every sample of
  the first ``n_k`` classes, ``n_k`` rising linearly from ``first`` of the classes (the paper: 20 of
  CIFAR-100's 100) to all of them (10 more per stage over its 9 stages);
* ``"data"`` (progressive data): stage ``k`` trains on a sample drawn **with replacement** of
  ``f_k N`` training samples, ``f_k`` rising linearly from ``first`` to 1 [open: the paper's fraction
  formula was lost; linear is our reading, ``first`` a parameter].

:func:`stream_indices` draws the stages' index sets; :class:`StagedSplits` wraps a
:class:`~growth.data.core.TensorSplits` so that its training loader serves the current stage
(``stage``), which the training loop sets from :meth:`StagedSplits.stage_at` at every epoch.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import torch

from .core import DataSplits, TensorSplits
from .loaders import TensorLoader

__all__ = ["KINDS", "StagedSplits", "stream_indices"]

KINDS = ("class", "data")


def stream_indices(labels: torch.Tensor, stages: int, *, kind: str, first: float, seed: int) -> list[torch.Tensor]:
    """The training indices of each of ``stages`` stages (see the module's notes), drawn from ``seed``."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is unknown: choose one of {', '.join(KINDS)}")
    if isinstance(stages, bool) or not isinstance(stages, numbers.Integral) or stages < 1:
        raise ValueError(f"stages={stages!r} is not allowed: use a positive integer")
    if isinstance(first, bool) or not isinstance(first, numbers.Real) or not 0 < first <= 1:
        raise ValueError(f"first={first!r} is not allowed: give the first stage's share, a number in (0, 1]")
    labels = labels.detach().cpu()
    rng = np.random.default_rng(seed)
    shares = [first + (1 - first) * k / (stages - 1) if stages > 1 else 1.0 for k in range(stages)]
    if kind == "class":
        classes = int(labels.max()) + 1 if len(labels) else 0
        order = torch.from_numpy(rng.permutation(classes))
        counts = [max(1, math.floor(share * classes + 0.5)) for share in shares]
        return [torch.nonzero(torch.isin(labels, order[:n])).flatten() for n in counts]
    n = len(labels)
    return [torch.from_numpy(np.sort(rng.integers(0, n, max(1, math.floor(share * n + 0.5))))) for share in shares]


class StagedSplits(DataSplits):
    """``base``'s splits, its training split served stage by stage: stage ``k`` is ``base``'s training
    samples ``indices[k]`` and lasts ``epochs[k]`` epochs.  Every other split and attribute is
    ``base``'s.  ``stage`` is the stage the training loader serves (the training loop sets it)."""

    def __init__(self, base: TensorSplits, indices: Sequence[torch.Tensor], epochs: Sequence[int], *,
                 kind: str = "", info: dict[str, Any] | None = None) -> None:
        if len(indices) != len(epochs) or not indices:
            raise ValueError(f"indices and epochs give {len(indices)} and {len(epochs)} stages: give one index set "
                             "and one length per stage")
        if any(isinstance(e, bool) or not isinstance(e, numbers.Integral) or e < 1 for e in epochs):
            raise ValueError(f"epochs={list(epochs)!r} is not allowed: give each stage a positive number of epochs")
        self.base = base
        self.stage_indices = [torch.as_tensor(i, dtype=torch.long) for i in indices]
        self.epochs = [int(e) for e in epochs]
        self.stage = 0
        for name in ("name", "num_classes", "classes", "input_shape", "device", "mean", "std", "indices"):
            setattr(self, name, getattr(base, name))
        sizes = [len(i) for i in self.stage_indices]
        self.info = {**base.info, "stream": {"kind": kind, "stage_sizes": sizes, "stage_epochs": self.epochs,
                                             **(info or {})}}

    def stage_at(self, epoch: int) -> int:
        """The stage of 0-based ``epoch`` (the last stage past the end)."""
        ends = np.cumsum(self.epochs)
        return int(min(np.searchsorted(ends, epoch, side="right"), len(self.epochs) - 1))

    @property
    def num_train(self) -> int:
        return len(self.stage_indices[self.stage])

    @property
    def num_val(self) -> int:
        return self.base.num_val

    @property
    def num_test(self) -> int:
        return self.base.num_test

    def tensors(self, split: str):
        if split != "train":
            return self.base.tensors(split)
        x, y = self.base.tensors("train")
        index = self.stage_indices[self.stage].to(x.device)
        return x[index], y[index]

    def train_loader(self, batch_size: int, *, seed: int, augment: bool = True) -> TensorLoader:
        """The current stage's training samples, shuffled and augmented as ``base`` does."""
        x, y = self.tensors("train")
        return TensorLoader(x, y, batch_size, shuffle=True, seed=seed, augment=augment, pad=self.base.pad,
                            flip=self.base.flip)

    def eval_loader(self, split: str, batch_size: int) -> TensorLoader:
        """``split`` of ``base`` (``"train"``: the current stage's samples), fixed order."""
        x, y = self.tensors(split)
        return TensorLoader(x, y, batch_size, shuffle=False, augment=False)
