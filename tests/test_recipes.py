"""growth.recipes: the AutoGrow recipe's configuration, profiles, scaling, validation and tiny runs."""
import math

from dataclasses import replace

import pytest

import growth
from growth.history import History
from growth.recipes import RECIPES, AutoGrowConfig, autogrow_config, get_recipe, run_autogrow
from growth.recipes import autogrow as ag
from growth.recipes import base as recipe_base
from growth.when import Convergent, Periodic


pytestmark = pytest.mark.usefixtures("one_thread")


TINY = dict(dataset_options={"num_train": 160, "num_test": 64, "num_classes": 10}, batch_size=32)


def test_registry():
    assert RECIPES["autogrow"] is get_recipe("autogrow")
    assert RECIPES["autogrow"].config_class is AutoGrowConfig
    with pytest.raises(ValueError, match="recipe='fragro'.*autogrow"):
        get_recipe("fragro")


def test_paper_profile_is_the_paper():
    c = autogrow_config("paper").resolved()
    assert (c.variant, c.K, c.J, c.tau, c.init, c.seed_net, c.width) == ("p", 3, 100, 0.05, "gaussian", "Basic3ResNet-1-1-1", 1.0)
    assert (c.dataset, c.lr, c.momentum, c.weight_decay, c.batch_size) == ("cifar10", 0.1, 0.9, 5e-4, 128)
    assert (c.finetune_epochs, c.finetune_milestones, c.finetune_gamma) == (200, (100, 150), 0.1)
    assert AutoGrowConfig() == autogrow_config("paper")  # the dataclass defaults are the paper
    g = ag.build_grower(c)
    assert isinstance(g.when.trigger, Periodic) and g.when.trigger.every == 3 and g.when.epochs == c.growth_phase == 4002  # 1334 whole periods of K = 3, as the code
    assert (g.where.J, g.where.tau, g.where.anchor) == (100, 0.05, "trailing")
    assert g.how.init == "gaussian" and g.finetune.epochs == 200
    assert g.finetune.options == {"milestones": [100, 150], "gamma": 0.1} and g.finetune.lr == 0.1


def test_family_and_dataset_derived_defaults():
    c = autogrow_config("paper", variant="c").resolved()
    assert (c.K, c.J) == (200, 200)  # c-AutoGrow's code: the stopping window is K
    g = ag.build_grower(c)
    conv = g.when.trigger
    assert isinstance(conv, Convergent) and (conv.patience, conv.every, conv.min_delta) == (200, 200, 0.05)
    assert g.where.anchor == "growth"
    plain = autogrow_config("paper", seed_net="Plain3Net-1-1-1").resolved()
    assert (plain.lr, plain.init) == (0.01, "he")
    assert autogrow_config("paper", seed_net="Plain3Net-1-1-1", init="zero", lr=0.05).resolved().init == "zero"
    im = autogrow_config("paper", dataset="imagenet", seed_net="Basic4ResNet-1-1-1-1").resolved()
    assert (im.K, im.J, im.finetune_epochs, im.finetune_milestones) == (2, 30, 90, (30, 60))


def test_profiles_and_overrides():
    smoke = autogrow_config("smoke")
    assert smoke.profile == "smoke" and smoke.dataset == "synthetic" and smoke.device == "cpu"
    bench = autogrow_config("bench", variant="c")
    assert bench.variant == "c" and bench.profile == "bench"
    # a new dataset drops the profile's dataset options
    assert autogrow_config("smoke", dataset="digits").dataset_options == {}
    assert autogrow_config("smoke", K=7).K == 7
    with pytest.raises(ValueError, match="unknown AutoGrow parameter.*'Kk'"):
        autogrow_config("smoke", Kk=3)
    with pytest.raises(ValueError, match="profile='huge'"):
        autogrow_config("huge")


def test_scaling_helpers():
    paper = autogrow_config("paper")
    half = ag.scaled(paper, 0.5)
    assert (half.K, half.J, half.finetune_epochs, half.finetune_milestones, half.growth_epochs) == (2, 50, 100, (50, 75), 2000)
    b = ag.for_budget(paper, 40)  # factor 40 / (2*100 + 200) = 0.1
    assert (b.K, b.J, b.finetune_epochs, b.finetune_milestones) == (1, 10, 20, (10, 15))
    assert b.growth_epochs + b.finetune_epochs == 40
    s = ag.for_subsample(paper, 0.25)  # Table 8: K rescaled to keep mini-batches between growths
    assert (s.subsample, s.K, s.J) == (0.25, 12, 100)


def test_at_profile_is_the_chapter_scale():
    # bench: p K=1, J=5, growth 40, fine-tuning 10 -> K, J, growth times 6/10 (20 // 3 = 6); fine-tuning 20
    p = ag.at_profile("bench", epochs=20, batch_size=128)
    assert (p.K, p.J, p.growth_epochs, p.finetune_epochs, p.finetune_milestones) == (1, 3, 24, 20, (10, 15))
    assert (p.width, p.batch_size, p.variant, p.init) == (0.25, 32, "p", "gaussian")
    c = ag.at_profile("bench", epochs=20, batch_size=128, variant="c", init="zero")  # c: K=3, J=3
    assert (c.variant, c.K, c.J, c.init) == ("c", 2, 2, "zero")
    assert ag.at_profile("bench", epochs=20, batch_size=128, K=4).K == 4  # an explicit K is not scaled
    assert ag.at_profile("bench", epochs=20, batch_size=128, K=None, J=None) == p  # None: the profile's own
    smoke = ag.at_profile("smoke", epochs=4, batch_size=64, variant="c", K=None)
    assert (smoke.K, smoke.J, smoke.finetune_epochs, smoke.growth_epochs) == (1, 1, 4, 6)
    assert ag.at_profile("my-gpu-run", epochs=20, batch_size=16) == replace(p, batch_size=16)
    paper = ag.at_profile("paper", epochs=20, batch_size=256, seed_net="Plain3Net-1-1-1")
    assert (paper.K, paper.J, paper.finetune_epochs, paper.batch_size, paper.lr) == (3, 100, 200, 256, 0.01)
    with pytest.raises(ValueError, match="max_batch_size"):
        ag.at_profile("bench", epochs=20, batch_size=128, max_batch_size=0)


class Untouchable(Exception):
    pass


@pytest.fixture
def no_work(monkeypatch):
    """Bad parameters must fail before any data is read or any training starts."""

    def boom(*a, **k):
        raise Untouchable("work started before the parameters were checked")

    monkeypatch.setattr(recipe_base, "load_dataset", boom)  # every recipe's run reads data and trains there
    monkeypatch.setattr(recipe_base, "train", boom)


@pytest.mark.parametrize(
    "overrides, word",
    [
        ({"variant": "q"}, "variant='q'.*p, c"),
        ({"K": 0}, "K=0"),
        ({"J": -5}, "J=-5"),
        ({"tau": -0.05}, "tau=-0.05"),
        ({"tau": math.nan}, "tau=nan"),
        ({"init": "xavier"}, "init='xavier'.*gaussian"),
        ({"seed_net": "WRN-28-10"}, "seed_net='WRN-28-10' is not depth-growable"),
        ({"seed_net": "Basic3ResNet-0-1"}, "seed_net='Basic3ResNet-0-1'"),
        ({"max_depth": (2, 2)}, "max_depth=\\(2, 2\\)"),
        ({"max_depth": 0}, "max_depth=0"),
        ({"metric": "accuracy"}, "metric='accuracy'"),
        ({"dataset": "cifar11"}, "dataset='cifar11'"),
        ({"val_fraction": 0.0}, "val_fraction=0.*metric='val_acc'"),
        ({"subsample": 0.0}, "subsample=0.0"),
        ({"growth_epochs": 0}, "growth_epochs=0"),
        ({"finetune_epochs": -1}, "finetune_epochs=-1"),
        ({"lr": 0.0}, "lr=0.0"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"seed": -1}, "seed=-1"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_bad_parameters_fail_before_any_work(no_work, overrides, word):
    config = AutoGrowConfig(**{**vars(autogrow_config("smoke")), **overrides})
    with pytest.raises(ValueError, match=word):
        run_autogrow(config)
    with pytest.raises(ValueError, match=word):
        autogrow_config("smoke", **overrides)


def test_missing_dataset_folder_fails_before_training(monkeypatch, tmp_path):
    monkeypatch.setattr(recipe_base, "train", lambda *a, **k: (_ for _ in ()).throw(Untouchable("trained")))
    with pytest.raises(ValueError, match="cifar10"):
        run_autogrow(autogrow_config("smoke", dataset="cifar10", data_root=str(tmp_path)))


def test_tiny_p_autogrow_grows_freezes_finetunes_and_finds_a_net(tmp_path):
    # tau = 100 points: every decision freezes, so the structure is known whatever the accuracies:
    # t=1 grow stage 0; t=2 freeze 0, grow 1; t=3 freeze 1, grow 2; t=4 freeze 2 -> fine-tune 2 epochs
    config = autogrow_config("smoke", K=1, J=1, tau=100.0, growth_epochs=10, finetune_epochs=2, **TINY)
    path = tmp_path / "autogrow.json"
    run = run_autogrow(config, history_path=str(path), meta={"note": "test"})
    h = History.load(path)
    assert run.model.spec == h.meta["found_net"] == h.meta["end_spec"] == "Basic3ResNet-2-2-2"
    assert [(e["kind"], e["epoch"]) for e in h.events] == [
        ("grow", 1), ("freeze", 2), ("grow", 2), ("freeze", 3), ("grow", 3), ("freeze", 4), ("finetune", 4),
    ]
    assert [(r["epoch"], r["stage"], r["depth"], r["reason"]) for r in h.meta["frozen"]] == [
        (2, 0, 2, "stopping-policy"), (3, 1, 2, "stopping-policy"), (4, 2, 2, "stopping-policy"),
    ]
    assert len(h.epochs) == h.meta["epochs_run"] == 6 and h.meta["finished_growing"]
    assert h.series("lr") == pytest.approx([0.1] * 5 + [0.01])  # constant while growing, then the staircase
    assert h.series("spec")[-1] == "Basic3ResNet-2-2-2"
    assert (h.meta["recipe"], h.meta["profile"], h.meta["variant"], h.meta["note"]) == ("autogrow", "smoke", "p-AutoGrow", "test")
    assert h.meta["recipe_config"]["K"] == 1 and h.meta["recipe_config"]["finetune_milestones"] == [1]
    assert all(r["val_acc"] is not None and r["test_acc"] is not None for r in h.epochs)
    assert h.meta["data_sizes"] == {"train": 120, "val": 40, "test": 64} and h.meta["adam_init"] == []
    macs = h.series("macs")
    assert all(b > a for a, b in zip(macs, macs[1:]))
    s = ag.summarize(run)
    assert (s["found_net"], s["growths"], s["finetune_epochs"], s["epochs_run"]) == ("Basic3ResNet-2-2-2", 3, 2, 6)
    assert s["forward_macs"] == growth.forward_macs(growth.build_model("Basic3ResNet-2-2-2", num_classes=10, width=0.25))
    assert "Basic3ResNet-2-2-2" in ag.format_summary(s)


def test_tiny_c_autogrow_and_the_growth_budget():
    # c: K=1 -> converged when the best val accuracy rose < tau over the last epoch (t > 1); tau=100 always.
    # t=2 grow 0; t=3 (g+J reached) freeze 0, grow 1; t=4 freeze 1, grow 2; t=5 freeze 2 -> fine-tune 1
    run = run_autogrow(autogrow_config("smoke", variant="c", K=1, J=1, tau=100.0, growth_epochs=10,
                                       finetune_epochs=1, **TINY))
    h = run.history
    assert run.model.spec == "Basic3ResNet-2-2-2"
    assert [(e["kind"], e["epoch"]) for e in h.events if e["kind"] != "freeze"] == [
        ("grow", 2), ("grow", 3), ("grow", 4), ("finetune", 5),
    ]
    assert len(h.epochs) == 6
    # the budget: p-AutoGrow that never freezes (tau=0) grows at its last check, epoch 3, as the authors'
    # code, then fine-tunes that net
    run = run_autogrow(autogrow_config("smoke", K=1, J=1, tau=0.0, growth_epochs=3, finetune_epochs=1, **TINY))
    h = run.history
    assert run.model.spec == "Basic3ResNet-2-2-2"
    assert [r["reason"] for r in h.meta["frozen"]] == ["budget"] * 3
    assert [e["kind"] for e in h.events][-1] == "finetune" and len(h.epochs) == 4


def test_adam_init_records_are_kept_and_their_cost_charged():
    # tau = 100: grow stage 0 at t=1, freeze it and grow stage 1 at t=2, ... (as above); each growth runs AdamInit
    run = run_autogrow(autogrow_config("smoke", K=1, J=1, tau=100.0, init="adam", growth_epochs=10,
                                       finetune_epochs=1, **TINY))
    h = run.history
    records = h.meta["adam_init"]
    assert [(r["epoch"], r["stage"]) for r in records] == [(1, 0), (2, 1), (3, 2)]
    assert all(1 <= r["epochs"] <= 10 and len(r["accs"]) == r["epochs"] and r["macs"] > 0 for r in records)
    assert sum(r["macs"] for r in records) == h.meta["cost"]["extra_macs"]["AdamInit"]


def test_every_recipe_command_line_comes_from_its_fields():
    """One option per field with a help text (the shared fields' from COMMON_HELP), named after it."""
    import argparse
    import dataclasses

    for recipe in RECIPES.values():
        parser = argparse.ArgumentParser()
        recipe.add_arguments(parser)
        flags = set(parser._option_string_actions)
        for f in dataclasses.fields(recipe.config_class):
            if f.metadata.get("help") or f.name in recipe_base.COMMON_HELP:
                name = f.metadata.get("flag") or f.name.replace("_", "-")
                assert f"--{name[:-1] if f.type.startswith('dict') else name}" in flags, (recipe.name, f.name)
        assert {"--profile", "--seed", "--device", "--dataset-option", "--augment", "--no-augment"} <= flags


def test_options_of_every_kind_reach_the_config():
    import argparse

    from growth.recipes import vt

    parser = argparse.ArgumentParser()
    vt.add_arguments(parser)
    args = parser.parse_args(["--variant", "growing", "--width-method", "firefly-simple", "--width-option", "steps=3",
                              "--no-augment", "--momentum", "0.5", "--stages", "2", "--probe", "stages.0.0.conv1.weight",
                              "--dataset-option", "num_train=64"])
    cfg = vt.config_from_args(args)
    assert cfg.width_options == {"steps": 3} and cfg.augment is False and cfg.momentum == 0.5 and cfg.stages == 2
    assert cfg.probe == ["stages.0.0.conv1.weight"] and cfg.dataset_options["num_train"] == 64
    assert cfg.dataset_options["num_test"] == vt.vt_config("smoke").dataset_options["num_test"]  # merged, not replaced
    assert vt.config_from_args(parser.parse_args([])) == vt.vt_config("smoke")  # nothing given: the profile's
