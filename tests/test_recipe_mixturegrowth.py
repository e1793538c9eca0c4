"""growth.recipes.mixturegrowth: the FLOPs budget rule by hand, every row of Table 1 at smoke scale, the CLI,
and its errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from growth.__main__ import main
from growth.history import History
from growth.recipes import RECIPES
from growth.recipes.mixturegrowth import (
    METHODS, mixturegrowth_config, per_sample_macs, phase_epochs, run_mixturegrowth,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"dataset_options": {"num_train": 96, "num_test": 48, "num_classes": 10}}


def test_the_papers_budget_by_hand():
    """0.45X on CIFAR (200 epochs): network 2 for 200 epochs at a quarter of the target's MACs leaves
    90 - 50 = 40 grown epochs; the growth-point ablation (0.35X) leaves 70 - 50 f (Table 2's f = 1: 20);
    without fusion the grown net has the whole budget, 90 epochs."""
    macs = {"large": 400, "small": 100}
    mg = mixturegrowth_config("paper")
    assert phase_epochs(mg.resolved(), macs) == {"net1": 200, "net2": 200, "grown": 40}
    for f, grown in ((1.0, 20), (0.5, 45), (0.0, 70)):
        cfg = mixturegrowth_config("paper", budget=0.35, second_fraction=f).resolved()
        assert phase_epochs(cfg, macs) == {"net1": 200, "net2": round(200 * f), "grown": grown}
    assert phase_epochs(mixturegrowth_config("paper", fusion=False).resolved(), macs)["grown"] == 90
    assert phase_epochs(mixturegrowth_config("paper", method="gradmax").resolved(), macs) == \
        {"net1": 200, "net2": 0, "grown": 90}
    assert phase_epochs(mixturegrowth_config("paper", method="large-match").resolved(), macs)["grown"] == 90
    assert phase_epochs(mixturegrowth_config("paper", method="small-match").resolved(), macs)["net1"] == 360
    assert phase_epochs(mixturegrowth_config("paper", method="large").resolved(), macs)["grown"] == 200
    imagenet = mixturegrowth_config("paper", dataset="imagenet", model="ResNet-50", budget=0.35).resolved()
    assert imagenet.epochs == 90 and phase_epochs(imagenet, macs) == {"net1": 90, "net2": 90, "grown": 9}
    with pytest.raises(ValueError, match="leave no epoch"):
        phase_epochs(mixturegrowth_config("paper", budget=0.2).resolved(), macs)
    # Sec. 4.4's CKA setup: the small nets 63 epochs, the grown net to epoch 100
    cka = mixturegrowth_config("paper", epochs=63, grown_epochs=37).resolved()
    assert phase_epochs(cka, macs) == {"net1": 63, "net2": 63, "grown": 37}


def test_similarity_probe_snapshots_before_growth_and_at_the_end(one_thread):
    """Fig. 4's layer is the last block; Fig. 5's snapshots hold both members before tiling and the grown net."""
    cfg = mixturegrowth_config("smoke", similarity_samples=16, grown_epochs=1, **TINY)
    h = run_mixturegrowth(cfg).history
    assert h.meta["config"]["similarity"] == {"layer": "stages.2.0", "samples": 16, "snapshots": [8, 9]}
    assert [len(e["cka_epochs"]) for e in h.epochs] == list(range(1, 10))
    assert list(h.epochs[7]["cka_layers"]) == ["net1@8 ~ net2@8"]
    assert list(h.epochs[8]["cka_layers"]) == ["net1@8 ~ net@9", "net2@8 ~ net@9"]


def test_per_sample_macs_of_the_paper_nets():
    """The WRN-28-10 target and a WRN-28-5 member (8-channel stem): the member costs about a quarter."""
    macs = per_sample_macs(mixturegrowth_config("paper").resolved(), num_classes=100, image_size=32)
    assert 0.24 < macs["small"] / macs["large"] < 0.26


@pytest.mark.parametrize("method", ["mixturegrowth", "large", "large-match", "small", "small-match", "net2net",
                                    "gradmax-random", "gradmax"])
def test_each_row_runs_its_phases(method, one_thread):
    h = run_mixturegrowth(mixturegrowth_config("smoke", method=method, **TINY), progress=False).history
    phases = h.meta["phases"]
    assert len(h.epochs) == sum(phases.values())
    kinds = [e["kind"] for e in h.events if e["kind"] in ("grow", "member")]
    if method == "mixturegrowth":
        assert kinds == ["member", "grow"] and phases["net2"] == 4
        assert h.series("spec")[-1] == "TemplateWRNnoBN-10-1:grown"
        assert h.meta["cost"]["batch_macs"] > 0
    elif method in ("large", "large-match", "small", "small-match"):
        assert kinds == []
    else:
        assert kinds == ["grow"] and h.epochs[phases["net1"]]["params"] > h.epochs[0]["params"]
    assert h.meta["relative_cost"] > 0
    if method == "large":
        assert h.meta["relative_cost"] == pytest.approx(1.0)


def test_second_fraction_zero_is_growth_without_fusion(one_thread):
    h = run_mixturegrowth(mixturegrowth_config("smoke", second_fraction=0.0, **TINY), progress=False).history
    assert h.meta["phases"]["net2"] == 0 and [e["kind"] for e in h.events if e["kind"] in ("grow", "member")] == ["grow"]


def test_budget_is_met_by_the_measured_cost(one_thread):
    """What the run charged after network 1, over the target's full schedule, is the budget up to the
    rounding of the grown epochs (the members' MACs differ from a quarter by the stem)."""
    cfg = mixturegrowth_config("smoke", epochs=8, budget=0.45, **TINY)
    h = run_mixturegrowth(cfg, progress=False).history
    macs = h.meta["macs_per_sample"]
    expected = (h.meta["phases"]["net2"] * macs["small"] + h.meta["phases"]["grown"] * macs["large"]) / (8 * macs["large"])
    assert h.meta["relative_cost"] == pytest.approx(expected, rel=0.02)
    assert abs(h.meta["relative_cost"] - 0.45) <= 0.5 / 8 + 0.02


@pytest.mark.parametrize("overrides, match", [
    ({"method": "huge"}, "method='huge'"),
    ({"coefficient_init": "zeros"}, "coefficient_init='zeros'"),
    ({"sharing": "all"}, "sharing='all'"),
    ({"model": "ResNet-20"}, "tiles WRN"),
    ({"model": "WRN-x"}, "model='WRN-x'"),
    ({"budget": 0}, "budget=0"),
    ({"second_fraction": 1.5}, "second_fraction=1.5"),
    ({"templates": 0}, "templates=0"),
    ({"fusion": False, "method": "large"}, "fusion=False"),
    ({"grown_restarts": 0}, "grown_restarts=0"),
    ({"width_options": {"steps": 3}}, "no width method"),
    ({"grown_epochs": 0}, "grown_epochs=0"),
    ({"method": "large", "grown_epochs": 3}, "does not grow"),
    ({"similarity_samples": 2}, "similarity_samples=2"),
    ({"method": "firefly-simple", "width_options": {"stepz": 3}}, "stepz"),
])
def test_bad_parameters_raise_naming_them(overrides, match):
    with pytest.raises(ValueError, match=match):
        mixturegrowth_config("smoke", **overrides)


def test_a_budget_too_small_fails_before_any_data_is_read(tmp_path):
    cfg = mixturegrowth_config("paper", budget=0.2, data_root=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="leave no epoch"):
        run_mixturegrowth(cfg)


def test_cli_end_to_end_with_resume(tmp_path):
    out = tmp_path / "mg.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    args = [sys.executable, "-m", "growth", "run", "mixturegrowth", "--profile", "smoke", "--dataset-option",
            "num_train=96", "--dataset-option", "num_test=48", "--coefficient-init", "copy", "--out", str(out),
            "--json", "--resume"]
    first = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    s = json.loads(first.stdout)
    assert s["method"] == "mixturegrowth" and s["phases"] == {"net1": 4, "net2": 4, "grown": 1}
    h = History.load(out)
    assert h.meta["recipe"] == "mixturegrowth" and h.meta["recipe_config"]["coefficient_init"] == "copy"
    again = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    reused = json.loads(again.stdout)
    assert reused.pop("outcome") == "reused" and s.pop("outcome") == "computed"
    assert reused == s  # the finished History is reused: the same facts, wall-clock included


def test_cli_prints_the_summary(tmp_path, capsys, one_thread):
    out = tmp_path / "h.json"
    assert main(["run", "mixturegrowth", "--profile", "smoke", "--no-fusion", "--dataset-option", "num_train=96",
                 "--dataset-option", "num_test=48", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mixturegrowth without fusion (WRNnoBN-10-1)" in text and "network 2 0" in text


@pytest.mark.parametrize("args, word", [(["--method", "huge"], "method='huge'"), (["--budget", "0.01"], "leave no epoch")])
def test_cli_bad_values_exit_2(args, word, capsys, tmp_path):
    assert main(["run", "mixturegrowth", *args, "--out", str(tmp_path / "h.json")]) == 2
    err = capsys.readouterr().err
    assert word in err and "Traceback" not in err and not (tmp_path / "h.json").exists()


def test_width_options_reach_the_method(one_thread):
    cfg = mixturegrowth_config("smoke", method="firefly-simple", width_options={"steps": 2}, **TINY)
    h = run_mixturegrowth(cfg, progress=False).history
    assert h.meta["recipe_config"]["width_options"] == {"steps": 2}
    assert [e["kind"] for e in h.events if e["kind"] == "grow"] == ["grow"]


def test_registered():
    assert RECIPES["mixturegrowth"].profiles == ("smoke", "bench", "paper")
    assert set(METHODS) >= {"mixturegrowth", "large", "gradmax", "gradmax-random", "net2net", "firefly-simple"}
