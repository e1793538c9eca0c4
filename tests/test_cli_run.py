"""``python -m growth run RECIPE``: an AutoGrow run end to end in a subprocess, and its errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from growth.__main__ import main
from growth.history import History

ROOT = Path(__file__).resolve().parents[1]

# A few seconds: 160 synthetic samples, width 0.25; tau = 100 points freezes at every decision, so the
# found net is known: Basic3ResNet-2-2-2 (see tests/test_recipes.py).
TINY = ["--profile", "smoke", "--dataset-option", "num_train=160", "--dataset-option", "num_test=64",
        "--K", "1", "--J", "1", "--tau", "100", "--epochs", "6", "--finetune-epochs", "1"]


def run_cli(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "growth", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


def test_run_autogrow_end_to_end(tmp_path):
    out = tmp_path / "runs" / "autogrow.json"
    proc = run_cli("run", "autogrow", *TINY, "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["found_net"] == "Basic3ResNet-2-2-2" and summary["seed_net"] == "Basic3ResNet-1-1-1"
    assert summary["variant"] == "p-AutoGrow" and summary["profile"] == "smoke" and summary["K"] == 1
    assert 0 <= summary["test_acc"] <= 100 and summary["training_macs"] > 0 and summary["forward_macs"] > 0
    assert [r["stage"] for r in summary["frozen"]] == [0, 1, 2] and summary["finetune_epochs"] == 1
    h = History.load(out)
    assert h.meta["found_net"] == "Basic3ResNet-2-2-2" and len(h.epochs) == summary["epochs_run"] == 5
    assert summary["history"] == str(out)


def test_run_prints_the_found_net_accuracy_and_cost(tmp_path, capsys, one_thread):
    out = tmp_path / "h.json"
    assert main(["run", "autogrow", *TINY, "--variant", "p", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "found net:       Basic3ResNet-2-2-2" in text
    assert "test accuracy:" in text and "MACs" in text and "profile smoke" in text
    assert str(out) in text and out.exists()


@pytest.mark.parametrize(
    "args, word",
    [
        (["--K", "0"], "K=0"),
        (["--tau", "-1"], "tau=-1"),
        (["--init", "xavier"], "init='xavier'"),
        (["--seed-net", "WRN-28-10"], "not depth-growable"),
        (["--dataset", "cifar10", "--data-root", "/nonexistent/growth-data"], "/nonexistent/growth-data"),
        (["--dataset-option", "num_train"], "KEY=VALUE"),
        (["--dataset-option", "colour=1"], "colour"),
        (["--epochs", "0"], "growth_epochs=0"),
    ],
)
def test_bad_values_exit_2_naming_them(args, word, capsys, tmp_path):
    assert main(["run", "autogrow", *args, "--out", str(tmp_path / "h.json")]) == 2
    captured = capsys.readouterr()
    assert word in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and not (tmp_path / "h.json").exists()


@pytest.mark.parametrize("args", [["run", "nosuchrecipe"], ["run", "autogrow", "--variant", "x"], ["run"]])
def test_usage_errors_exit_2(args, capsys):
    assert main(args) == 2


def test_run_help_lists_the_recipes(capsys):
    assert main(["run", "--help"]) == 0
    assert "autogrow" in capsys.readouterr().out
    assert main(["run", "autogrow", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--variant", "--K", "--J", "--tau", "--init", "--seed-net", "--dataset", "--subsample",
                 "--epochs", "--finetune-epochs", "--lr", "--seed", "--device", "--profile", "--out"):
        assert flag in out


def test_run_fragrow_prints_the_net_errors_and_e_bar(tmp_path, capsys, one_thread):
    out = tmp_path / "fragrow.json"
    assert main(["run", "fragrow", "--profile", "smoke", "--family", "vgg", "--policy", "periodic",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "VGG-1-1-1-1-2 -> VGG-1-2-2-1-2 (target reached: True)" in text
    assert "after epochs [2, 4]" in text and "E-bar 3.00 epochs" in text and "test error" in text
    assert History.load(out).meta["policy"] == "periodic"
    assert main(["run", "fragrow", "--profile", "smoke", "--target-net", "Basic4ResNet-1-2-2-2"]) == 2
    assert "shallower than the seed" in capsys.readouterr().err
