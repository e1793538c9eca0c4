"""``python -m growth``: the describe command, in a subprocess as a user runs it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from growth.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "growth", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def _zoo():
    try:
        from growth.models import build_model
    except ImportError:
        pytest.skip("growth.models has no build_model yet (the zoo is not in this checkout)")
    return build_model


def test_describe_resnet20_json():
    build_model = _zoo()
    from growth.measure.cost import forward_macs

    proc = run_cli("describe", "ResNet-20", "--image-size", "32", "--num-classes", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    for key in ("name", "spec", "params", "macs", "image_size", "num_classes", "width"):
        assert key in info
    assert type(info["params"]) is int and type(info["macs"]) is int
    assert info["params"] == 269_722  # He et al.'s ResNet-20, option-A shortcuts
    assert info["macs"] == forward_macs(build_model("ResNet-20", num_classes=10, image_size=32))
    assert (info["name"], info["image_size"], info["num_classes"], info["width"]) == ("ResNet-20", 32, 10, 1.0)
    assert proc.stderr == ""


def test_describe_resnet18_imagenet_params():
    _zoo()
    proc = run_cli("describe", "ResNet-18", "--image-size", "224", "--num-classes", "1000", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["params"] == 11_689_512  # torchvision's resnet18
    assert round(info["macs"] / 1e7) == 182  # 1.82G, fvcore's count of ResNet-18


def test_describe_human_readable(capsys):
    _zoo()
    assert main(["describe", "ResNet-20", "--image-size", "32", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "params" in out.lower() and "MACs" in out
    assert "269,722" in out and "40,931,968" in out  # He et al.'s ResNet-20: 0.27M params, 41M MACs


def test_malformed_name_exits_2_naming_the_value():
    _zoo()
    proc = run_cli("describe", "Basic3ResNet-0-1", "--image-size", "32", "--num-classes", "10")
    assert proc.returncode == 2
    assert "Basic3ResNet-0-1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_unknown_model_exits_2(capsys):
    _zoo()
    assert main(["describe", "NoSuchNet-3", "--num-classes", "10"]) == 2
    err = capsys.readouterr().err
    assert "NoSuchNet-3" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args, bad",
    [
        (["--image-size", "0"], "'0'"),
        (["--image-size", "abc"], "'abc'"),
        (["--num-classes", "-3"], "'-3'"),
        (["--width", "nan"], "'nan'"),
    ],
)
def test_bad_numbers_exit_2(capsys, args, bad):
    assert main(["describe", "ResNet-20", *args]) == 2
    err = capsys.readouterr().err
    assert bad in err and "Traceback" not in err


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
