"""Real datasets on disk, in torchvision's layouts: cifar10, cifar100, svhn, mnist, fashionmnist, imagenet.

Nothing is ever downloaded (this package must run offline). Files are looked for under ``root``
(``load(..., root=...)``, else ``$GROWTH_DATA``, else ``./data``), in the layout that
``torchvision.datasets.X(root, download=True)`` leaves there, so a folder prepared on a machine with
internet can be copied as is. When the files are missing, ``load`` raises a
:class:`~growth.data.registry.DatasetNotFoundError` (a ``FileNotFoundError`` and a ``ValueError``)
naming the exact paths it looked for and how to get them, before reading anything.

How each is read:

* ``mnist``, ``fashionmnist``: by ``torchvision.datasets.MNIST`` / ``FashionMNIST`` with
  ``download=False`` (it reads the raw IDX files under ``root/MNIST/raw`` or
  ``root/FashionMNIST/raw``, or the legacy ``processed/*.pt``). The 28 x 28 images are zero-padded to
  32 x 32 and replicated to 3 channels, so every CIFAR-stem model accepts them. No flip.
* ``cifar10``, ``cifar100``, ``svhn``: torchvision's dataset classes refuse any file whose md5 is
  not the official one (``_check_integrity`` in ``__init__`` and again in ``_load_meta``), so they
  cannot be exercised on anything but the real 160 MB archives. We therefore read the very same
  files with our own few-line readers that follow torchvision's code (pickled batches, ``latin1``;
  ``scipy.io.loadmat`` of ``X``, ``y`` with label 10 -> 0), and do the md5 check separately, against
  the md5s torchvision itself records (``CIFAR10.train_list``, ``.test_list``, ``.meta``,
  ``SVHN.split_list``), when ``verify=True`` (the default). ``verify=False`` skips that check (the
  tests use it on their small files written in the real format; so can a user with a converted
  copy). The reader is the same either way. ``svhn`` does not flip.
* ``imagenet``: an ``ImageFolder`` layout, ``root/train/<class>/*`` and ``root/val/<class>/*``
  (``val`` sorted into class folders, e.g. by the usual ``valprep.sh``); ``root`` defaults to
  ``<default root>/imagenet``. Images are decoded by a ``DataLoader`` with ``workers`` processes and
  transformed by torchvision (train: ``RandomResizedCrop(crop_size)`` + flip; eval:
  ``Resize(resize_size)`` + ``CenterCrop(crop_size)``), normalised with the usual ImageNet mean/std.
  ``val/`` is the *test* split here (it is what the papers report); ``val_fraction`` holds out part
  of ``train/`` as validation, with eval transforms.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .core import DataSplits, RawData
from .loaders import DeviceLoader
from .registry import (
    DatasetNotFoundError,
    DatasetSpec,
    check_bool,
    check_int,
    missing_data_error,
    register_dataset,
)
from .splits import subsample_indices, validation_split

__all__ = ["FolderSplits", "IMAGENET_MEAN", "IMAGENET_STD", "read_cifar", "read_svhn"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

def _torchvision_hint(cls_name: str, root: Path, extra: str = "") -> str:
    return (
        f"On a machine with internet run: python -c \"import torchvision; "
        f"torchvision.datasets.{cls_name}('{root}', {extra}download=True)\" and copy the result to {root}"
    )


def _verify_md5(dataset: str, files: list[tuple[Path, str]]) -> None:
    from torchvision.datasets.utils import check_integrity, calculate_md5

    for path, md5 in files:
        if not check_integrity(str(path), md5):
            raise ValueError(
                f"{dataset}: {path} has md5 {calculate_md5(str(path))}, torchvision expects {md5}: the file is "
                "corrupted or not the original (re-download it), or pass verify=False to read it anyway"
            )


# --- CIFAR --------------------------------------------------------------------------------------------


def _cifar_files(tv_cls) -> tuple[list[tuple[str, str]], list[tuple[str, str]], tuple[str, str], str]:
    """(train (name, md5)s, test (name, md5)s, (meta name, md5), meta key) from torchvision's class."""
    meta = tv_cls.meta
    return (
        [tuple(e) for e in tv_cls.train_list],
        [tuple(e) for e in tv_cls.test_list],
        (meta["filename"], meta["md5"]),
        meta["key"],
    )


class _Unreadable:
    """Turns any error while reading one file into a ``ValueError`` naming the file and its format."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, kind, err, tb) -> bool:
        if err is not None and not isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise ValueError(f"{self.path} cannot be read as {self.what} ({type(err).__name__}: {err}): the file is "
                             "truncated or not the original; re-download it (verify=True checks its MD5)") from None
        return False


def _load_pickle(path: Path, what: str) -> dict:
    with _Unreadable(path, what), open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
        if not isinstance(entry, dict):
            raise TypeError(f"a pickled {type(entry).__name__}, not a dict")
        return entry


def read_cifar(folder: Path, files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pickled CIFAR batches (torchvision's reader): uint8 ``(N, 3, 32, 32)`` and int64 labels.
    A file that cannot be read raises ``ValueError`` naming it."""
    data, labels = [], []
    for name in files:
        entry = _load_pickle(folder / name, "a pickled CIFAR batch")
        with _Unreadable(folder / name, "a pickled CIFAR batch"):
            data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3 * 32 * 32))
            labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
    x = np.vstack(data).reshape(-1, 3, 32, 32)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.tensor(labels, dtype=torch.int64)


def _cifar_spec(name: str, tv_name: str, num_classes: int) -> DatasetSpec:
    def tv_cls():
        import torchvision.datasets as tvd

        return getattr(tvd, tv_name)

    def check(root: Path, opts: dict) -> None:
        check_bool("verify", opts["verify"])
        cls = tv_cls()
        train, test, meta, _ = _cifar_files(cls)
        folder = root / cls.base_folder
        paths = [folder / n for n, _ in train + test + [meta]]
        if not all(p.is_file() for p in paths):
            raise missing_data_error(
                name,
                paths,
                _torchvision_hint(tv_name, root) + f", or download {cls.url} and extract it into {root}.",
            )
        if opts["verify"]:
            _verify_md5(name, [(folder / n, md5) for n, md5 in train + test + [meta]])

    def build(root: Path, opts: dict) -> RawData:
        cls = tv_cls()
        train, test, (meta_name, _), meta_key = _cifar_files(cls)
        folder = root / cls.base_folder
        train_x, train_y = read_cifar(folder, [n for n, _ in train])
        test_x, test_y = read_cifar(folder, [n for n, _ in test])
        meta = _load_pickle(folder / meta_name, "CIFAR's pickled meta file")
        with _Unreadable(folder / meta_name, "CIFAR's pickled meta file"):
            classes = list(meta[meta_key])
        for split, y in (("train", train_y), ("test", test_y)):
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
                raise ValueError(f"{name}: {split} labels outside [0, {num_classes}) in {folder}")
        return RawData(
            train_x, train_y, test_x, test_y,
            num_classes=num_classes, classes=classes, flip=True,
            info={"files": str(folder), "verified_md5": opts["verify"]},
        )

    return DatasetSpec(
        name=name,
        description=f"{tv_name} from root/{'cifar-10-batches-py' if num_classes == 10 else 'cifar-100-python'} "
        f"(torchvision layout), {num_classes} classes, 3x32x32",
        defaults={"verify": True},
        check=check,
        build=build,
        uses_root=True,
    )


register_dataset(_cifar_spec("cifar10", "CIFAR10", 10))
register_dataset(_cifar_spec("cifar100", "CIFAR100", 100))


# --- SVHN -----------------------------------------------------------------------------------------


def read_svhn(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """An SVHN ``*_32x32.mat`` (torchvision's reader): uint8 ``(N, 3, 32, 32)``, labels with 10 -> 0."""
    import scipy.io as sio

    with _Unreadable(path, "an SVHN .mat file"):
        mat = sio.loadmat(str(path))
        mat["X"], mat["y"]
    x = np.transpose(mat["X"], (3, 2, 0, 1))  # (H, W, C, N) -> (N, C, H, W), as torchvision does
    y = mat["y"].astype(np.int64).squeeze(-1) if mat["y"].ndim > 1 else mat["y"].astype(np.int64)
    y = np.where(y == 10, 0, y)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)), torch.from_numpy(y.reshape(-1))


def _svhn_check(root: Path, opts: dict) -> None:
    import torchvision.datasets as tvd

    check_bool("verify", opts["verify"])
    check_bool("extra", opts["extra"])
    splits = ["train", "test"] + (["extra"] if opts["extra"] else [])
    table = tvd.SVHN.split_list
    paths = [root / table[s][1] for s in splits]
    if not all(p.is_file() for p in paths):
        how = "; ".join(_torchvision_hint("SVHN", root, f"split='{s}', ") for s in splits)
        urls = ", ".join(table[s][0] for s in splits)
        raise missing_data_error("svhn", paths, f"{how}. Or download {urls} into {root}.")
    if opts["verify"]:
        _verify_md5("svhn", [(root / table[s][1], table[s][2]) for s in splits])


def _svhn_build(root: Path, opts: dict) -> RawData:
    import torchvision.datasets as tvd

    table = tvd.SVHN.split_list
    train_x, train_y = read_svhn(root / table["train"][1])
    if opts["extra"]:
        extra_x, extra_y = read_svhn(root / table["extra"][1])
        train_x, train_y = torch.cat([train_x, extra_x]), torch.cat([train_y, extra_y])
    test_x, test_y = read_svhn(root / table["test"][1])
    return RawData(
        train_x, train_y, test_x, test_y,
        num_classes=10, classes=[str(d) for d in range(10)], flip=False,
        info={"files": str(root), "verified_md5": opts["verify"], "extra": opts["extra"]},
    )


register_dataset(
    DatasetSpec(
        name="svhn",
        description="SVHN cropped digits from root/{train,test}_32x32.mat (torchvision layout), 10 classes, 3x32x32",
        defaults={"verify": True, "extra": False},
        check=_svhn_check,
        build=_svhn_build,
        uses_root=True,
    )
)


# --- MNIST, FashionMNIST -----------------------------------------------------------------------------


def _mnist_spec(name: str, tv_name: str) -> DatasetSpec:
    def tv_cls():
        import torchvision.datasets as tvd

        return getattr(tvd, tv_name)

    def raw_files(root: Path) -> list[Path]:
        cls = tv_cls()
        raw = root / tv_name / "raw"  # torchvision: root / <class name> / "raw"
        return [raw / os.path.splitext(os.path.basename(url))[0] for url, _ in cls.resources]

    def check(root: Path, opts: dict) -> None:
        cls = tv_cls()
        processed = root / tv_name / "processed"
        legacy = [processed / cls.training_file, processed / cls.test_file]
        raws = raw_files(root)
        if not (all(p.is_file() for p in raws) or all(p.is_file() for p in legacy)):
            raise missing_data_error(
                name,
                raws,
                _torchvision_hint(tv_name, root)
                + f" (it leaves uncompressed IDX files in {raws[0].parent}); or put the four "
                "*-ubyte files there by hand (gunzipped).",
            )

    def build(root: Path, opts: dict) -> RawData:
        cls = tv_cls()
        out = []
        for train in (True, False):
            with _Unreadable(root / tv_name, f"{tv_name}'s IDX files"):
                ds = cls(str(root), train=train, download=False)
            x = ds.data
            if x.ndim != 3 or x.dtype != torch.uint8:
                raise ValueError(f"{name}: expected uint8 (N, 28, 28) images in {root / tv_name}, got {x.dtype} {tuple(x.shape)}")
            h, w = x.shape[1:]
            x = F.pad(x.unsqueeze(1), ((32 - w) // 2, 32 - w - (32 - w) // 2, (32 - h) // 2, 32 - h - (32 - h) // 2))
            out += [x.expand(-1, 3, -1, -1).contiguous(), ds.targets.to(torch.int64)]
        return RawData(
            *out, num_classes=len(cls.classes), classes=list(cls.classes), flip=False,
            info={"files": str(root / tv_name)},
        )

    return DatasetSpec(
        name=name,
        description=f"{tv_name} from root/{tv_name}/raw (torchvision layout), 10 classes, 28x28 padded to 3x32x32",
        defaults={},
        check=check,
        build=build,
        uses_root=True,
    )


register_dataset(_mnist_spec("mnist", "MNIST"))
register_dataset(_mnist_spec("fashionmnist", "FashionMNIST"))


# --- ImageNet (ImageFolder, streamed from disk) ----------------------------------------------------------


class _ImageList(torch.utils.data.Dataset):
    """``(path, target)`` pairs decoded with torchvision's default loader (PIL, RGB) and transformed."""

    def __init__(self, samples: list[tuple[str, int]], transform) -> None:
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from torchvision.datasets.folder import default_loader

        path, target = self.samples[i]
        return self.transform(default_loader(path)), target


class FolderSplits(DataSplits):
    """Splits whose images stay on disk; loaders are ``DataLoader``\\ s with workers (see module doc).

    Shuffling draws from a ``torch.Generator`` seeded with ``seed`` (a new order each epoch). With
    ``workers > 0`` the augmentation is seeded too (DataLoader seeds each worker from that
    generator); with ``workers == 0`` it draws from the global torch RNG (``torch.manual_seed``).
    """

    def __init__(
        self,
        name: str,
        *,
        train: list[tuple[str, int]],
        val: list[tuple[str, int]],
        test: list[tuple[str, int]],
        classes: list[str],
        crop_size: int,
        resize_size: int,
        workers: int,
        device: torch.device,
        info: dict[str, Any],
        indices: dict[str, Any] | None = None,
    ) -> None:
        from torchvision import transforms as T

        self.name = name
        self.indices = dict(indices or {})
        self.classes = list(classes)
        self.num_classes = len(classes)
        self.input_shape = (3, crop_size, crop_size)
        self.device = device
        self.mean, self.std = IMAGENET_MEAN, IMAGENET_STD
        self.workers = workers
        self._samples = {"train": train, "val": val, "test": test}
        normalize = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.train_transform = T.Compose(
            [T.RandomResizedCrop(crop_size), T.RandomHorizontalFlip(), T.ToTensor(), normalize]
        )
        self.eval_transform = T.Compose([T.Resize(resize_size), T.CenterCrop(crop_size), T.ToTensor(), normalize])
        self.info = dict(info)

    @property
    def num_train(self) -> int:
        return len(self._samples["train"])

    @property
    def num_val(self) -> int:
        return len(self._samples["val"])

    @property
    def num_test(self) -> int:
        return len(self._samples["test"])

    def samples(self, split: str) -> list[tuple[str, int]]:
        self._check_split(split)
        return list(self._samples[split])

    def _loader(self, samples, transform, batch_size: int, generator) -> DeviceLoader:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        loader = torch.utils.data.DataLoader(
            _ImageList(samples, transform),
            batch_size=batch_size,
            shuffle=generator is not None,
            generator=generator,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            drop_last=False,
            persistent_workers=False,
        )
        return DeviceLoader(loader, self.device)

    def train_loader(self, batch_size: int, *, seed: int, augment: bool = True) -> DeviceLoader:
        gen = torch.Generator().manual_seed(int(seed))
        transform = self.train_transform if augment else self.eval_transform
        return self._loader(self._samples["train"], transform, batch_size, gen)

    def eval_loader(self, split: str, batch_size: int) -> DeviceLoader:
        self._check_split(split)
        return self._loader(self._samples[split], self.eval_transform, batch_size, None)


def _imagenet_dirs(root: Path) -> tuple[Path, Path]:
    return root / "train", root / "val"


def _class_dirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir())


def _imagenet_check(root: Path, opts: dict) -> None:
    check_int("crop_size", opts["crop_size"], minimum=1)
    check_int("resize_size", opts["resize_size"], minimum=opts["crop_size"])
    if opts["workers"] is not None:
        check_int("workers", opts["workers"], minimum=0)
    train_dir, val_dir = _imagenet_dirs(root)
    how = (
        f"Expected an ImageFolder layout: {train_dir}/<class>/<image> and {val_dir}/<class>/<image> "
        "(ILSVRC-2012 train tars extracted per class; val images sorted into class folders, e.g. with "
        "valprep.sh). Pass root=<that folder>."
    )
    if not (train_dir.is_dir() and val_dir.is_dir()):
        raise missing_data_error("imagenet", [train_dir, val_dir], how, subdir="/imagenet")
    train_classes, val_classes = _class_dirs(train_dir), _class_dirs(val_dir)
    if not train_classes:
        raise DatasetNotFoundError(f"imagenet: {train_dir} has no class folders. {how}")
    if train_classes != val_classes:
        only_train = sorted(set(train_classes) - set(val_classes))[:5]
        only_val = sorted(set(val_classes) - set(train_classes))[:5]
        raise ValueError(
            f"imagenet: the class folders of {train_dir} and {val_dir} differ "
            f"(only in train: {only_train}, only in val: {only_val}). {how}"
        )


def _imagenet_build(
    root: Path,
    opts: dict,
    *,
    val_fraction: float,
    subsample: float,
    seed: int,
    device: torch.device,
    info: dict[str, Any],
) -> FolderSplits:
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    train_dir, val_dir = _imagenet_dirs(root)
    train_set = ImageFolder(str(train_dir))
    test_samples = make_dataset(str(val_dir), train_set.class_to_idx, extensions=IMG_EXTENSIONS)
    samples = train_set.samples
    labels = np.asarray([t for _, t in samples], dtype=np.int64)
    kept = subsample_indices(labels, subsample, seed)
    train_rel, val_rel = validation_split(labels[kept], val_fraction, seed)
    train = [samples[i] for i in kept[train_rel]]
    val = [samples[i] for i in kept[val_rel]]
    workers = opts["workers"] if opts["workers"] is not None else min(8, os.cpu_count() or 1)
    info = dict(info)
    info.update({"files": str(root), "num_train": len(train), "num_val": len(val), "num_test": len(test_samples),
                 "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "workers": workers})
    return FolderSplits(
        "imagenet",
        train=train,
        val=val,
        test=test_samples,
        classes=train_set.classes,
        crop_size=opts["crop_size"],
        resize_size=opts["resize_size"],
        workers=workers,
        device=device,
        info=info,
        indices={
            "train": kept[train_rel],
            "val": kept[val_rel],
            "test": np.arange(len(test_samples), dtype=np.int64),
        },
    )


register_dataset(
    DatasetSpec(
        name="imagenet",
        description="ImageNet as an ImageFolder (root/train, root/val), streamed from disk, 224 crops",
        defaults={"crop_size": 224, "resize_size": 256, "workers": None},
        check=_imagenet_check,
        build=_imagenet_build,
        kind="folder",
        uses_root=True,
        default_subdir="imagenet",
    )
)
