"""Which memory layout trains an architecture faster here: a short timed probe, remembered per machine.

``TrainConfig(channels_last="auto")`` asks :func:`fastest_layout` for the model it starts with and again
after every growth: a few training steps of a copy of the model in each layout (contiguous and
channels_last), alternating, on random inputs of the run's shape and batch size; channels_last is chosen
when it is at least ``margin`` faster.  The answer is cached in a JSON file (``GROWTH_CACHE`` or
``~/.cache/growth``, ``layout.json``) under the architecture, batch size, device, kernels and torch
version, so each architecture is probed once per machine.  On a 2-core CPU channels_last ran 1.12x to
1.49x faster on every architecture of the bench book (``benchmarks/cpu_layout.py``).

The choice depends on the machine's timing, so "auto" trades bit-reproducibility across machines for
speed: the golden notebooks and the book keep a fixed layout.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from .files import atomic_write_json
from .machine import describe_device

__all__ = ["CACHE_ENV", "cache_path", "fastest_layout", "step_seconds", "to_channels_last"]

CACHE_ENV = "GROWTH_CACHE"


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


def fastest_layout(model: nn.Module, input_shape: tuple[int, ...], batch_size: int, device: torch.device, *,
                   num_classes: int, steps: int = 3, margin: float = 0.05) -> bool:
    """True if channels_last trains ``model`` at least ``margin`` faster than contiguous memory here (cached;
    see the module docstring).  The model itself is not touched: the probe trains copies, with random
    numbers of its own (the run's random streams are left as they were)."""
    path = cache_path()
    key = _key(model, input_shape, batch_size, device)
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return bool(cache[key]["channels_last"])
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *input_shape, generator=generator).to(device)
    y = torch.randint(0, num_classes, (batch_size,), generator=generator).to(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        plain = copy.deepcopy(model).train()
        channels = to_channels_last(copy.deepcopy(model)).train()
        x_cl = x.contiguous(memory_format=torch.channels_last)
        settings = [("contiguous", plain, x), ("channels_last", channels, x_cl)]
        times = {"contiguous": [], "channels_last": []}
        for round_ in range(3):  # round 0 warms both up; the order alternates
            for name, net, inputs in settings if round_ % 2 else settings[::-1]:
                seconds = step_seconds(net, inputs, y, steps)
                if round_:
                    times[name].append(seconds)
    best = {name: min(t) for name, t in times.items()}
    chosen = best["channels_last"] * (1 + margin) <= best["contiguous"]
    cache[key] = {"channels_last": chosen, "seconds": {k: round(v / steps, 6) for k, v in best.items()}}
    try:
        atomic_write_json(path, cache)
    except OSError:  # a read-only home: the choice stands for this run
        pass
    return chosen
