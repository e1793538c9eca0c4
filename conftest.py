"""Pytest runs under the portable CPU kernels, so that the golden notebooks hold on any x86-64 AVX2 CPU.

The stored outputs of notebooks/ were computed with :data:`growth.machine.PORTABLE_CPU_ENV` (ATen's
AVX2 kernels, oneDNN capped at AVX2, MKL's COMPATIBLE branch, one thread, NumPy without its AVX-512
paths). PyTorch reads these settings when a process starts, so they are set here, before nbval
starts a notebook's kernel; every kernel inherits them, whatever the user's shell says.  So do the
layout and the threads: ``GROWTH_CHANNELS_LAST`` and ``GROWTH_THREADS`` are removed (growth.layout), and
the goldens train with the loop's defaults.

Under nbval, ``GROWTH_FRESH=1`` makes every notebook compute its runs anew (growth.runs), so that the
numbers nbval compares were made by this code on this machine, not read back from an earlier run.

Where the stored outputs cannot be matched (not x86-64, no AVX2 / FMA, or not the locked torch and
NumPy), nbval still executes every notebook, so an error in one still fails the run, but does not
compare outputs (its ``--nbval-lax`` mode); the report's header says so in one line, and why.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy
import torch

from growth.layout import LAYOUT_ENV, THREADS_ENV
from growth.machine import PORTABLE_CPU_ENV, portability_problem

REPO = Path(__file__).resolve().parent
os.environ.update(PORTABLE_CPU_ENV)
for variable in (LAYOUT_ENV, THREADS_ENV):  # the goldens keep the loop's defaults, whatever the shell says
    os.environ.pop(variable, None)
torch.set_num_threads(1)  # this process too; it had started before the line above


def locked_version(package: str) -> str | None:
    """The version requirements.lock pins ``package`` to, or None."""
    lock = REPO / "requirements.lock"
    if not lock.is_file():
        return None
    found = re.search(rf"^{re.escape(package)}==([^\s\\]+)", lock.read_text(encoding="utf-8"), re.MULTILINE)
    return found.group(1) if found else None


def golden_problem() -> str | None:
    """Why this machine cannot reproduce the golden notebooks' stored outputs (one line), or None."""
    problem = portability_problem()
    if problem:
        return problem
    for name, installed in (("torch", torch.__version__), ("numpy", numpy.__version__)):
        locked = locked_version(name)
        if locked is not None and installed.split("+")[0] != locked:
            return f"{name} {installed} is installed, the outputs were computed with {locked} (requirements.lock)"
    return None


def _nbval_on(config) -> bool:
    return bool(getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False))


def pytest_configure(config):
    if _nbval_on(config):
        os.environ["GROWTH_FRESH"] = "1"  # notebooks compute every run anew: nbval checks numbers made now
    problem = golden_problem()
    config.golden_problem = problem
    if problem and _nbval_on(config) and not config.option.nbval_lax:
        config.option.nbval_lax = True  # execute every cell, compare no output
        config.golden_lax = True


def _lax_line(config) -> str | None:
    if getattr(config, "golden_lax", False):
        return (f"nbval: stored outputs not compared on this machine, because {config.golden_problem}; "
                "the notebooks are still executed")
    return None


def pytest_report_header(config):
    return _lax_line(config)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    line = _lax_line(config)
    if line:
        terminalreporter.write_line(line, yellow=True)
