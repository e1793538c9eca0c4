"""Where a sweep's runs execute: this machine's cores, its GPUs, or a SLURM cluster.

:func:`growth.runs.run_jobs` hands its jobs to an executor; every job is a self-contained call (a recipe's
run function, its configuration, its History path) that resumes from its checkpoint, so any executor may
run it anywhere, and again after an interruption, without changing its History.

* :class:`LocalExecutor` ``(workers=1)``: one after another in this process, or ``workers`` spawned
  processes of one thread each, so that independent runs fill a CPU's cores; each worker's share of the
  cores (cores / workers) is what a run with ``TrainConfig(threads="auto")`` may take.
* :class:`GPUExecutor` ``(gpus=None)``: one worker process per GPU (``CUDA_VISIBLE_DEVICES`` set to that
  GPU alone before CUDA starts), each running one job at a time on it.
* :class:`ClusterExecutor` ``(folder, cluster="slurm", **parameters)``: every job a submitit job (SLURM
  parameters such as ``slurm_partition``, ``timeout_min``, ``gpus_per_node``); a job that is preempted or
  runs into its time limit is requeued by submitit and continues from its checkpoint.  ``cluster="local"``
  runs the jobs as local processes with the same requeue mechanism (submitit's local executor), how the
  tests exercise it.

:func:`executor_from_spec` builds one from a string, the form a notebook parameter, ``make book
EXECUTOR=...`` or the ``GROWTH_EXECUTOR`` environment variable takes: ``local``, ``local:4``, ``gpus``,
``gpus:0,1``, ``slurm:FOLDER[,key=value...]``, ``submitit-local:FOLDER[,key=value...]``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["ClusterExecutor", "Executor", "GPUExecutor", "LocalExecutor", "executor_from_spec", "visible_gpus"]

#: A job: a picklable function and its arguments; its result comes back to the caller.
Task = tuple
#: Called with (index of the task, its result) as each task finishes.
OnDone = Callable[[int, Any], None]


class Executor:
    """Runs tasks ``fn(*args)`` and returns their results in the order given; calls ``on_done`` as each ends."""

    def run(self, fn: Callable[..., Any], tasks: Sequence[Task], on_done: OnDone | None = None) -> list[Any]:
        raise NotImplementedError


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed: use a positive integer")
    return value


def _pool(fn, tasks, on_done, workers: int, initializer, initargs=()) -> list[Any]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results: list[Any] = [None] * len(tasks)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=initializer,
                             initargs=initargs) as pool:
        futures = {pool.submit(fn, *task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            if on_done is not None:
                on_done(i, results[i])
    return results


def _cpu_worker(cores: int) -> None:
    """Worker initializer: one thread (the same numbers as in one process), and ``cores`` named as this run's share
    of the machine (``growth.layout.CORES_ENV``), which a run with ``threads="auto"`` may take."""
    import torch

    from .layout import CORES_ENV

    torch.set_num_threads(1)
    os.environ[CORES_ENV] = str(cores)


class LocalExecutor(Executor):
    """This machine's CPU: ``workers=1`` runs in this process, more in spawned one-thread processes."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = _positive_int("workers", workers)

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"

    def run(self, fn, tasks, on_done=None):
        if self.workers == 1:
            results = []
            for i, task in enumerate(tasks):
                results.append(fn(*task))
                if on_done is not None:
                    on_done(i, results[-1])
            return results
        from .layout import cores_per_run

        return _pool(fn, tasks, on_done, self.workers, _cpu_worker, (max(1, cores_per_run() // self.workers),))


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as ``CUDA_VISIBLE_DEVICES`` entries (``"0"``, ``"1"``, ...)."""
    import torch

    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return [d.strip() for d in listed.split(",") if d.strip()][: torch.cuda.device_count()]
    return [str(i) for i in range(torch.cuda.device_count())]


def _pin_gpu(queue) -> None:
    """Worker initializer: take one GPU of the queue, the only one this process sees."""
    os.environ["CUDA_VISIBLE_DEVICES"] = queue.get()


class GPUExecutor(Executor):
    """One run per GPU at a time: a worker process per GPU of ``gpus`` (default: every visible one), each
    seeing its GPU alone, so that a configuration's ``device="auto"`` or ``"cuda"`` lands on it."""

    def __init__(self, gpus: Sequence[str | int] | None = None) -> None:
        found = visible_gpus() if gpus is None else [str(g) for g in gpus]
        if not found:
            raise ValueError("GPUExecutor: no GPU found (torch.cuda.is_available() is False); run on a machine "
                             "with GPUs, or use LocalExecutor / executor='local'")
        if len(set(found)) != len(found):
            raise ValueError(f"gpus={list(gpus)!r} names a GPU twice: give each once")
        self.gpus = found

    def __repr__(self) -> str:
        return f"GPUExecutor(gpus={self.gpus})"

    def run(self, fn, tasks, on_done=None):
        import multiprocessing

        queue = multiprocessing.get_context("spawn").Manager().Queue()
        for gpu in self.gpus:
            queue.put(gpu)
        return _pool(fn, tasks, on_done, len(self.gpus), _pin_gpu, (queue,))


class _Requeueable:
    """A submitit job that, when preempted or timed out, is requeued to resume from its checkpoint (its last
    argument, ``resume``, is set to True for the requeued call)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def checkpoint(self, *args: Any):
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args[:-1], True)


class ClusterExecutor(Executor):
    """Each task a submitit job under ``folder`` (logs, pickles); ``cluster``: ``"slurm"``, ``"local"`` (local
    processes, for tests and single machines) or None (submitit's choice: SLURM where ``sbatch`` exists).
    ``parameters`` go to ``update_parameters`` (e.g. ``slurm_partition="gpu"``, ``timeout_min=240``,
    ``gpus_per_node=1``); the task's last argument must be its ``resume`` flag (it is for
    :func:`growth.runs.run_jobs`), which a requeued job gets as True.  ``poll`` seconds between checks."""

    def __init__(self, folder: str | os.PathLike, cluster: str | None = "slurm", poll: float = 5.0,
                 **parameters: Any) -> None:
        try:
            import submitit
        except ImportError:
            raise ValueError("ClusterExecutor needs submitit: pip install 'growth[cluster]' (or submitit)") from None
        if cluster not in (None, "slurm", "local"):
            raise ValueError(f"cluster={cluster!r} is not allowed: use 'slurm', 'local' or None (submitit chooses)")
        if not (isinstance(poll, (int, float)) and poll > 0):
            raise ValueError(f"poll={poll!r} is not allowed: use a positive number of seconds")
        self.folder, self.cluster, self.poll = Path(folder), cluster, float(poll)
        self.parameters = dict(parameters)
        self.executor = submitit.AutoExecutor(folder=str(self.folder), cluster=cluster)
        try:
            self.executor.update_parameters(**self.parameters)
        except (NameError, TypeError, ValueError) as err:  # submitit names an unknown parameter by NameError
            raise ValueError(f"ClusterExecutor: parameters {self.parameters} are not all allowed here: {err}") from None
        self.jobs: list[Any] = []  # the submitted jobs (tests interrupt one of them)

    def __repr__(self) -> str:
        return f"ClusterExecutor({str(self.folder)!r}, cluster={self.cluster!r}, {self.parameters})"

    def run(self, fn, tasks, on_done=None):
        job_fn = _Requeueable(fn)
        with self.executor.batch():
            self.jobs = [self.executor.submit(job_fn, *task) for task in tasks]
        results: list[Any] = [None] * len(tasks)
        waiting = set(range(len(tasks)))
        while waiting:
            for i in sorted(waiting):
                if self.jobs[i].done():
                    results[i] = self.jobs[i].result()  # raises with the job's log path if it failed
                    waiting.discard(i)
                    if on_done is not None:
                        on_done(i, results[i])
            if waiting:
                time.sleep(self.poll)
        return results


def _parameter_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def executor_from_spec(spec: str | Executor | None, *, workers: int = 1) -> Executor:
    """An executor from its string form (module docstring); an :class:`Executor` is returned as it is;
    None gives ``LocalExecutor(workers)``."""
    if spec is None:
        return LocalExecutor(workers)
    if isinstance(spec, Executor):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"executor={spec!r} is not allowed: give an Executor or a string such as 'local:2', "
                         "'gpus', 'slurm:FOLDER,slurm_partition=gpu'")
    kind, _, rest = spec.strip().partition(":")
    if kind == "local":
        if rest and not rest.isdigit():
            raise ValueError(f"executor={spec!r}: the number of worker processes must be a positive integer")
        return LocalExecutor(int(rest) if rest else workers)
    if kind == "gpus":
        return GPUExecutor([g for g in rest.split(",") if g] or None)
    if kind in ("slurm", "submitit-local"):
        folder, *pairs = rest.split(",")
        if not folder:
            raise ValueError(f"executor={spec!r}: give the jobs' folder, e.g. '{kind}:runs/jobs'")
        bad = [p for p in pairs if "=" not in p]
        if bad:
            raise ValueError(f"executor={spec!r}: {bad} are not key=value parameters")
        parameters = {k.strip(): _parameter_value(v.strip()) for k, v in (p.split("=", 1) for p in pairs)}
        return ClusterExecutor(folder, cluster="slurm" if kind == "slurm" else "local", **parameters)
    raise ValueError(f"executor={spec!r} is unknown: use local[:N], gpus[:0,1,...], slurm:FOLDER[,key=value...] or "
                     "submitit-local:FOLDER[,key=value...]")
