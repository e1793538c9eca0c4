"""Many runs, each done once: finished runs are found by what made them, unfinished ones resume.

:func:`run_jobs` runs ``run(config, history_path=path, ...)`` for a list of ``(config, path)`` jobs,
the way every notebook makes its runs.  Each job has a key (:func:`run_key`): the run function, the
configuration and the package's source (:func:`growth.fingerprint.source_digest`).  Before running a
job it looks at ``path``:

* **reused**: the History there has finished (complete or diverged) and carries the same key;
* **resumed**: the checkpoint beside it (:func:`growth.train.checkpoint_path_for`) has the same key;
  the run continues from it;
* **computed**: anything else.  A stale checkpoint (another key) is deleted first.

Any edit under ``growth/`` changes every key, so nothing made by other code is reused.  The
environment variable ``GROWTH_FRESH=1`` (or ``fresh=True``) computes every job anew: this is how the
golden notebooks run under nbval (``conftest.py``), so that nbval checks computed numbers.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from .checkpoint import CheckpointError, read_header
from .fingerprint import digest, function_identity, source_digest
from .history import History, IncompleteHistoryWarning
from .train import TrainingDiverged, checkpoint_path_for

FRESH_ENV = "GROWTH_FRESH"
OUTCOMES = ("reused", "resumed", "computed")


def run_key(run: Callable[..., Any], config: Any) -> str:
    """The key of one job: which function, which configuration, which package source."""
    return digest({"run": function_identity(run), "config": config, "source": source_digest()})


def fresh_requested() -> bool:
    """Whether ``GROWTH_FRESH`` asks for fresh runs (``1``, ``true``, ``yes``)."""
    return os.environ.get(FRESH_ENV, "").strip().lower() in {"1", "true", "yes"}


def job_state(path: str | os.PathLike, key: str) -> str:
    """What :func:`run_jobs` would do with a job of ``key`` at ``path``: ``reused``, ``resumed`` or
    ``computed`` (the module docstring's rules)."""
    path = Path(path)
    if path.is_file():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", IncompleteHistoryWarning)
                history = History.load(path)
        except (ValueError, OSError):
            history = None
        if history is not None and history.status in ("complete", "diverged") and history.meta.get("run_key") == key:
            return "reused"
    checkpoint = checkpoint_path_for(path)
    if checkpoint.is_file():
        try:
            header = read_header(checkpoint)
        except CheckpointError:
            header = {}
        if header.get("run_key") == key and header.get("source") == source_digest():
            return "resumed"
    return "computed"


def run_jobs(run: Callable[..., Any], jobs: Sequence[tuple[Any, str | os.PathLike]], *, workers: int = 1,
             meta: dict[str, Any] | None = None, fresh: bool | None = None, report: bool = True) -> dict[str, str]:
    """Run every ``(config, path)`` of ``jobs`` with ``run(config, history_path=path, meta=..., progress=False,
    resume=...)``, reusing and resuming as the module docstring says; returns ``{path: outcome}``.

    ``workers=1`` runs the jobs one after another in this process; ``workers > 1`` in that many fresh
    processes (``spawn``), each limited to one thread, so that independent runs fill the cores of a
    CPU; every run seeds itself, so its History does not depend on which worker ran it.  A run that
    diverges (:class:`growth.train.TrainingDiverged`) ends there, with its History marked diverged;
    the other jobs go on.  Every config is validated before any run starts.  ``meta`` goes into every
    History (with the job's ``run_key``).  ``report``: print one line, how many jobs were reused,
    resumed and computed (and how many diverged).
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
        config.validate()
    fresh = fresh_requested() if fresh is None else fresh
    plan = []
    for config, path in jobs:
        key = run_key(run, config)
        state = "computed" if fresh else job_state(path, key)
        if state == "computed":
            checkpoint_path_for(path).unlink(missing_ok=True)  # stale: another key, or a fresh run asked for
        plan.append((config, str(path), key, state))

    todo = [(config, path, {**(meta or {}), "run_key": key}, state == "resumed")
            for config, path, key, state in plan if state != "reused"]
    diverged = 0
    if workers == 1:
        for config, path, job_meta, resume in todo:
            diverged += _run_one(run, config, path, job_meta, resume)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            futures = [pool.submit(_run_one, run, *job) for job in todo]
            diverged += sum(f.result() for f in futures)
    outcomes = {path: state for _, path, _, state in plan}
    if report:
        counts = ", ".join(f"{sum(s == o for s in outcomes.values())} {o}" for o in OUTCOMES)
        extra = f" ({diverged} of the computed or resumed diverged)" if diverged else ""
        print(f"runs: {counts}{extra}; {FRESH_ENV}=1 computes every run anew")
    return outcomes


def _run_one(run: Callable[..., Any], config: Any, path: str, meta: dict[str, Any], resume: bool) -> int:
    """One job; 1 if it diverged (its History says so), else 0."""
    try:
        run(config, history_path=path, meta=meta, progress=False, resume=resume)
    except TrainingDiverged:
        return 1
    return 0


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)

