"""growth.data: load, splits, loaders, synthetic/digits, and the on-disk formats of the real datasets.

The real datasets (CIFAR-10/100, SVHN, MNIST, FashionMNIST, ImageNet) cannot be downloaded here;
each test writes a tiny dataset in that dataset's own on-disk format under tmp_path and reads it
back through ``load``, checking shapes, labels and pixel values against what it wrote.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from growth.data import (
    SYNTHETIC_PRESETS,
    DataSplits,
    DatasetNotFoundError,
    TensorLoader,
    dataset_kind,
    dataset_options,
    list_datasets,
    load,
    shift_and_flip,
    subsample_indices,
    validation_split,
)

ON_DISK = ["cifar10", "cifar100", "svhn", "mnist", "fashionmnist", "imagenet"]
TOKENS = ["iwslt14", "translation-synthetic"]  # translation pairs as token ids, not images


# --------------------------------------------------------------------------------------------------
# Writers of the real on-disk formats
# --------------------------------------------------------------------------------------------------


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def _pickle(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path, per_batch: int = 4, n_test: int = 6, seed: int = 0):
    """cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}: dicts of data (N, 3072) and labels."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_x, train_y = [], []
    for b in range(1, 6):
        x = _images(rng, per_batch)
        y = [int(v) for v in rng.integers(0, 10, per_batch)]
        _pickle(folder / f"data_batch_{b}", {"batch_label": f"training batch {b} of 5", "data": x.reshape(per_batch, -1), "labels": y})
        train_x.append(x)
        train_y += y
    test_x = _images(rng, n_test)
    test_y = [int(v) for v in rng.integers(0, 10, n_test)]
    _pickle(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "data": test_x.reshape(n_test, -1), "labels": test_y})
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _pickle(folder / "batches.meta", {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072})
    return np.concatenate(train_x), np.array(train_y), test_x, np.array(test_y)


def write_cifar100(root: Path, n_train: int = 12, n_test: int = 5, seed: int = 1):
    """cifar-100-python/{train, test, meta}: data, fine_labels, coarse_labels; meta fine_label_names."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        x = _images(rng, n)
        fine = [int(v) for v in rng.integers(0, 100, n)]
        _pickle(folder / split, {"data": x.reshape(n, -1), "fine_labels": fine, "coarse_labels": [f // 5 for f in fine]})
        out += [x, np.array(fine)]
    _pickle(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": [f"s{i}" for i in range(20)]})
    return tuple(out)


def write_svhn(root: Path, n_train: int = 7, n_test: int = 4, seed: int = 2):
    """{train,test}_32x32.mat: X (32, 32, 3, N) uint8, y (N, 1) with digit 0 stored as 10."""
    import scipy.io as sio

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        x = _images(rng, n)  # (N, C, H, W)
        digits = np.arange(n) % 10
        stored = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(n, 1)
        sio.savemat(root / f"{split}_32x32.mat", {"X": np.transpose(x, (2, 3, 1, 0)), "y": stored})
        out += [x, digits]
    return tuple(out)


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX (big-endian) as in the MNIST distribution: magic = 0x0800 + ndim (uint8 data), then dims."""
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 + array.ndim))
        for d in array.shape:
            f.write(struct.pack(">I", d))
        f.write(array.astype(np.uint8).tobytes())


def write_mnist(root: Path, cls_name: str = "MNIST", n_train: int = 9, n_test: int = 5, seed: int = 3):
    """<root>/<MNIST|FashionMNIST>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (gunzipped)."""
    rng = np.random.default_rng(seed)
    raw = root / cls_name / "raw"
    raw.mkdir(parents=True)
    out = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) * 3) % 10
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
        out += [x, y]
    return tuple(out)


IMAGENET_COLOURS = {"n01440764": (200, 10, 30), "n01443537": (5, 120, 250), "n01484850": (90, 180, 60)}


def write_imagenet(root: Path, n_train: int = 4, n_val: int = 2):
    """root/{train,val}/<wnid>/*.png: solid-colour images of varied sizes, one colour per class."""
    from PIL import Image

    for split, n in (("train", n_train), ("val", n_val)):
        for wnid, colour in IMAGENET_COLOURS.items():
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (40 + 3 * i, 36 + 2 * i), colour).save(folder / f"{wnid}_{i}.png")


def _raw_pixels(splits: DataSplits, x: torch.Tensor) -> np.ndarray:
    """Undo the normalisation and the [0, 1] scaling: back to 0..255."""
    return (splits.denormalize(x) * 255.0).cpu().numpy()


# --------------------------------------------------------------------------------------------------
# Registry, argument errors
# --------------------------------------------------------------------------------------------------


def test_list_datasets_and_options():
    names = list_datasets()
    assert set(names) == {"synthetic", "digits", *ON_DISK, *TOKENS}
    assert [n for n in names if dataset_kind(n) == "tokens"] == sorted(TOKENS)  # tested in test_translation_data
    assert dataset_options("synthetic")["num_classes"] == 10
    assert dataset_options("digits") == {}
    assert set(SYNTHETIC_PRESETS) == {"overfit", "underfit"}


def test_unknown_dataset_names_value_and_choices():
    with pytest.raises(ValueError) as err:
        load("cifar11")
    msg = str(err.value)
    assert "name" in msg and "'cifar11'" in msg and "cifar10" in msg and "synthetic" in msg


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"val_fraction": 1.0}, ["val_fraction", "1.0", "[0, 1)"]),
        ({"val_fraction": -0.1}, ["val_fraction", "-0.1"]),
        ({"subsample": 0.0}, ["subsample", "0.0", "(0, 1]"]),
        ({"subsample": 1.5}, ["subsample", "1.5"]),
        ({"seed": -1}, ["seed", "-1"]),
        ({"device": "bogus"}, ["device", "bogus"]),
        ({"num_train": -5}, ["num_train", "-5"]),
        ({"num_test": 0}, ["num_test", "0"]),
        ({"num_classes": 1}, ["num_classes", "1"]),
        ({"num_classes": 2.5}, ["num_classes", "2.5"]),
        ({"label_noise": 1.5}, ["label_noise", "1.5"]),
        ({"difficulty": -1.0}, ["difficulty", "-1.0"]),
        ({"preset": "nope"}, ["preset", "nope", "overfit", "underfit"]),
        ({"colour": "red"}, ["colour", "red", "num_train", "label_noise"]),
        ({"num_train": 5, "num_classes": 10}, ["num_train", "5", "num_classes"]),
    ],
)
def test_bad_parameters_raise_before_any_work(monkeypatch, kwargs, words):
    import growth.data.synthetic as synthetic

    def must_not_run(**_):
        raise AssertionError("generation started before the arguments were checked")

    monkeypatch.setattr(synthetic, "make_synthetic", must_not_run)
    with pytest.raises(ValueError) as err:
        load("synthetic", **kwargs)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_options_of_other_datasets_are_checked(tmp_path):
    with pytest.raises(ValueError, match="num_train"):
        load("digits", num_train=10)
    with pytest.raises(ValueError, match="preset"):
        load("digits", preset="overfit")
    # Option values are checked before the files are looked for.
    with pytest.raises(ValueError, match="verify.*'yes'"):
        load("cifar10", root=tmp_path, verify="yes")
    with pytest.raises(ValueError, match="crop_size"):
        load("imagenet", root=tmp_path, crop_size=0)


@pytest.mark.parametrize("name", ON_DISK)
def test_missing_data_names_the_path(tmp_path, name):
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as err:
        load(name, root=root)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ValueError)
    msg = str(err.value)
    assert str(root) in msg and "download" in msg
    if name != "imagenet":
        assert "download=True" in msg  # how to get it with torchvision


def test_missing_data_default_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GROWTH_DATA", str(tmp_path / "env_root"))
    with pytest.raises(FileNotFoundError) as err:
        load("cifar10")
    assert str(tmp_path / "env_root" / "cifar-10-batches-py" / "data_batch_1") in str(err.value)
    with pytest.raises(FileNotFoundError) as err:
        load("imagenet")
    assert str(tmp_path / "env_root" / "imagenet" / "train") in str(err.value)


# --------------------------------------------------------------------------------------------------
# The real on-disk formats, read back
# --------------------------------------------------------------------------------------------------


def test_cifar10_round_trip(tmp_path):
    train_x, train_y, test_x, test_y = write_cifar10(tmp_path)
    s = load("cifar10", root=tmp_path, verify=False)
    assert (s.name, s.num_classes, s.input_shape) == ("cifar10", 10, (3, 32, 32))
    assert (s.num_train, s.num_val, s.num_test) == (20, 0, 6)
    assert s.classes[0] == "airplane" and s.flip
    x, y = s.tensors("train")
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_array_equal(y.numpy(), train_y)
    np.testing.assert_allclose(_raw_pixels(s, x), train_x, atol=1e-3)
    x, y = s.tensors("test")
    np.testing.assert_array_equal(y.numpy(), test_y)
    np.testing.assert_allclose(_raw_pixels(s, x), test_x, atol=1e-3)
    # A known pixel: image 7 (data_batch_2, second image), green channel, row 3, column 5.
    assert abs(float(_raw_pixels(s, s.tensors("train")[0][7:8])[0, 1, 3, 5]) - train_x[7, 1, 3, 5]) < 1e-3
    # Normalised with the training split's per-channel statistics.
    tx = s.tensors("train")[0]
    np.testing.assert_allclose(tx.mean(dim=(0, 2, 3)).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(tx.std(dim=(0, 2, 3), unbiased=False).numpy(), 1.0, atol=1e-4)


def test_cifar10_md5_check_rejects_files_that_are_not_the_original(tmp_path):
    write_cifar10(tmp_path)
    with pytest.raises(ValueError) as err:
        load("cifar10", root=tmp_path)  # verify=True by default: torchvision's own md5 list
    msg = str(err.value)
    assert "md5" in msg and "c99cafc152244af753f735de768cd75f" in msg and "verify=False" in msg


def test_cifar100_round_trip(tmp_path):
    train_x, train_y, test_x, test_y = write_cifar100(tmp_path)
    s = load("cifar100", root=tmp_path, verify=False, val_fraction=0.25, seed=0)
    assert (s.num_classes, s.input_shape, s.num_train + s.num_val, s.num_test) == (100, (3, 32, 32), 12, 5)
    assert s.num_val == 3 and s.classes[99] == "c99"
    for split in ("train", "val"):
        x, y = s.tensors(split)
        idx = s.indices[split]
        np.testing.assert_array_equal(y.numpy(), train_y[idx])
        np.testing.assert_allclose(_raw_pixels(s, x), train_x[idx], atol=1e-3)
    x, y = s.tensors("test")
    np.testing.assert_array_equal(y.numpy(), test_y)
    np.testing.assert_allclose(_raw_pixels(s, x), test_x, atol=1e-3)


def test_svhn_round_trip(tmp_path):
    train_x, train_y, test_x, test_y = write_svhn(tmp_path)
    s = load("svhn", root=tmp_path, verify=False)
    assert (s.num_classes, s.input_shape, s.num_train, s.num_test) == (10, (3, 32, 32), 7, 4)
    assert not s.flip  # a mirrored digit is another symbol
    x, y = s.tensors("train")
    np.testing.assert_array_equal(y.numpy(), train_y)  # the stored 10 came back as 0
    assert 0 in y.tolist()
    np.testing.assert_allclose(_raw_pixels(s, x), train_x, atol=1e-3)
    x, y = s.tensors("test")
    np.testing.assert_array_equal(y.numpy(), test_y)
    np.testing.assert_allclose(_raw_pixels(s, x), test_x, atol=1e-3)
    with pytest.raises(DatasetNotFoundError, match="extra_32x32.mat"):
        load("svhn", root=tmp_path, verify=False, extra=True)


@pytest.mark.parametrize("name, cls_name", [("mnist", "MNIST"), ("fashionmnist", "FashionMNIST")])
def test_mnist_family_round_trip(tmp_path, name, cls_name):
    train_x, train_y, test_x, test_y = write_mnist(tmp_path, cls_name)
    s = load(name, root=tmp_path)  # read by torchvision's own class, download=False
    assert (s.num_classes, s.input_shape, s.num_train, s.num_test) == (10, (3, 32, 32), 9, 5)
    assert not s.flip
    for split, xs, ys in (("train", train_x, train_y), ("test", test_x, test_y)):
        x, y = s.tensors(split)
        np.testing.assert_array_equal(y.numpy(), ys)
        pixels = _raw_pixels(s, x)
        for c in range(3):  # replicated to 3 channels, padded 2 pixels of zeros on every side
            np.testing.assert_allclose(pixels[:, c, 2:30, 2:30], xs, atol=1e-3)
        border = np.ones((32, 32), dtype=bool)
        border[2:30, 2:30] = False
        np.testing.assert_allclose(pixels[:, :, border], 0.0, atol=1e-3)


def test_imagenet_folder(tmp_path):
    write_imagenet(tmp_path)
    s = load("imagenet", root=tmp_path, crop_size=24, resize_size=28, workers=0, val_fraction=0.25, seed=0)
    assert (s.num_classes, s.input_shape) == (3, (3, 24, 24))
    assert (s.num_train, s.num_val, s.num_test) == (9, 3, 6)
    assert s.classes == sorted(IMAGENET_COLOURS)
    assert sorted(t for _, t in s.samples("val")) == [0, 1, 2]  # stratified
    colours = np.array([IMAGENET_COLOURS[c] for c in s.classes], dtype=np.float64)
    for loader in (s.train_loader(4, seed=0), s.eval_loader("val", 4), s.eval_loader("test", 4)):
        assert len(loader) == -(-loader.num_samples // 4)
        seen = 0
        for x, y in loader:
            assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.device.type == "cpu"
            assert x.shape[1:] == (3, 24, 24)
            pixels = _raw_pixels(s, x)  # solid colour survives any crop and resize
            np.testing.assert_allclose(pixels, colours[y.numpy()][:, :, None, None] * np.ones((1, 1, 24, 24)), atol=1.5)
            seen += len(y)
        assert seen == loader.num_samples
    labels = lambda seed: [t for _, ys in s.train_loader(5, seed=seed) for t in ys.tolist()]
    assert labels(1) == labels(1)
    with pytest.raises(ValueError, match="val_fraction"):
        load("imagenet", root=tmp_path, crop_size=24, resize_size=28, workers=0).eval_loader("val", 4)


def test_imagenet_default_sizes(tmp_path):
    write_imagenet(tmp_path, n_train=1, n_val=1)
    s = load("imagenet", root=tmp_path, workers=0)
    assert s.input_shape == (3, 224, 224)
    x, y = next(iter(s.eval_loader("test", 3)))
    assert x.shape == (3, 3, 224, 224)


# --------------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=1, max_value=30), min_size=2, max_size=6),
    fraction=st.floats(min_value=0.01, max_value=0.9),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_validation_split_properties(counts, fraction, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(0).shuffle(labels)
    n = len(labels)
    train, val = validation_split(labels, fraction, seed)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == n
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert len(val) == min(max(1, round(fraction * n)), n - 1)
    share = len(val) / n
    for c, count in enumerate(counts):  # stratified: each class within one sample of its share
        assert abs(int((labels[val] == c).sum()) - share * count) < 1.0
    again = validation_split(labels, fraction, seed)
    assert np.array_equal(again[1], val)


def test_val_split_through_load():
    opts = dict(num_train=1000, num_test=20, num_classes=10)
    s = load("synthetic", val_fraction=0.1, seed=0, **opts)
    assert (s.num_train, s.num_val, s.num_test) == (900, 100, 20)
    tr, va = s.indices["train"], s.indices["val"]
    assert len(np.intersect1d(tr, va)) == 0 and len(np.union1d(tr, va)) == 1000
    full_y = load("synthetic", **opts).tensors("train")[1]
    np.testing.assert_array_equal(np.bincount(full_y[va].numpy(), minlength=10), [10] * 10)
    np.testing.assert_array_equal(s.tensors("val")[1].numpy(), full_y[va].numpy())
    same = load("synthetic", val_fraction=0.1, seed=0, **opts)
    assert np.array_equal(same.indices["val"], va)
    assert torch.equal(same.tensors("val")[0], s.tensors("val")[0])
    other = load("synthetic", val_fraction=0.1, seed=1, **opts)
    assert not np.array_equal(other.indices["val"], va)
    assert s.num_val > 0 and s.eval_loader("val", 64).num_samples == 100
    with pytest.raises(ValueError, match="val_fraction"):
        load("synthetic", **opts).eval_loader("val", 64)
    with pytest.raises(ValueError, match="'valid'"):
        s.eval_loader("valid", 64)


@pytest.mark.parametrize("fraction", [1.0, 0.75, 0.5, 0.25])
def test_subsample_sizes_per_class(fraction):
    s = load("synthetic", num_train=400, num_test=10, num_classes=4, subsample=fraction, seed=3)
    per_class = np.bincount(s.tensors("train")[1].numpy(), minlength=4)
    np.testing.assert_array_equal(per_class, [int(100 * fraction)] * 4)
    again = load("synthetic", num_train=400, num_test=10, num_classes=4, subsample=fraction, seed=3)
    assert np.array_equal(again.indices["train"], s.indices["train"])


def test_subsample_then_val_split():
    s = load("synthetic", num_train=400, num_test=10, num_classes=4, subsample=0.5, val_fraction=0.1, seed=0)
    assert (s.num_train, s.num_val) == (180, 20)
    kept = subsample_indices(load("synthetic", num_train=400, num_test=10, num_classes=4).tensors("train")[1], 0.5, 0)
    assert set(s.indices["train"]) | set(s.indices["val"]) == set(kept.tolist())


# --------------------------------------------------------------------------------------------------
# synthetic, digits
# --------------------------------------------------------------------------------------------------


def test_synthetic_shapes_and_determinism():
    a = load("synthetic", num_train=200, num_test=50, num_classes=10, data_seed=5)
    assert (a.name, a.num_classes, a.input_shape, a.num_train, a.num_test) == ("synthetic", 10, (3, 32, 32), 200, 50)
    b = load("synthetic", num_train=200, num_test=50, num_classes=10, data_seed=5, seed=9)  # split seed: no effect here
    for split in ("train", "test"):
        assert torch.equal(a.tensors(split)[0], b.tensors(split)[0])
        assert torch.equal(a.tensors(split)[1], b.tensors(split)[1])
    c = load("synthetic", num_train=200, num_test=50, num_classes=10, data_seed=6)
    assert not torch.equal(a.tensors("train")[0], c.tensors("train")[0])
    np.testing.assert_array_equal(np.bincount(a.tensors("train")[1].numpy()), [20] * 10)
    hundred = load("synthetic", num_train=300, num_test=100, num_classes=100)
    assert hundred.num_classes == 100 and int(hundred.tensors("test")[1].max()) == 99


def test_synthetic_label_noise_only_on_train():
    opts = dict(num_train=500, num_test=200, num_classes=10, data_seed=1)
    clean = load("synthetic", **opts)
    noisy = load("synthetic", label_noise=0.2, **opts)
    # Same images; exactly 20% of the training labels changed, each to another class; test untouched.
    assert torch.equal(clean.tensors("train")[0], noisy.tensors("train")[0])
    changed = clean.tensors("train")[1] != noisy.tensors("train")[1]
    assert int(changed.sum()) == 100 and noisy.info["num_noisy_train_labels"] == 100
    assert torch.equal(clean.tensors("test")[0], noisy.tensors("test")[0])
    assert torch.equal(clean.tensors("test")[1], noisy.tensors("test")[1])


def test_synthetic_presets():
    s = load("synthetic", preset="underfit", num_train=200, num_test=100)  # explicit options override
    assert s.num_classes == SYNTHETIC_PRESETS["underfit"]["num_classes"] == 100 and s.num_train == 200
    assert s.info["options"]["preset"] == "underfit"
    o = load("synthetic", preset="overfit", num_test=50)
    assert o.num_train == SYNTHETIC_PRESETS["overfit"]["num_train"]
    assert o.info["num_noisy_train_labels"] == round(SYNTHETIC_PRESETS["overfit"]["label_noise"] * o.num_train)


def test_digits():
    s = load("digits")
    assert (s.num_classes, s.input_shape) == (10, (3, 32, 32))
    assert s.num_train + s.num_test == 1797 and s.num_test == 449
    assert not s.flip
    x, y = s.tensors("train")
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])  # grey replicated
    assert set(y.tolist()) == set(range(10))
    other = load("digits", seed=7, val_fraction=0.1)  # the test split does not depend on the run seed
    assert torch.equal(other.tensors("test")[1], s.tensors("test")[1])
    assert other.num_train + other.num_val == s.num_train


# --------------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------------


def _ids_loader(n=50, batch_size=16, **kw):
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 8, 8).contiguous()
    return TensorLoader(x, torch.arange(n), batch_size, **kw)


def test_every_sample_once_per_epoch_and_orders():
    loader = _ids_loader(shuffle=True, seed=0)
    assert len(loader) == 4 and loader.num_samples == 50
    epochs = []
    for _ in range(3):
        batches = [y for _, y in loader]
        assert [len(b) for b in batches] == [16, 16, 16, 2]  # drop_last=False
        order = torch.cat(batches)
        assert sorted(order.tolist()) == list(range(50))
        epochs.append(order)
    assert not torch.equal(epochs[0], epochs[1]) and not torch.equal(epochs[1], epochs[2])
    twin = _ids_loader(shuffle=True, seed=0)
    assert all(torch.equal(torch.cat([y for _, y in twin]), e) for e in epochs)
    other = _ids_loader(shuffle=True, seed=1)
    assert not torch.equal(torch.cat([y for _, y in other]), epochs[0])
    fixed = _ids_loader()
    assert torch.equal(torch.cat([y for _, y in fixed]), torch.arange(50))


def _candidates(img: torch.Tensor, pad: int, flips: bool) -> torch.Tensor:
    """Every shift (and flip) of one image: (K, C, H, W)."""
    offsets = torch.arange(2 * pad + 1)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    dy, dx = dy.reshape(-1), dx.reshape(-1)
    k = len(dy)
    batch = img.unsqueeze(0).expand(k, -1, -1, -1)
    out = [shift_and_flip(batch, dx, dy, None, pad)]
    if flips:
        out.append(shift_and_flip(batch, dx, dy, torch.ones(k, dtype=torch.bool), pad))
    return torch.cat(out)


def test_shift_and_flip_semantics():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    out = shift_and_flip(x, torch.tensor([2, 3]), torch.tensor([2, 1]), torch.tensor([False, True]), pad=2)
    assert torch.equal(out[0], x[0])  # offset == pad: no shift
    # image 1: out(i, j) = x(i - 1, j + 1) (zero outside), then mirrored left-right
    expected = torch.zeros(1, 4, 4)
    expected[:, 1:, :3] = x[1, :, :3, 1:]
    assert torch.equal(out[1], expected.flip(2))


def test_train_loader_augmentation_is_a_shift_or_flip_of_the_stored_tensor():
    s = load("synthetic", num_train=40, num_test=10, data_seed=2)
    stored_x, stored_y = s.tensors("train")
    plain = s.train_loader(16, seed=4, augment=False)
    aug = s.train_loader(16, seed=4, augment=True)
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(4))  # the epoch's order
    xp, yp = map(torch.cat, zip(*plain))
    assert torch.equal(xp, stored_x[perm]) and torch.equal(yp, stored_y[perm])  # augment off: the stored tensor
    xa, ya = map(torch.cat, zip(*aug))
    assert torch.equal(ya, yp) and xa.shape == xp.shape and xa.dtype == torch.float32  # same order either way
    assert not torch.equal(xa, xp)
    for i in range(12):
        cands = _candidates(xp[i], pad=4, flips=True)
        assert (cands == xa[i]).flatten(1).all(1).any(), i
    # Same seed, same augmented batches.
    xb, _ = map(torch.cat, zip(*s.train_loader(16, seed=4, augment=True)))
    assert torch.equal(xa, xb)


def test_no_flip_datasets_only_shift():
    s = load("digits", subsample=0.05, seed=0)
    assert not s.flip
    xp, _ = map(torch.cat, zip(*s.train_loader(32, seed=1, augment=False)))
    xa, _ = map(torch.cat, zip(*s.train_loader(32, seed=1, augment=True)))
    for i in range(10):
        assert (_candidates(xp[i], pad=4, flips=False) == xa[i]).flatten(1).all(1).any(), i


def test_eval_loader_fixed_order_and_types():
    s = load("synthetic", num_train=30, num_test=25, val_fraction=0.2)
    x, y = s.tensors("test")
    loader = s.eval_loader("test", 10)
    assert len(loader) == 3 and loader.num_samples == 25
    xs, ys = map(torch.cat, zip(*loader))
    assert torch.equal(xs, x) and torch.equal(ys, y) and ys.dtype == torch.int64
    assert s.eval_loader("train", 7).num_samples == s.num_train == 24
    with pytest.raises(ValueError, match="batch_size"):
        s.eval_loader("test", 0)


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))],
)
def test_batches_on_requested_device(device):
    s = load("synthetic", num_train=64, num_test=16, device=device, val_fraction=0.25)
    assert s.device.type == device
    for loader in (s.train_loader(16, seed=0), s.eval_loader("val", 16), s.eval_loader("test", 16)):
        x, y = next(iter(loader))
        assert x.device.type == device and y.device.type == device
    if device == "cuda":  # the same seed gives the same batches on the GPU as on the CPU
        cpu = load("synthetic", num_train=64, num_test=16, val_fraction=0.25)
        xg, _ = next(iter(s.train_loader(16, seed=3)))
        xc, _ = next(iter(cpu.train_loader(16, seed=3)))
        torch.testing.assert_close(xg.cpu(), xc, rtol=1e-5, atol=1e-5)
