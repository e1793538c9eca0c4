"""growth.recipes.vt on ImageNet (VT paper Sec. 4, Sec. 4.2, Table 4): the paper's setting, and the recipe run
end to end on a tiny ImageFolder written here in ImageNet's layout (root/train/<class>, root/val/<class>)."""
import numpy as np
import pytest
from torch import nn

from growth.recipes.vt import plan, run_vt, vt_config

CLASSES = ("n01440764", "n01443537", "n01484850")


def write_imagefolder(root, n_train=4, n_val=2):
    """root/{train,val}/<wnid>/: seeded noise images of 40-56 px around one colour per class, JPEG and PNG."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for k, wnid in enumerate(CLASSES):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(n):
                side = int(rng.integers(40, 57))
                pixels = np.clip(rng.normal(60 + 70 * k, 30, (side, side, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{wnid}_{i}.{'jpg' if i % 2 else 'png'}")
    return root


@pytest.mark.parametrize("model, batch", [("ResNet-50", 256), ("MobileNetV1", 512)])
def test_paper_imagenet_setting(model, batch, tmp_path):
    """Sec. 4: 90 epochs, 9 stages from T0 = 4, SGD LR 0.1 with a cosine, batch 256 (ResNet-50) / 512 (MobileNetV1)."""
    c = vt_config("paper", model=model, dataset="imagenet", data_root=str(tmp_path)).resolved()
    assert (c.epochs, c.stages, c.T0, c.c0, c.p) == (90, 9, 4, 0.25, 0.2)
    assert (c.optimizer, c.lr, c.schedule, c.batch_size) == ("sgd", 0.1, "cosine", batch)
    assert (c.momentum, c.weight_decay, c.variant) == (0.9, 5e-4, "full")  # lost in our copy: the recipe's values
    assert vt_config("paper", model=model.lower(), dataset="imagenet").batch_size == batch  # any spelling of the name


def test_paper_imagenet_schedule():
    """Sec. 4.2: 9 growth phases over 90 epochs (Eq. 7 from T0 = 4), from a quarter of the width to all of it."""
    c = vt_config("paper", model="MobileNetV1", dataset="imagenet", width=1 / 16)
    stages = plan(c, num_classes=1000, image_size=224)["stages"]
    assert [s["epochs"] for s in stages] == [4, 5, 6, 7, 8, 10, 12, 14, 24]
    assert stages[0]["fraction"] == 0.25 and stages[-1]["fraction"] == 1.0


def test_batch_default_leaves_every_other_setting_alone():
    assert vt_config("paper").batch_size == 128
    assert vt_config("paper", model="ResNet-50").batch_size == 128  # CIFAR-10
    assert vt_config("paper", model="ResNet-18", dataset="imagenet").batch_size == 128  # not in the paper's Table 4
    assert vt_config("paper", model="ResNet-50", dataset="imagenet", batch_size=64).batch_size == 64  # the caller's
    assert vt_config("smoke", model="ResNet-50", dataset="imagenet").batch_size == 64  # the profile's
    assert vt_config("bench", model="MobileNetV1", dataset="imagenet").batch_size == 64


@pytest.mark.parametrize("model", ["ResNet-50"])  # MobileNetV1's run: the Table 4 page, at smoke, under nbval
def test_recipe_runs_on_a_tiny_imagefolder_in_the_imagenet_layout(model, tmp_path, one_thread):
    """The paper's code path at 1/16 width, 2 epochs in 2 stages: 224 px crops, the ImageNet stem, one growth."""
    root = write_imagefolder(tmp_path / "imagenet")
    config = vt_config("smoke", model=model, dataset="imagenet", data_root=str(root), width=1 / 16, epochs=2,
                       stages=2, batch_size=8, dataset_options={"workers": 0})
    run = run_vt(config, progress=False)
    h = run.history
    assert h.meta["input_shape"] == [3, 224, 224] and h.meta["num_classes"] == 3 and h.meta["dataset"] == "imagenet"
    first_conv = next(m for m in run.model.stem.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.stride == (2, 2)  # the ImageNet stem, not the CIFAR one
    assert [e["epoch"] for e in h.events if e["kind"] == "grow"] == [1]
    assert h.meta["channels"] == h.meta["stages"][-1]["channels"] and len(h.epochs) == 2
    assert 0.0 <= h.last("test_acc") <= 100.0 and 0 < h.meta["relative_cost"] < 1


def test_missing_imagenet_folder_is_a_value_error_naming_it(tmp_path):
    config = vt_config("smoke", model="MobileNetV1", dataset="imagenet", data_root=str(tmp_path / "none"),
                       width=1 / 16, epochs=2, stages=2)
    with pytest.raises(ValueError, match="imagenet.*none"):
        run_vt(config, progress=False)
