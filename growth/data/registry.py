"""The dataset registry and :func:`load`, the one entry point of ``growth.data``.

A dataset is registered with :func:`register_dataset`: its options and their defaults, a
``check`` that validates option values and looks for its files (raising before any work), and a
``build`` that reads or generates the data. ``list_datasets()`` names them all.

What ``load`` does, in order (each step documented where it lives):

1. validates every argument and option, and that the dataset's files are where they should be;
2. builds the full train and test sets (reading files or generating);
3. ``subsample``: keeps a seeded, class-stratified fraction of the training set
   (:func:`growth.data.splits.subsample_indices`);
4. ``val_fraction``: holds out a seeded, class-stratified fraction of what remains as validation
   (:func:`growth.data.splits.validation_split`);
5. moves the splits to ``device``, scales uint8 images to [0, 1], and normalises with the
   per-channel mean and std of the (final) training split;
6. returns a :class:`~growth.data.core.DataSplits`.

Steps 2 to 5 are those of image datasets held in memory (``kind="tensor"``). A ``"folder"`` dataset
(imagenet, streamed from disk) or a ``"tokens"`` dataset (token sequences: translation pairs,
:mod:`growth.data.translation`) makes its splits itself from the same arguments, after step 1.
``dataset_kind(name)`` tells which kind a dataset is.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..machine import exact_sqrt
from .core import DataSplits, RawData, TensorSplits
from .splits import subsample_indices, validation_split

__all__ = [
    "DatasetSpec",
    "DatasetNotFoundError",
    "register_dataset",
    "list_datasets",
    "dataset_options",
    "dataset_kind",
    "default_root",
    "load",
    "resolve_device",
]

DATA_ENV = "GROWTH_DATA"
DATASET_KINDS = ("tensor", "folder", "tokens")


class DatasetNotFoundError(FileNotFoundError, ValueError):
    """The dataset's files are not where they were looked for (a FileNotFoundError and a ValueError)."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    defaults: Mapping[str, Any]
    check: Callable[[Path | None, dict], None]
    build: Callable[..., Any]
    # "tensor": build(root, options) -> RawData, made into normalised image splits by load;
    # "folder" (images) and "tokens" (token sequences, e.g. translation pairs): build(root, options, *,
    # val_fraction, subsample, seed, device, info) -> DataSplits, the builder making the splits itself.
    kind: str = "tensor"
    uses_root: bool = False
    default_subdir: str | None = None  # with root=None, look in default_root() / default_subdir
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"dataset {spec.name!r} is already registered")
    if spec.kind not in DATASET_KINDS:
        raise ValueError(f"kind must be one of {DATASET_KINDS}, got {spec.kind!r}")
    _REGISTRY[spec.name] = spec
    return spec


def list_datasets() -> list[str]:
    """Names accepted by :func:`load`, sorted."""
    return sorted(_REGISTRY)


def _spec(name: str) -> DatasetSpec:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown dataset name={name!r}; choose one of {list_datasets()}")
    return _REGISTRY[name]


def dataset_kind(name: str) -> str:
    """``"tensor"`` or ``"folder"`` (image classification) or ``"tokens"`` (token sequences); see the module doc."""
    return _spec(name).kind


def dataset_options(name: str) -> dict[str, Any]:
    """The options ``load(name, **options)`` accepts, with their defaults."""
    return dict(_spec(name).defaults)


def default_root() -> Path:
    """Where torchvision-backed datasets are looked for when ``root`` is None: ``$GROWTH_DATA`` or ``./data``."""
    return Path(os.environ.get(DATA_ENV) or "data")


def resolve_device(device: Any) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``, or ``"auto"`` (cuda when available)."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:N' or 'auto'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for CUDA, which this machine does not have; use 'cpu' or 'auto'")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} asked for MPS, which this machine does not have; use 'cpu' or 'auto'")
    return dev


def missing_data_error(dataset: str, looked_for: list[Path], how: str, subdir: str = "") -> DatasetNotFoundError:
    """The error for files not found: every path looked for, which are missing, where ``root`` comes from, and
    ``how`` to get them (``subdir``: the dataset's ``default_subdir``, as ``/name``)."""
    missing = [p for p in looked_for if not p.exists()]
    if len(missing) == len(looked_for):
        absent = "none of them exists"
        parents = sorted({str(p.parent) for p in looked_for})
        if len(parents) == 1 and not Path(parents[0]).exists():
            absent += f" (there is no folder {parents[0]})"
    else:
        absent = "missing: " + ", ".join(str(p) for p in missing)
    return DatasetNotFoundError(
        f"{dataset}: data not found. Looked for: {', '.join(str(p) for p in looked_for)}; {absent}. "
        f"(root is load(..., root=...), else ${DATA_ENV}{subdir}, else ./data{subdir}.) "
        f"This package never downloads. {how}"
    )


# --- argument checks shared by the dataset modules ------------------------------------------------


def check_int(param: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{param} must be an int, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{param} must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{param} must be <= {maximum}, got {value!r}")
    return value


def check_float(
    param: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{param} must be a finite number, got {value!r}")
    value = float(value)
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not (lo_ok and hi_ok):
        interval = (
            ("(" if low_open else "[")
            + ("-inf" if low is None else f"{low:g}")
            + ", "
            + ("inf" if high is None else f"{high:g}")
            + (")" if high_open else "]")
        )
        raise ValueError(f"{param} must be in {interval}, got {value!r}")
    return value


def check_bool(param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{param} must be True or False, got {value!r}")
    return value


# --- load --------------------------------------------------------------------------------------------


def _resolve_options(spec: DatasetSpec, options: dict[str, Any]) -> dict[str, Any]:
    options = dict(options)
    merged = dict(spec.defaults)
    if "preset" in options:
        preset = options.pop("preset")
        if not spec.presets:
            raise ValueError(f"{spec.name}: option preset={preset!r} is not accepted; {spec.name} has no presets")
        if preset is not None:
            if not isinstance(preset, str) or preset not in spec.presets:
                raise ValueError(f"{spec.name}: unknown preset={preset!r}; choose one of {sorted(spec.presets)}")
            merged.update(spec.presets[preset])
            merged["preset"] = preset
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        allowed = sorted(spec.defaults) + (["preset"] if spec.presets else [])
        raise ValueError(
            f"{spec.name}: unknown option(s) {', '.join(f'{k}={options[k]!r}' for k in unknown)}; "
            f"allowed options: {allowed}"
        )
    merged.update(options)  # explicit options override the preset's
    return merged


def load(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    val_fraction: float = 0.0,
    subsample: float = 1.0,
    seed: int = 0,
    device: Any = "cpu",
    **options: Any,
) -> DataSplits:
    """Load dataset ``name`` (one of :func:`list_datasets`) as train / val / test splits.

    ``root``: folder holding on-disk datasets (default ``$GROWTH_DATA`` or ``./data``; ignored by
    ``synthetic``, ``digits`` and ``translation-synthetic``). ``subsample`` in (0, 1]: a seeded,
    class-stratified fraction of the training set to keep (applied first; for token datasets, which
    have no classes, a plain seeded fraction of the training pairs). ``val_fraction`` in [0, 1): a
    seeded, class-stratified fraction of the (subsampled) training set held out as validation; 0 = none.
    ``seed``: seeds both draws (same seed, same split). ``device``: where the in-memory splits live
    and where batches are delivered. ``options``: per dataset, see :func:`dataset_options`.
    """
    spec = _spec(name)
    val_fraction = check_float("val_fraction", val_fraction, low=0.0, high=1.0, high_open=True)
    subsample = check_float("subsample", subsample, low=0.0, high=1.0, low_open=True)
    seed = check_int("seed", seed, minimum=0)
    dev = resolve_device(device)
    opts = _resolve_options(spec, options)
    if spec.uses_root:
        if root is not None:
            root_path = Path(root)
        else:
            root_path = default_root() / spec.default_subdir if spec.default_subdir else default_root()
        root_path = root_path.expanduser().absolute()
    else:
        root_path = None
    spec.check(root_path, opts)  # validates option values and looks for the files: before any work

    info = {
        "dataset": name,
        "root": None if root_path is None else str(root_path),
        "options": {k: v for k, v in opts.items()},
        "val_fraction": val_fraction,
        "subsample": subsample,
        "seed": seed,
        "device": str(dev),
    }
    if spec.kind in ("folder", "tokens"):
        return spec.build(
            root_path, opts, val_fraction=val_fraction, subsample=subsample, seed=seed, device=dev, info=info
        )

    raw: RawData = spec.build(root_path, opts)
    return _tensor_splits(name, raw, val_fraction=val_fraction, subsample=subsample, seed=seed, device=dev, info=info)


def _to_float(x: torch.Tensor) -> torch.Tensor:
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.to(torch.float32, copy=True)  # a copy: normalisation below works in place


def _tensor_splits(
    name: str,
    raw: RawData,
    *,
    val_fraction: float,
    subsample: float,
    seed: int,
    device: torch.device,
    info: dict[str, Any],
) -> TensorSplits:
    kept = subsample_indices(raw.train_y, subsample, seed)
    train_rel, val_rel = validation_split(raw.train_y[kept], val_fraction, seed)
    indices = {
        "train": kept[train_rel],
        "val": kept[val_rel],
        "test": np.arange(raw.test_y.shape[0], dtype=np.int64),
    }
    train_idx = torch.from_numpy(indices["train"])
    val_idx = torch.from_numpy(indices["val"])

    def take(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if idx is not None:
            x, y = x[idx], y[idx]
        # Move the compact (often uint8) tensor first, convert on the device.
        return _to_float(x.to(device)).contiguous(), y.to(device=device, dtype=torch.int64)

    full = len(train_idx) == raw.train_y.shape[0]
    train = take(raw.train_x, raw.train_y, None if full else train_idx)
    val = take(raw.train_x, raw.train_y, val_idx)
    test = take(raw.test_x, raw.test_y, None)

    var, mean = torch.var_mean(train[0], dim=(0, 2, 3), correction=0)
    std = exact_sqrt(var)
    std = torch.where(std > 0, std, torch.ones_like(std))
    m4, s4 = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
    for x, _ in (train, val, test):
        x.sub_(m4).div_(s4)

    mean_t = tuple(float(v) for v in mean.cpu())
    std_t = tuple(float(v) for v in std.cpu())
    info = dict(info)
    info.update(raw.info)
    info.update(
        {
            "num_train": int(train[1].shape[0]),
            "num_val": int(val[1].shape[0]),
            "num_test": int(test[1].shape[0]),
            "mean": list(mean_t),
            "std": list(std_t),
            "augment_flip": raw.flip,
        }
    )
    return TensorSplits(
        name,
        train=train,
        val=val,
        test=test,
        num_classes=raw.num_classes,
        classes=raw.classes,
        mean=mean_t,
        std=std_t,
        flip=raw.flip,
        info=info,
        indices=indices,
    )
