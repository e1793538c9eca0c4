"""``digits``: scikit-learn's real handwritten digits, brought to 3 x 32 x 32.

1797 grey 8 x 8 images (values 0..16, from the UCI optical digits set; shipped inside
scikit-learn, no download), 10 classes. Each image is scaled to [0, 1], upsampled bilinearly to
32 x 32 and replicated to 3 channels, so every CIFAR-stem model accepts it. The train / test split
is fixed (a stratified quarter held out as test, drawn with seed 0 whatever the run's seed), so
every run and every notebook tests on the same 449 images and trains on (a subset of) the same
1348. No horizontal flip in augmentation: a mirrored digit is not the same digit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .core import RawData
from .registry import DatasetSpec, register_dataset
from .splits import stratified_split

__all__ = ["DIGITS_TEST_FRACTION", "DIGITS_SPLIT_SEED", "make_digits"]

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0
IMAGE_SIZE = 32


def make_digits() -> RawData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)  # (1797, 1, 8, 8)
    images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    images = images.clamp_(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    test_idx, train_idx = stratified_split(
        labels, DIGITS_TEST_FRACTION, np.random.default_rng(DIGITS_SPLIT_SEED)
    )
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    return RawData(
        images[train_idx],
        labels[train_idx],
        images[test_idx],
        labels[test_idx],
        num_classes=10,
        classes=[str(d) for d in range(10)],
        flip=False,
        info={"source": "sklearn.datasets.load_digits", "test_fraction": DIGITS_TEST_FRACTION},
    )


def _check(root: Path | None, opts: dict) -> None:
    return None  # no options, no files


def _build(root: Path | None, opts: dict) -> RawData:
    return make_digits()


register_dataset(
    DatasetSpec(
        name="digits",
        description="scikit-learn handwritten digits (real, 1797 images, 8x8 upsampled to 3x32x32), 10 classes",
        defaults={},
        check=_check,
        build=_build,
    )
)
