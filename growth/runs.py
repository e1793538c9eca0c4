"""Many runs, each done once: finished runs are reused, interrupted ones resumed, the rest computed.

Every run is content-addressed by :func:`growth.train`'s fingerprint (the training configuration,
the grower, the seed model, the data, the meta) and the package's source
(:func:`growth.fingerprint.source_digest`): called with ``resume=True``, ``train`` returns the
finished History it finds at its path if that run made it (``reused``), continues from the checkpoint
beside it (``resumed``), or starts (``computed``).  Any edit under ``growth/`` changes the source
digest, so nothing made by other code is reused.

:func:`run_jobs` runs a list of ``(config, path)`` jobs that way, the way every notebook makes its
runs, and :func:`report` prints how many were reused, resumed and computed.  The environment variable
``GROWTH_FRESH=1`` (or ``fresh=True``) computes every run anew: this is how the golden notebooks run
under nbval (``conftest.py``), so that nbval checks numbers computed now.

Where the runs execute is an executor (:mod:`growth.executors`): this machine's cores (the default, with
``workers`` processes), its GPUs, or a SLURM cluster.  ``GROWTH_EXECUTOR`` (e.g. ``gpus`` or
``slurm:jobs,slurm_partition=gpu``) chooses one for every call that does not name its own, so a whole
book can move to GPUs or a cluster without an edit (``make book EXECUTOR=gpus``).  As runs finish, a line
per run (runs done / total, its outcome, the estimated time left) goes to the file named by
``GROWTH_PROGRESS_FILE``, which ``tools/run_notebooks.py`` prints while a notebook runs; a notebook's own
output stays as it was.
"""
from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .executors import Executor, executor_from_spec
from .train import OUTCOMES, TrainingDiverged

FRESH_ENV = "GROWTH_FRESH"
EXECUTOR_ENV = "GROWTH_EXECUTOR"
PROGRESS_ENV = "GROWTH_PROGRESS_FILE"


def fresh_requested() -> bool:
    """Whether ``GROWTH_FRESH`` asks for fresh runs (``1``, ``true``, ``yes``)."""
    return os.environ.get(FRESH_ENV, "").strip().lower() in {"1", "true", "yes"}


def resume_default() -> bool:
    """``resume`` for :func:`growth.train` in a notebook: True unless ``GROWTH_FRESH`` asks for fresh runs."""
    return not fresh_requested()


def report(outcomes: Iterable[str], diverged: int = 0) -> str:
    """Print (and return) one line: how many runs were reused, resumed and computed."""
    counts = Counter(outcomes)
    unknown = sorted(set(counts) - set(OUTCOMES))
    if unknown:
        raise ValueError(f"outcomes {unknown} are unknown: use {', '.join(OUTCOMES)}")
    line = "runs: " + ", ".join(f"{counts[o]} {o}" for o in ("reused", "resumed", "computed"))
    if diverged:
        line += f" ({diverged} diverged)"
    line += f"; {FRESH_ENV}=1 computes every run anew"
    print(line)
    return line


def run_jobs(run: Callable[..., Any], jobs: Sequence[tuple[Any, str | os.PathLike]], *, workers: int = 1,
             executor: Executor | str | None = None, meta: dict[str, Any] | None = None, fresh: bool | None = None,
             quiet: bool = False) -> dict[str, str]:
    """Run every ``(config, path)`` of ``jobs`` as ``run(config, history_path=path, meta=meta, progress=False,
    resume=not fresh)`` (a recipe's run function); returns ``{path: outcome}`` and, unless ``quiet``,
    prints :func:`report`'s line.

    ``executor`` (an :class:`growth.executors.Executor` or its string form) runs them; without one,
    ``GROWTH_EXECUTOR`` if set, else this machine's CPU: ``workers=1`` one after another in this process,
    ``workers > 1`` in that many fresh processes (``spawn``) of one thread each.  Every run seeds itself, so its
    History does not depend on where it ran.  A run that diverges (:class:`growth.train.TrainingDiverged`)
    ends there, with its History marked diverged; the other jobs go on.  Every config with a ``validate()``
    method is validated before any run starts.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} is not allowed: use a positive integer")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"meta={meta!r} is not allowed: give a dict, or None")
    paths = [str(path) for _, path in jobs]
    if len(set(paths)) != len(paths):
        twice = sorted({p for p in paths if paths.count(p) > 1})
        raise ValueError(f"jobs write one History twice ({', '.join(twice)}): give every job its own path")
    for config, _ in jobs:
        if callable(getattr(config, "validate", None)):
            config.validate()
    chosen = executor_from_spec(executor if executor is not None else os.environ.get(EXECUTOR_ENV) or None,
                                workers=workers)
    resume = not (fresh_requested() if fresh is None else fresh)
    todo = [(run, config, str(path), meta, resume) for config, path in jobs]
    results = chosen.run(_run_one, todo, on_done=Progress(paths))
    outcomes = {path: outcome for path, (outcome, _) in zip(paths, results)}
    if not quiet:
        report(outcomes.values(), diverged=sum(d for _, d in results))
    return outcomes


class Progress:
    """Appends a line per finished run to ``GROWTH_PROGRESS_FILE`` (when set): runs done / total, the run's
    outcome and path, and the time left at the pace of the runs computed so far (runs finished per second,
    whatever number run at once)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths, self.start = list(paths), time.monotonic()
        self.done = self.computed = 0
        target = os.environ.get(PROGRESS_ENV)
        self.file = Path(target) if target else None

    def estimate(self) -> float | None:
        """Seconds left (None before a run is computed): the remaining runs at the computed runs' pace."""
        if not self.computed:
            return None
        return (len(self.paths) - self.done) * (time.monotonic() - self.start) / self.computed

    def __call__(self, index: int, result: tuple[str, bool]) -> None:
        outcome, diverged = result
        self.done += 1
        self.computed += outcome != "reused"
        if self.file is None:
            return
        left = self.estimate()
        when = "" if left is None or self.done == len(self.paths) else f"; about {_duration(left)} left"
        line = (f"runs {self.done}/{len(self.paths)}: {outcome}{' (diverged)' if diverged else ''} "
                f"{self.paths[index]}{when}\n")
        try:
            with open(self.file, "a") as f:
                f.write(line)
        except OSError as err:  # a progress line is a courtesy: the runs go on without it
            warnings.warn(f"{PROGRESS_ENV}={str(self.file)!r} cannot be written ({err}); no more progress lines")
            self.file = None


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _run_one(run: Callable[..., Any], config: Any, path: str, meta: dict[str, Any] | None,
             resume: bool) -> tuple[str, bool]:
    """One job: its outcome, and whether it diverged (its History says so)."""
    try:
        return run(config, history_path=path, meta=meta, progress=False, resume=resume).outcome, False
    except TrainingDiverged as err:
        return err.outcome, True
