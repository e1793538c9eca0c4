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
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Any, Callable, Iterable, Sequence

from .train import OUTCOMES, TrainingDiverged

FRESH_ENV = "GROWTH_FRESH"


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
             meta: dict[str, Any] | None = None, fresh: bool | None = None, quiet: bool = False) -> dict[str, str]:
    """Run every ``(config, path)`` of ``jobs`` as ``run(config, history_path=path, meta=meta, progress=False,
    resume=not fresh)`` (a recipe's run function); returns ``{path: outcome}`` and, unless ``quiet``,
    prints :func:`report`'s line.

    ``workers=1`` runs the jobs one after another in this process; ``workers > 1`` in that many fresh
    processes (``spawn``), each limited to one thread, so that independent runs fill the cores of a
    CPU; every run seeds itself, so its History does not depend on which worker ran it.  A run that
    diverges (:class:`growth.train.TrainingDiverged`) ends there, with its History marked diverged;
    the other jobs go on.  Every config with a ``validate()`` method is validated before any run starts.
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
    resume = not (fresh_requested() if fresh is None else fresh)
    todo = [(run, config, str(path), meta, resume) for config, path in jobs]
    if workers == 1:
        results = [_run_one(*job) for job in todo]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            results = [f.result() for f in [pool.submit(_run_one, *job) for job in todo]]
    outcomes = {path: outcome for path, (outcome, _) in zip(paths, results)}
    if not quiet:
        report(outcomes.values(), diverged=sum(d for _, d in results))
    return outcomes


def _run_one(run: Callable[..., Any], config: Any, path: str, meta: dict[str, Any] | None,
             resume: bool) -> tuple[str, bool]:
    """One job: its outcome, and whether it diverged (its History says so)."""
    try:
        return run(config, history_path=path, meta=meta, progress=False, resume=resume).outcome, False
    except TrainingDiverged as err:
        return err.outcome, True


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)
