"""The installed environment is the locked one, and its torch/torchvision pair works.

requirements.lock pins every package with hashes so that pip installs PyPI's own torch and
torchvision wheels; a machine whose pip configuration offers another torch build (a CPU-only
wheel, say) would otherwise get a torchvision whose compiled ops do not load against it.
"""
from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"
ENV = REPO / "environment.yml"

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            pins[canonical(match[1])] = match[2]
    return pins


def env_pins() -> tuple[list, dict[str, str]]:
    data = yaml.safe_load(ENV.read_text(encoding="utf-8"))
    conda, pip = [], {}
    for dep in data["dependencies"]:
        if isinstance(dep, dict):
            for requirement in dep["pip"]:
                match = PIN.match(requirement)
                assert match, f"environment.yml: pip requirement {requirement!r} is not pinned with =="
                pip[canonical(match[1])] = match[2]
        else:
            conda.append(dep)
    return conda, pip


def test_lock_pins_torch_and_jupyter_book():
    pins = lock_pins()
    assert len(pins) > 50, "requirements.lock looks truncated"
    for name in ("torch", "torchvision", "jupyter-book", "papermill", "nbval", "pytest"):
        assert name in pins, f"requirements.lock does not pin {name}"


def test_environment_yml_matches_lock():
    """(a) environment.yml and requirements.lock name the same packages at the same versions."""
    conda, pip = env_pins()
    assert any(str(dep).replace(" ", "").startswith("python=3.11") for dep in conda), conda
    pins = lock_pins()
    missing = sorted(set(pins) - set(pip))
    extra = sorted(set(pip) - set(pins))
    assert not missing and not extra, (
        f"environment.yml is out of date (run `python3 tools/lock_to_env.py`): "
        f"missing {missing}, not in the lock {extra}")
    differ = {name: (pip[name], pins[name]) for name in pins if pip[name] != pins[name]}
    assert not differ, f"versions differ (environment.yml, lock): {differ}"


def test_torchvision_op_runs():
    """(b) torchvision's compiled ops load against the installed torch (the crash the lock prevents)."""
    import torch
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]])
    scores = torch.tensor([0.9, 0.8])
    keep = torchvision.ops.nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0]
    keep = torchvision.ops.nms(boxes, scores, iou_threshold=0.9)
    assert keep.tolist() == [0, 1]


def test_jupyter_book_major_version_is_1():
    """(c) the book's configuration (_config.yml, book/_toc.yml) is for Jupyter Book 1.x."""
    try:
        installed = version("jupyter-book")
    except PackageNotFoundError:
        pytest.fail("jupyter-book is not installed")
    assert installed.split(".")[0] == "1", f"jupyter-book {installed} installed; the book needs 1.x"
    assert installed == lock_pins()["jupyter-book"]


@pytest.mark.parametrize("name", ["torch", "torchvision"])
def test_installed_version_is_the_locked_one(name):
    """(d) torch (and torchvision) are exactly the locked versions, not a local build like +cpu."""
    module = __import__(name)
    locked = lock_pins()[name]
    assert version(name) == locked, f"{name} {version(name)} installed, the lock pins {locked}"
    assert module.__version__.split("+")[0] == locked, (
        f"{name}.__version__ is {module.__version__}; the lock pins {locked}")
