"""Which memory layout, and how many CPU threads, train an architecture fastest here: short timed probes,
remembered per machine.

``TrainConfig(channels_last="auto")`` asks :func:`fastest_layout` for the model it starts with and again
after every growth: a few training steps of a copy of the model in each layout (contiguous and
channels_last), alternating, on random inputs of the run's shape and batch size; channels_last is chosen
when it is at least ``margin`` faster.  ``TrainConfig(threads="auto")`` asks :func:`fastest_threads` the
same way for the CPU thread count: 1, 2, 4, ... up to the run's share of the cores (:func:`cores_per_run`:
a :class:`growth.executors.LocalExecutor` worker's share is the cores over the workers), and takes the
fewest within ``margin`` of the fastest.  The answers are cached in a JSON file (``GROWTH_CACHE`` or
``~/.cache/growth``, ``layout.json``) under the architecture, batch size, device, kernels and torch
version, so each architecture is probed once per machine.  On a 2-core CPU at one thread, channels_last
trained every architecture of the bench book faster (``benchmarks/cpu_layout.py``).

The choices depend on the machine's timing, so "auto" trades bit-reproducibility across machines for
speed: the golden notebooks keep the fixed defaults (channels_last on GPUs only, the process's threads).
A whole book takes its settings from ``GROWTH_CHANNELS_LAST`` and ``GROWTH_THREADS``
(:func:`layout_from_environment`, :func:`threads_from_environment`), which ``tools/run_notebooks.py`` sets
from its profile (the bench profile: "auto" for both); every ``TrainConfig`` that does not name them takes
them, and its History records them.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .files import atomic_write_json
from .machine import describe_device

__all__ = ["CACHE_ENV", "CORES_ENV", "LAYOUT_ENV", "THREADS_ENV", "cache_path", "cores_per_run", "fastest_layout",
           "fastest_threads", "layout_from_environment", "step_seconds", "threads_from_environment", "to_channels_last"]

CACHE_ENV = "GROWTH_CACHE"
LAYOUT_ENV = "GROWTH_CHANNELS_LAST"
THREADS_ENV = "GROWTH_THREADS"
CORES_ENV = "GROWTH_CORES_PER_RUN"
_LAYOUTS = {"auto": "auto", "true": True, "1": True, "false": False, "0": False}


def threads_from_environment() -> int | str | None:
    """``TrainConfig.threads`` when a run does not give one: ``GROWTH_THREADS`` (``auto`` or a positive number),
    else None (the process's thread count, as its executor set it)."""
    value = os.environ.get(THREADS_ENV, "").strip().lower()
    if not value:
        return None
    if value == "auto":
        return "auto"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV}={os.environ[THREADS_ENV]!r} is not allowed: use auto or a positive number "
                         "of threads (or leave it unset: the process's own thread count)")
    return int(value)


def cores_per_run() -> int:
    """The CPU cores one run may use: ``GROWTH_CORES_PER_RUN`` (set by :class:`growth.executors.LocalExecutor` in
    its workers: the cores over the workers), else every core this process may run on."""
    value = os.environ.get(CORES_ENV, "")
    if value.isdigit() and int(value) >= 1:
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def layout_from_environment() -> bool | str | None:
    """``TrainConfig.channels_last`` when a run does not give one: ``GROWTH_CHANNELS_LAST`` (``auto``,
    ``true`` / ``1``, ``false`` / ``0``), else None (channels_last on GPUs only)."""
    value = os.environ.get(LAYOUT_ENV, "").strip().lower()
    if not value:
        return None
    if value not in _LAYOUTS:
        raise ValueError(f"{LAYOUT_ENV}={os.environ[LAYOUT_ENV]!r} is not allowed: use auto, true or false "
                         "(or leave it unset: channels_last on GPUs only)")
    return _LAYOUTS[value]


def cache_path() -> Path:
    """The layout cache: ``$GROWTH_CACHE/layout.json``, else ``~/.cache/growth/layout.json``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root if root else Path.home() / ".cache" / "growth") / "layout.json"


def _key(model: nn.Module, input_shape: tuple[int, ...], batch_size: int, device: torch.device) -> str:
    shapes = [(n, tuple(p.shape)) for n, p in model.named_parameters()]
    architecture = hashlib.sha256(repr((type(model).__name__, shapes)).encode()).hexdigest()[:16]
    return f"{getattr(model, 'spec', type(model).__name__)}|{architecture}|{tuple(input_shape)}|{batch_size}|" \
           f"{describe_device(device)}|torch {torch.__version__}"


def to_channels_last(model: nn.Module) -> nn.Module:
    """``model`` with every 4-d parameter and buffer in channels_last memory, in place (``Module.to`` would
    also try the 5-d ones, such as a template net's stacked templates, and fail)."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.dim() == 4:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return model


def step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Seconds of ``steps`` training steps (forward, backward, SGD at LR 0: the weights stay as they are)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    loss_fn = nn.CrossEntropyLoss()
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    start = time.perf_counter()
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    return time.perf_counter() - start


def _probe(settings: dict, steps: int) -> dict[str, float]:
    """Seconds per step of each setting ``{name: (model, inputs, labels, threads)}``: the best of two alternating
    rounds after a warm-up."""
    times: dict[str, list[float]] = {name: [] for name in settings}
    threads_before = torch.get_num_threads()
    try:
        for round_ in range(3):  # round 0 warms every setting up; the order alternates
            for name, (net, x, y, threads) in settings.items() if round_ % 2 else reversed(settings.items()):
                torch.set_num_threads(threads)
                seconds = step_seconds(net, x, y, steps)
                if round_:
                    times[name].append(seconds)
    finally:
        torch.set_num_threads(threads_before)
    return {name: min(t) / steps for name, t in times.items()}


def _cached(kind: str, key: str, measure: Callable[[], tuple[Any, dict[str, float]]]) -> Any:
    """The cached choice of ``kind`` for ``key``, else ``measure()``'s ``(choice, seconds)``, which is cached."""
    path, full = cache_path(), f"{kind}|{key}"
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if full in cache:
        return cache[full]["choice"]
    choice, seconds = measure()
    cache[full] = {"choice": choice, "seconds": {k: round(v, 6) for k, v in seconds.items()}}
    try:
        atomic_write_json(path, cache)
    except OSError:  # a read-only home: the choice stands for this run
        pass
    return choice


def _batch(input_shape, batch_size: int, num_classes: int, device: torch.device):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *input_shape, generator=generator).to(device)
    return x, torch.randint(0, num_classes, (batch_size,), generator=generator).to(device)


def fastest_layout(model: nn.Module, input_shape: tuple[int, ...], batch_size: int, device: torch.device, *,
                   num_classes: int, steps: int = 3, margin: float = 0.05) -> bool:
    """True if channels_last trains ``model`` at least ``margin`` faster than contiguous memory here (cached;
    see the module docstring).  Inputs that are not images (token ids), and models without convolution
    weights (4-d, or a template net's stacked 5-d ones), have nothing to lay out: False, unmeasured.
    The model itself is not touched: the probe trains copies, with random numbers of its own (the run's
    random streams are left as they were)."""
    if len(input_shape) != 3 or not any(p.dim() >= 4 for p in model.parameters()):
        return False

    def measure():
        x, y = _batch(input_shape, batch_size, num_classes, device)
        threads = torch.get_num_threads()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            seconds = _probe({
                "contiguous": (copy.deepcopy(model).train(), x, y, threads),
                "channels_last": (to_channels_last(copy.deepcopy(model)).train(),
                                  x.contiguous(memory_format=torch.channels_last), y, threads)}, steps)
        return seconds["channels_last"] * (1 + margin) <= seconds["contiguous"], seconds

    key = _key(model, input_shape, batch_size, device)
    return bool(_cached("layout", key, measure))


def fastest_threads(model: nn.Module, input_shape: tuple[int, ...], batch_size: int, *, num_classes: int,
                    limit: int, channels_last: bool = False, steps: int = 3, margin: float = 0.05) -> int:
    """The fewest CPU threads, of 1, 2, 4, ... and ``limit``, that train ``model`` within ``margin`` of the
    fastest of them here (cached, as :func:`fastest_layout`; ``limit=1``: 1, unmeasured).  Probes copies in the
    run's layout; the model, the run's random streams and the process's thread count are left as they were."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit={limit!r} is not allowed: use a positive number of threads")
    counts = sorted({limit, *(2 ** i for i in range(limit.bit_length()) if 2 ** i < limit)})
    if len(counts) == 1:
        return limit
    device = torch.device("cpu")

    def measure():
        x, y = _batch(input_shape, batch_size, num_classes, device)
        net = copy.deepcopy(model).train()
        if channels_last and x.dim() == 4:
            net, x = to_channels_last(net), x.contiguous(memory_format=torch.channels_last)
        with torch.random.fork_rng(devices=[]):
            seconds = _probe({str(n): (net, x, y, n) for n in counts}, steps)
        best = min(seconds.values())
        return next(n for n in counts if seconds[str(n)] <= best * (1 + margin)), seconds

    key = f"{_key(model, input_shape, batch_size, device)}|channels_last {channels_last}|up to {limit}"
    return int(_cached("threads", key, measure))
