"""growth.recipes.vt: every ablation variant at smoke scale, batch-size adaptation, the CLI, and its errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from growth.__main__ import main
from growth.history import History
from growth.recipes import RECIPES
from growth.how import Net2Net, VarianceTransfer, VTConstraint
from growth.recipes.vt import VARIANTS, plan, run_vt, vt_config, width_method, width_operator

ROOT = Path(__file__).resolve().parents[1]
TINY = {"dataset_options": {"num_train": 160, "num_test": 64, "num_classes": 10}}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_grows_to_the_planned_widths(variant, one_thread):
    run = run_vt(vt_config("smoke", variant=variant, **TINY), progress=False)
    h = run.history
    stages, grows = h.meta["stages"], [e for e in h.events if e["kind"] == "grow"]
    full = stages[-1]["channels"]
    assert h.meta["channels"] == full and len(h.epochs) == 4
    if variant == "large":
        assert grows == [] and h.meta["relative_cost"] == 1.0 and len(stages) == 1
    else:
        assert [s["epochs"] for s in stages] == [1, 1, 2] and [e["epoch"] for e in grows] == [1, 2]
        assert [e["target"] for e in grows] == [s["channels"] for s in stages[1:]]
        assert stages[0]["channels"]["stem"] == 2 and stages[1]["channels"]["stem"] == 4 and full["stem"] == 8
        assert 0 < h.meta["relative_cost"] < 1
        assert h.epochs[0]["params"] < h.epochs[1]["params"] < h.epochs[2]["params"]
    assert ("stage_lrs" in h.epochs[-1]) == VARIANTS[variant][1]
    assert h.meta["config"]["reset_optimizer"] is True  # SGD: momentum re-initialised at growth (Sec. 4)


def test_planned_cost_is_the_measured_cost(one_thread):
    """The schedule's relative_cost (planned from the stage models, before any data) equals the MACs the
    loop's CostMeter charged, growing run over the large run, with and without Eq. 8's batches."""
    large = run_vt(vt_config("smoke", variant="large", **TINY), progress=False).history.last("macs")
    for adapt in (False, True):
        h = run_vt(vt_config("smoke", variant="full", batch_adapt=adapt, **TINY), progress=False).history
        assert h.last("macs") / large == pytest.approx(h.meta["relative_cost"], rel=1e-12)


def test_width_method_replaces_the_variants_way_of_filling_new_units(one_thread):
    """App. A: growing+vt with width_method vt-constraint (or random) grows the same schedule another way."""
    runs = {m: run_vt(vt_config("smoke", variant="growing+vt", width_method=m, **TINY), progress=False).history
            for m in (None, "vt-constraint", "random")}
    assert [runs[m].meta["grower"].endswith(f"{m or 'vt'})") for m in runs] == [True, True, True]
    assert runs["vt-constraint"].meta["recipe_config"]["width_method"] == "vt-constraint"
    assert all(runs[m].meta["channels"] == runs[None].meta["channels"] for m in runs)
    assert runs["vt-constraint"].series("train_loss") != runs[None].series("train_loss")
    assert runs["random"].series("train_loss") == run_vt(
        vt_config("smoke", variant="growing", **TINY), progress=False).history.series("train_loss")
    assert width_method(vt_config("smoke", variant="large", width_method="vt")) is None


def test_rescale_without_bn_reaches_the_operator_and_the_cli(tmp_path, one_thread):
    """VT rescales the layers no BatchNorm reads by default (the paper's rule); the recipe's option keeps them."""
    assert width_operator(vt_config("smoke", variant="growing+vt")) == VarianceTransfer(rescale_without_bn=True)
    kept = vt_config("smoke", variant="full", rescale_without_bn=False)
    assert width_operator(kept) == VarianceTransfer(rescale_without_bn=False)
    assert width_operator(vt_config("smoke", variant="growing+vt", width_method="vt-constraint",
                                    rescale_without_bn=False)) == VTConstraint(rescale_without_bn=False)
    assert width_operator(vt_config("smoke", variant="net2net", rescale_without_bn=False)) == Net2Net()
    assert width_operator(vt_config("smoke", variant="large")) is None
    out = tmp_path / "h.json"
    args = ["run", "vt", "--profile", "smoke", "--model", "MLP", "--rounding", "ceil-even", "--no-rescale-without-bn",
            "--dataset-option", "num_train=160", "--dataset-option", "num_test=64", "--out", str(out)]
    assert main(args) == 0 and History.load(out).meta["recipe_config"]["rescale_without_bn"] is False


def test_batch_size_adaptation_changes_the_batch_per_stage(one_thread):
    run = run_vt(vt_config("smoke", batch_adapt=True, batch_size=16, **TINY), progress=False)
    assert [s["batch_size"] for s in run.history.meta["stages"]] == [64, 32, 16]
    assert [r["batch_size"] for r in run.history.epochs] == [64, 32, 16, 16]
    assert {r["lr"] for r in run.history.epochs[:1]} == {0.1}  # LR not rescaled with the batch


def test_the_paper_plan_and_defaults():
    cfg = vt_config("paper").resolved()
    assert (cfg.variant, cfg.model, cfg.dataset, cfg.epochs, cfg.T0, cfg.lr, cfg.noise) == (
        "full", "ResNet-20", "cifar10", 160, 8, 0.1, 1e-3)
    assert vt_config("paper", dataset="cifar100").resolved().epochs == 200
    assert vt_config("paper", optimizer="adam").resolved().reset_momentum is False
    p = plan(cfg)
    assert [s["epochs"] for s in p["stages"]] == [8, 10, 12, 14, 17, 20, 24, 29, 26]
    assert p["relative_cost"] == pytest.approx(0.5024, abs=1e-4)  # Table 10 says 0.5490


@pytest.mark.parametrize("overrides, match", [
    ({"variant": "tiny"}, r"variant='tiny' is unknown: choose one of large, net2net, growing"),
    ({"model": "ResNet-99x"}, r"model='ResNet-99x' is not a model name"),
    ({"optimizer": "rmsprop"}, r"optimizer='rmsprop' is unknown: choose one of sgd, adam, avagrad"),
    ({"rounding": "odd"}, r"rounding='odd' is unknown"),
    ({"c0": 0}, r"c0=0 is not allowed"),
    ({"stages": 0}, r"stages=0 is not allowed: use a positive integer"),
    ({"batch_adapt": "yes"}, r"batch_adapt='yes' is not allowed: use True or False"),
    ({"rescale_without_bn": 0}, r"rescale_without_bn=0 is not allowed: use True or False"),
    ({"ra_rule": "sqrt"}, r"ra_rule='sqrt' is unknown"),
    ({"width_method": "copy"}, r"width_method='copy' is unknown: choose one of random, net2net, vt, vt-constraint"),
    ({"colour": 1}, r"unknown VT parameter\(s\) \['colour'\]"),
    ({"width_kind": "cubic"}, r"width_kind='cubic' is unknown: choose one of exponential, linear"),
    ({"grow_groups": "outer"}, r"grow_groups='outer' is unknown: choose one of all, inner"),
    ({"variant": "growing", "width_method": "firefly-simple", "width_options": {"stepz": 1}},
     r"\['stepz'\] are not options of method 'firefly-simple'; allowed: augment, batch_size"),
    ({"variant": "growing", "width_method": "firefly-simple", "width_options": {"steps": 0}}, r"steps=0 is not allowed"),
    ({"variant": "large", "width_options": {"steps": 3}}, r"variant='large' does not grow"),
    ({"optimizer": "lars", "variant": "full"}, r"optimizer='lars' has no stage-wise version, so variant='full'"),
    ({"probe": "stages.2.1.conv2.weight"}, r"probe='stages.2.1.conv2.weight' is not allowed: give a list"),
])
def test_bad_parameters_raise_naming_them(overrides, match):
    with pytest.raises(ValueError, match=match):
        vt_config("smoke", **overrides)


def test_a_wrong_probe_name_fails_before_any_data_is_read(tmp_path):
    cfg = vt_config("paper", probe=["stages.2.1.conv9.weight"], data_root=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"probe names \['stages.2.1.conv9.weight'\] are not parameters"):
        run_vt(cfg)


def test_lars_and_the_probe_on_a_growing_run(one_thread):
    """Table 11's LARS runs the global-LR variants (momentum reset like SGD); the probe logs every step of
    the watched layer, one norm per stage so far (Fig. 4(b, c))."""
    name = "stages.2.1.conv2.weight"
    h = run_vt(vt_config("smoke", variant="growing+vt", optimizer="lars", probe=[name], **TINY),
               progress=False).history
    assert h.meta["config"]["optimizer"] == "lars" and h.meta["config"]["lr"] == 5.0
    assert h.meta["config"]["reset_optimizer"] is True
    assert [len(r["stage_norms"][name]["grad"][-1]) for r in h.epochs] == [1, 2, 3, 3]
    assert [len(r["stage_norms"][name]["grad"]) for r in h.epochs] == [3] * 4  # 160 images, batch 64


def test_a_too_short_budget_fails_before_any_data_is_read(tmp_path):
    cfg = vt_config("paper", epochs=100, data_root=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="total=100 epochs is too small"):
        run_vt(cfg)


def test_cli_end_to_end(tmp_path):
    out = tmp_path / "vt.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "growth", "run", "vt", "--profile", "smoke", "--dataset-option",
                           "num_train=160", "--dataset-option", "num_test=64", "--out", str(out), "--json"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["variant"] == "full" and s["stage_epochs"] == [1, 1, 2] and s["growths"] == 2
    assert 0 < s["relative_cost"] < 1 and s["training_macs"] > 0 and s["optimizer"] == "ra-sgd"
    assert History.load(out).meta["recipe"] == "vt"


def test_cli_prints_the_summary(tmp_path, capsys, one_thread):
    out = tmp_path / "h.json"
    args = ["run", "vt", "--profile", "smoke", "--variant", "growing+vt", "--dataset-option", "num_train=160",
            "--dataset-option", "num_test=64", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "VT growing+vt (ResNet-20, sgd)" in text and "of the full model's" in text and str(out) in text


def test_cli_probe_and_ra_rule(tmp_path, one_thread):
    out = tmp_path / "h.json"
    args = ["run", "vt", "--profile", "smoke", "--probe", "stages.2.1.conv2.weight", "--ra-rule", "inverse",
            "--dataset-option", "num_train=160", "--dataset-option", "num_test=64", "--out", str(out)]
    assert main(args) == 0
    h = History.load(out)
    assert h.meta["recipe_config"]["ra_rule"] == "inverse" and h.meta["config"]["optimizer_options"] == {"rule": "inverse"}
    assert "stages.2.1.conv2.weight" in h.epochs[-1]["stage_norms"]


@pytest.mark.parametrize("args, word", [
    (["--variant", "huge"], "variant='huge'"),
    (["--stages", "0"], "stages=0"),
    (["--rounding", "up"], "rounding='up'"),
    (["--epochs", "2"], "total=2 epochs is too small"),
    (["--model", "WRN-x"], "model='WRN-x'"),
])
def test_cli_bad_values_exit_2(args, word, capsys, tmp_path):
    assert main(["run", "vt", *args, "--out", str(tmp_path / "h.json")]) == 2
    err = capsys.readouterr().err
    assert word in err and "Traceback" not in err and not (tmp_path / "h.json").exists()


def test_registered():
    assert "vt" in RECIPES and RECIPES["vt"].profiles == ("smoke", "bench", "paper")


@pytest.mark.parametrize("method", ["gradmax", "splitting", "firefly-simple", "firefly"])
def test_the_comparison_methods_grow_on_the_vt_schedule_and_charge_their_steps(method, tmp_path, one_thread):
    """Tables 2-3 run GradMax, Splitting and Firefly on the VT scheduler: each grows the planned
    channels, its data passes charged to the run and recorded per growth, the History stays JSON."""
    options = {"steps": 5} if method == "firefly-simple" else {}  # its 100 optimisation steps a group: minutes
    run = run_vt(vt_config("smoke", variant="growing", width_method=method, width_options=options, **TINY),
                 progress=False)
    h = run.history
    grows = [e for e in h.events if e["kind"] == "grow"]
    found = [e for e in h.events if e["kind"] == "width"]
    assert h.meta["channels"] == h.meta["stages"][-1]["channels"] and len(grows) == 2 == len(found)
    assert all(e["extra_macs"] > 0 for e in grows)
    assert h.meta["cost"]["extra_macs"][f"{method} growth step"] == sum(e["extra_macs"] for e in grows)
    assert [e["overhead_macs"] for e in found] == [e["extra_macs"] for e in grows]
    h.save(tmp_path / "h.json")
    assert [e["kind"] for e in History.load(tmp_path / "h.json").events] == ["width", "grow"] * 2
    relu1 = any(type(m).__name__ == "ReLU1" for m in run.model.modules())
    assert relu1 == (method == "gradmax")


def test_gradmax_schedule_grows_the_inner_width_alone_in_equal_steps(one_thread):
    """App. G: GradMax's schedule on its WRN without inner BN: the blocks' inner width 0.25 -> 1 in equal
    steps, the other groups at full width from the start."""
    cfg = vt_config("smoke", variant="growing", width_method="gradmax", model="WRNnoBN-10-1", width=1.0,
                    grow_groups="inner", width_kind="linear", stages=4, T0=1, epoch_kind="linear", epoch_rate=0.0,
                    epochs=5, **TINY)
    p = plan(cfg)
    assert [s["fraction"] for s in p["stages"]] == [0.25, 0.5, 0.75, 1.0] and [s["epochs"] for s in p["stages"]] == [1, 1, 1, 2]
    run = run_vt(cfg, progress=False)
    targets = [e["target"] for e in run.history.events if e["kind"] == "grow"]
    assert [t["stages.1.0.conv1"] for t in targets] == [16, 24, 32]
    assert all(t["stages.1.0"] == t["stem"] * 2 == 32 for t in targets)
    assert run.history.meta["channels"] == p["stages"][-1]["channels"]


def test_gradmax_long_schedule_costs_the_published_077x():
    """MixtureGrowth's Table 3: GradMax's long schedule (WRN-28-10's inner width 0.25 -> 1 in 12 equal steps,
    from iteration 10000 every 2500 of 200 epochs) costs 0.77X of the target's training FLOPs; with growths
    at whole epochs ours is 0.78X."""
    cfg = vt_config("paper", dataset="cifar100", variant="growing", width_method="gradmax", model="WRNnoBN-28-10",
                    grow_groups="inner", width_kind="linear", stages=13, T0=25.6, epoch_kind="steps", epoch_rate=6.4)
    p = plan(cfg, num_classes=100)
    assert [s["epochs"] for s in p["stages"]] == [26, *[6] * 11, 108]
    assert p["relative_cost"] == pytest.approx(0.77, abs=0.015)


def test_width_options_reach_the_method():
    cfg = vt_config("smoke", variant="growing", width_method="firefly-simple", width_options={"steps": 7})
    assert width_operator(cfg).steps == 7 and width_operator(cfg.resolved()).steps == 7
    assert width_operator(vt_config("smoke", variant="growing", width_method="firefly-simple")).steps == 100
