"""Datasets for growth experiments: one entry point, :func:`load`, returning :class:`DataSplits`.

Example::

    from growth.data import load, list_datasets
    splits = load("synthetic", num_train=512, num_test=256)     # offline, generated
    splits = load("synthetic", preset="overfit")                # SYNTHETIC_PRESETS
    splits = load("digits", val_fraction=0.1, seed=0)           # real, ships with scikit-learn
    splits = load("cifar10", root="data", device="cuda")        # torchvision layout, never downloaded
    for x, y in splits.train_loader(128, seed=0):               # x (N, 3, 32, 32) float32, y int64, on device
        ...
    for x, y in splits.eval_loader("test", 512):                # fixed order, no augmentation
        ...
    pairs = load("translation-synthetic", num_train=2000)       # x (N, 2, L) int64 token ids, y (N, L)

Datasets (``list_datasets()``): ``synthetic`` (see :mod:`growth.data.synthetic`, presets in
:data:`SYNTHETIC_PRESETS`), ``digits`` (:mod:`growth.data.digits`), and the on-disk
``cifar10``, ``cifar100``, ``svhn``, ``mnist``, ``fashionmnist``, ``imagenet``
(:mod:`growth.data.torchvision_sets`); translation pairs as token ids (``dataset_kind(name) ==
"tokens"``): ``translation-synthetic`` and the on-disk ``iwslt14`` (:mod:`growth.data.translation`).
Order of operations (subsample, then validation split, then normalisation with training-split
statistics): :mod:`growth.data.registry`.
"""

from .core import DataSplits, RawData, TensorSplits
from .loaders import DeviceLoader, TensorLoader, random_shift_and_flip, shift_and_flip
from .registry import (
    DatasetNotFoundError,
    DatasetSpec,
    dataset_kind,
    dataset_options,
    default_root,
    list_datasets,
    load,
    register_dataset,
    resolve_device,
)
from .splits import subsample_indices, validation_split
from .synthetic import SYNTHETIC_DEFAULTS, SYNTHETIC_PRESETS, make_synthetic
from .digits import make_digits
from .budget import capped
from .torchvision_sets import FolderSplits, IMAGENET_MEAN, IMAGENET_STD
from .translation import SubwordTokenizer, TranslationSplits

__all__ = [
    "load",
    "list_datasets",
    "dataset_options",
    "dataset_kind",
    "default_root",
    "resolve_device",
    "DataSplits",
    "TensorSplits",
    "FolderSplits",
    "TranslationSplits",
    "SubwordTokenizer",
    "RawData",
    "TensorLoader",
    "DeviceLoader",
    "DatasetNotFoundError",
    "DatasetSpec",
    "register_dataset",
    "shift_and_flip",
    "random_shift_and_flip",
    "subsample_indices",
    "validation_split",
    "SYNTHETIC_DEFAULTS",
    "SYNTHETIC_PRESETS",
    "make_synthetic",
    "make_digits",
    "capped",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]
