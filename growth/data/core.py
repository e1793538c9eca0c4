"""`DataSplits`: what :func:`growth.data.load` returns; the train / val / test splits of a dataset.

Two kinds share one interface:

* :class:`TensorSplits`: every split held as normalised float32 tensors on ``device``; loaders are
  :class:`~growth.data.loaders.TensorLoader` (augmentation in batch on the device).
* :class:`growth.data.torchvision_sets.FolderSplits` (imagenet): images read from disk by a
  ``DataLoader`` with workers, transformed by torchvision, moved to ``device`` batch by batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .loaders import TensorLoader

__all__ = ["DataSplits", "HeldSplits", "TensorSplits", "EVAL_SPLITS", "RawData"]

EVAL_SPLITS = ("train", "val", "test")


class RawData:
    """A dataset as a builder returns it, before subsample, validation split and normalisation.

    ``train_x`` / ``test_x``: ``(N, C, H, W)``, uint8 (0..255) or float; ``train_y`` / ``test_y``:
    int64 ``(N,)`` in ``[0, num_classes)``; ``flip``: whether a horizontal flip keeps the label's
    meaning (False for digits); ``info``: provenance (files read, generator options, ...).
    """

    def __init__(
        self,
        train_x: Tensor,
        train_y: Tensor,
        test_x: Tensor,
        test_y: Tensor,
        *,
        num_classes: int,
        classes: list[str] | None = None,
        flip: bool = True,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.train_x, self.train_y = train_x, torch.as_tensor(train_y, dtype=torch.int64)
        self.test_x, self.test_y = test_x, torch.as_tensor(test_y, dtype=torch.int64)
        self.num_classes = int(num_classes)
        self.classes = list(classes) if classes is not None else [str(i) for i in range(self.num_classes)]
        self.flip = flip
        self.info = dict(info or {})


class DataSplits:
    """Train / val / test splits of one dataset, and loaders over them.

    Attributes: ``name``, ``num_classes``, ``input_shape`` ``(C, H, W)``, ``input_dtype`` (of the
    loaders' ``x``: float32 images here; token ids in :class:`growth.data.translation.TranslationSplits`),
    ``classes`` (names), ``device``, ``mean`` / ``std`` (per-channel normalisation), ``num_train`` /
    ``num_val`` / ``num_test``, ``info`` (a JSON-able dict of how the splits were made, for a run's History).
    """

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    input_dtype: torch.dtype = torch.float32
    classes: list[str]
    device: torch.device
    mean: tuple[float, ...]
    std: tuple[float, ...]
    info: dict[str, Any]
    indices: dict[str, Any]

    @property
    def num_train(self) -> int:
        raise NotImplementedError

    @property
    def num_val(self) -> int:
        raise NotImplementedError

    @property
    def num_test(self) -> int:
        raise NotImplementedError

    @property
    def has_val(self) -> bool:
        return self.num_val > 0

    def train_loader(self, batch_size: int, *, seed: int, augment: bool = True):
        """Shuffled (a new order each epoch, from a generator seeded with ``seed``), augmented."""
        raise NotImplementedError

    def eval_loader(self, split: str, batch_size: int):
        """``split`` in ``("train", "val", "test")``: fixed order, no augmentation."""
        raise NotImplementedError

    def _check_split(self, split: str) -> None:
        if split not in EVAL_SPLITS:
            raise ValueError(f"split must be one of {EVAL_SPLITS}, got {split!r}")
        if split == "val" and not self.has_val:
            raise ValueError(
                f"{self.name}: no validation split (val_fraction={self.info.get('val_fraction', 0.0)!r}); "
                f"load it with val_fraction > 0, e.g. load({self.name!r}, val_fraction=0.01)"
            )

    def normalize(self, x: Tensor) -> Tensor:
        """Images in [0, 1] (float, ``(N, C, H, W)``) -> the normalised inputs the loaders yield."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def denormalize(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`normalize`: loader inputs -> images in the dataset's raw scale."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return x * std + mean

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, num_classes={self.num_classes}, "
            f"input_shape={self.input_shape}, num_train={self.num_train}, num_val={self.num_val}, "
            f"num_test={self.num_test}, device={self.device})"
        )


class HeldSplits(DataSplits):
    """Splits held in memory as ``(x, y)`` tensors, ``_data[split]``: their sizes, ``tensors(split)`` and
    the fixed-order evaluation loaders (images: :class:`TensorSplits`; token ids:
    :class:`growth.data.translation.TranslationSplits`)."""

    _data: dict[str, tuple[Tensor, Tensor]]

    @property
    def num_train(self) -> int:
        return int(self._data["train"][1].shape[0])

    @property
    def num_val(self) -> int:
        return int(self._data["val"][1].shape[0])

    @property
    def num_test(self) -> int:
        return int(self._data["test"][1].shape[0])

    def tensors(self, split: str) -> tuple[Tensor, Tensor]:
        self._check_split(split)
        return self._data[split]

    def eval_loader(self, split: str, batch_size: int) -> TensorLoader:
        x, y = self.tensors(split)
        return TensorLoader(x, y, batch_size, shuffle=False, augment=False)


class TensorSplits(HeldSplits):
    """Splits held in memory on ``device`` as normalised float32 tensors.

    ``tensors(split)`` gives the stored ``(x, y)`` of a split (normalised, unaugmented).
    """

    def __init__(
        self,
        name: str,
        *,
        train: tuple[Tensor, Tensor],
        val: tuple[Tensor, Tensor],
        test: tuple[Tensor, Tensor],
        num_classes: int,
        classes: list[str],
        mean: tuple[float, ...],
        std: tuple[float, ...],
        flip: bool,
        pad: int = 4,
        info: dict[str, Any] | None = None,
        indices: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.indices = dict(indices or {})
        self.num_classes = int(num_classes)
        self.classes = list(classes)
        self._data = {"train": train, "val": val, "test": test}
        self.input_shape = tuple(int(s) for s in train[0].shape[1:])
        self.device = train[0].device
        self.mean, self.std = tuple(mean), tuple(std)
        self.flip, self.pad = flip, pad
        self.info = dict(info or {})


    def train_loader(self, batch_size: int, *, seed: int, augment: bool = True) -> TensorLoader:
        x, y = self._data["train"]
        return TensorLoader(
            x, y, batch_size, shuffle=True, seed=seed, augment=augment, pad=self.pad, flip=self.flip
        )
