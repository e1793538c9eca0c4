"""The fragrow recipe: the paper's setting, clear errors before any work, and every policy on tiny data."""
import math

import pytest

from growth.recipes import RECIPES
from growth.recipes.fragrow import FAMILIES, doublings, fragrow_config, run_fragrow, summarize

pytestmark = pytest.mark.usefixtures("one_thread")


def test_paper_profile_is_the_paper():
    c = fragrow_config("paper").resolved()
    assert (c.seed_net, c.target_net) == ("Basic4ResNet-2-2-2-2", "Basic4ResNet-8-8-8-8")
    assert (c.epochs, c.min_finetune_epochs, c.alpha, c.val_fraction, c.batch_size) == (180, 30, 4.0, 0.01, 128)
    assert (c.lr, c.weight_decay) == (0.5, 1e-4)
    assert c.blocks == 24 and c.i_max == 6.25 and c.convergent_patience == 4
    vgg = fragrow_config("paper", family="vgg").resolved()
    assert (vgg.seed_net, vgg.target_net, vgg.lr, vgg.weight_decay) == ("VGG-1-1-1-1-2", "VGG-2-2-4-4-4", 0.1, 5e-4)
    assert vgg.i_max == 15.0
    mb = fragrow_config("paper", family="mobilenet", dataset="imagenet").resolved()
    assert (mb.target_net, mb.weight_decay) == ("MobileNetV2-2-3-4-3-3", 4e-5)
    assert "fragrow" in RECIPES and set(FAMILIES) == {"resnet", "vgg", "mobilenet"}


def test_lipgrow_doublings():
    assert doublings((2, 2, 2, 2), (8, 8, 8, 8)) == 2
    assert doublings((1, 1, 1, 1, 2), (2, 2, 4, 4, 4)) == 2
    assert doublings((1, 1, 1, 1, 1), (2, 3, 4, 3, 3)) == 2


@pytest.mark.parametrize("overrides, word", [
    (dict(target_net="Basic4ResNet-1-8-8-8"), "shallower than the seed"),
    (dict(target_net="VGG-2-2-4-4-4"), "one family"),
    (dict(epochs=30, min_finetune_epochs=30), "min_finetune_epochs=30"),
    (dict(policy="sometimes"), "policy='sometimes'"),
    (dict(where="anywhere"), "where='anywhere'"),
    (dict(init="zero"), "init='zero'"),
    (dict(alpha=float("nan")), "alpha="),
    (dict(val_fraction=0.0), "val_fraction=0"),
    (dict(policy="speed"), "mean_epochs=None"),
    (dict(policy="speed", mean_epochs=10.0), "mean_epochs=10.0"),
    (dict(target_net="Basic4ResNet-2-2-2-2"), "nothing to grow"),
    (dict(lipgrow_tolerance=1.0), "lipgrow_tolerance="),
    (dict(dataset="nosuchset"), "dataset='nosuchset'"),
])
def test_bad_parameters_fail_before_any_work(overrides, word):
    with pytest.raises(ValueError, match=word.replace("(", r"\(").replace(")", r"\)")):
        fragrow_config("paper", **overrides)


@pytest.mark.parametrize("policy, extra", [
    ("fragrow", {}), ("periodic", {}), ("convergent", {}), ("lipgrow", {}), ("speed", {"mean_epochs": 3.0}),
    ("fragrow", {"init": "mogrow", "where": "circulation"}),
])
def test_every_growing_policy_reaches_the_target_and_keeps_the_finetuning(policy, extra, tmp_path):
    c = fragrow_config("smoke", family="vgg", policy=policy, **extra).resolved()
    run = run_fragrow(c, history_path=tmp_path / "h.json")
    h = run.history
    s = summarize(run)
    assert h.meta["reached_target"] and s["end_net"] == "VGG-1-2-2-1-2"
    assert len(h.epochs) == c.epochs
    last = max(h.meta["growth_epochs"])
    assert last <= c.epochs - c.min_finetune_epochs
    finetune = [e for e in h.events if e["kind"] == "finetune"]
    assert finetune and finetune[0]["epoch"] == last  # fine-tuning starts right after the last growth
    lrs = [r["lr"] for r in h.epochs]
    assert lrs[:last] == [c.lr] * last and lrs[-1] < c.lr  # constant while growing, then cosine
    assert s["mean_training_epochs"] == pytest.approx(
        sum(c.epochs - t * 1.0 for t in h.meta["growth_epochs"]) / len(h.meta["growth_epochs"]))
    assert s["training_seconds"] > 0 and s["training_macs"] > 0
    if policy == "lipgrow":
        assert all("lipschitz" in r for r in h.epochs[:last])
        assert h.meta["cost"]["extra_macs"]["LipGrow"] == sum(r["lipschitz_macs"] for r in h.epochs if "lipschitz_macs" in r)
    if extra.get("init") == "mogrow":
        assert h.meta["ema"]["peak_bytes"] > 0 and h.meta["ema"]["steps"] > 0


def test_fragrow_logs_orl_and_interval_every_growing_epoch():
    run = run_fragrow(fragrow_config("smoke", family="vgg"))
    h = run.history
    growing = [r for r in h.epochs if r["epoch"] <= max(h.meta["growth_epochs"])]
    for r in growing:
        assert r["orl"] == pytest.approx(r["train_acc"] - r["val_acc"])
        assert r["interval"] == pytest.approx(h.meta["i_max"] / (1 + math.exp(4.0 - r["orl"])))


def test_vanilla_and_small_train_one_net_with_the_same_lr_shape():
    c = fragrow_config("smoke", family="vgg", policy="vanilla").resolved()
    h = run_fragrow(c).history
    assert h.meta["start_spec"] == h.meta["end_spec"] == "VGG-1-2-2-1-2" and not h.meta["growth_epochs"]
    hold = c.epochs - c.min_finetune_epochs
    lrs = [r["lr"] for r in h.epochs]
    assert lrs[:hold + 1] == [c.lr] * (hold + 1) and lrs[-1] < c.lr
    assert run_fragrow(fragrow_config("smoke", family="vgg", policy="small")).history.meta["end_spec"] == "VGG-1-1-1-1-2"


def test_regimes_override_the_profile_and_yield_to_explicit_overrides():
    paper = fragrow_config("paper", family="vgg", regime="underfit").resolved()
    assert (paper.dataset, paper.epochs, paper.batch_size, paper.lr, paper.weight_decay) == ("imagenet", 120, 256,
                                                                                             0.1, 1e-4)
    assert fragrow_config("paper", regime="overfit").dataset == "cifar100"
    under = fragrow_config("bench", regime="underfit")
    assert under.dataset_options["num_classes"] == 40 and under.augment and under.val_fraction == 0.1
    assert fragrow_config("bench", regime="overfit") == fragrow_config("bench")
    assert fragrow_config("bench", regime="underfit", augment=False).augment is False
    with pytest.raises(ValueError, match="regime"):
        fragrow_config("bench", regime="imagenet")
