"""What the sizing scripts share: a portable-CPU process, and their runs two at a time in temporary folders."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from growth.history import History
from growth.machine import PORTABLE_CPU_ENV
from growth.runs import run_jobs


def portable_process(script: str, argv: list[str] | None) -> None:
    """Restart ``script`` with the portable CPU settings unless they are set (before torch starts its kernels)."""
    if any(os.environ.get(k) != v for k, v in PORTABLE_CPU_ENV.items()):
        os.execve(sys.executable, [sys.executable, script, *(sys.argv[1:] if argv is None else argv)],
                  {**os.environ, **PORTABLE_CPU_ENV})


def run_all(run: Callable, jobs: Callable[[Path], list[tuple[dict, Any, str]]], workers: int,
            summary: Callable[[dict, History], dict]) -> tuple[list[dict], float]:
    """Run every ``(about, config, path)`` of ``jobs(folder)`` with ``run`` (``workers`` processes, fresh), then
    ``summary(about, history)`` of each; returns the summaries and the elapsed seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        todo = jobs(Path(tmp))
        start = time.perf_counter()
        run_jobs(run, [(config, path) for _, config, path in todo], workers=workers, fresh=True)
        elapsed = time.perf_counter() - start
        return [summary(about, History.load(path)) for about, _, path in todo], elapsed
