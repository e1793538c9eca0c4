"""Timing one training step (forward + backward + SGD), shared by the growth-step benchmarks, and writing a
benchmark's result with its provenance."""
from __future__ import annotations

import copy
import datetime
import sys
import time
from pathlib import Path

import torch
from torch import nn


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so wall-clock times are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training_step(model: nn.Module, repeats: int, batch: int, device: torch.device,
                       image_size: int = 32) -> list[float]:
    """Seconds of ``repeats`` training steps of a copy of ``model`` on random images (two warm-up steps
    not counted): SGD momentum 0.9, weight decay 5e-4, 10 classes."""
    work = copy.deepcopy(model).train()
    optimizer = torch.optim.SGD(work.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    criterion = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, image_size, image_size, generator=generator).to(device)
    y = torch.randint(0, 10, (batch,), generator=generator).to(device)
    times = []
    for _ in range(repeats + 2):
        sync(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        criterion(work(x), y).backward()
        optimizer.step()
        sync(device)
        times.append(time.perf_counter() - start)
    return times[2:]


def each_step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, amp: bool,
                      device: torch.device) -> list[float]:
    """Seconds of each of ``steps`` training steps of ``model`` itself (SGD momentum 0.9, LR 0.01; bf16
    autocast when ``amp``), the device synchronised around each."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def write_result(result: dict, out: str | None, default_name: str, device: torch.device, **extra) -> Path:
    """Write ``result`` with the device, torch and Python versions and the date to ``out`` (default
    ``benchmarks/results/<default_name>``); print where.  ``extra``: more facts to record."""
    from growth.files import atomic_write_json
    from growth.train import describe_device

    path = Path(out or Path(__file__).parent / "results" / default_name)
    atomic_write_json(path, {**result, **extra, "device": describe_device(device), "torch": torch.__version__,
                             "python": sys.version.split()[0], "date": datetime.date.today().isoformat()})
    print(f"written to {path}")
    return path
