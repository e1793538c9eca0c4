"""One training loop for every paper, firing growth events through the when / where / how protocol.

Per epoch: set the LR from the schedule (and the batch size, where it changes per epoch), train one
pass over the training split, count its cost (DESIGN.md: samples seen x training MACs of the current
architecture), evaluate on the validation and test splits, record everything in the
:class:`~growth.history.History`, then let the grower decide whether to grow.  After a growth event
the optimizer is rebuilt with the old state carried over to the surviving parameters
(:mod:`growth.optim`).  The history is rewritten atomically after every epoch, so a run killed
midway keeps every finished epoch.
"""
from __future__ import annotations

import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .cost import CostMeter
from .history import History
from .optim import OPTIMIZERS, build_optimizer, named_state, rebuild_optimizer
from .probe import StageNormProbe
from .protocol import GrowthContext, Grower
from .schedules import make_schedule


@dataclass
class TrainConfig:
    """Hyper-parameters of one run. ``None`` for ``amp`` / ``channels_last`` means: on for a GPU."""

    epochs: int
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "constant"
    schedule_options: dict = field(default_factory=dict)
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None
    channels_last: bool | None = None
    augment: bool = True
    reset_optimizer: bool = False
    eval_batch_size: int = 512
    optimizer_options: dict = field(default_factory=dict)  # further options of the RA optimizers / LARS
    batch_sizes: list[int] | None = None  # one per epoch (VT's Eq. 8); None: batch_size throughout
    probe: list[str] | None = None  # parameters whose per-stage gradient / update norms are logged (growth.probe)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, its value and what is allowed."""
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "epochs" else 1):
                allowed = "a non-negative integer" if name == "epochs" else "a positive integer"
                raise ValueError(f"{name}={value!r} is not allowed: use {allowed}")
        if self.batch_sizes is not None and (
                not isinstance(self.batch_sizes, (list, tuple)) or len(self.batch_sizes) != self.epochs
                or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in self.batch_sizes)):
            raise ValueError(f"batch_sizes={self.batch_sizes!r} is not allowed: use None or a list of "
                             f"{self.epochs} positive integers, one per epoch")
        if self.probe is not None:
            StageNormProbe(self.probe)  # raises on anything but a list of names
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} is unknown: choose one of {', '.join(OPTIMIZERS)}")
        if not isinstance(self.optimizer_options, dict):
            raise ValueError(f"optimizer_options={self.optimizer_options!r} is not allowed: give a dict of "
                             "keyword options (checked when the optimizer is built, before training)")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name}={value!r} is not allowed: use a non-negative number")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={self.label_smoothing!r} is not allowed: use a number in [0, 1)")
        make_schedule(self.schedule, self.lr, self.epochs, **self.schedule_options)
        resolve_device(self.device)


@dataclass
class Run:
    """What :func:`train` returns: the final (possibly grown) model and its history."""

    model: nn.Module
    history: History


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is the GPU when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a device: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asks for a GPU but none is available: use 'auto' or 'cpu'")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch: the same seed on the same machine gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def describe_device(device: torch.device) -> str:
    """A plain description of where a run ran, for every number's label."""
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads, {platform.machine()})"


def train(
    model: nn.Module,
    data: Any,
    config: TrainConfig | None = None,
    *,
    grower: Grower | None = None,
    history_path: str | os.PathLike | None = None,
    meta: dict[str, Any] | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> Run:
    """Train ``model`` on ``data`` (a :class:`growth.data.DataSplits`), growing it through ``grower``.

    ``config`` or keyword overrides give the hyper-parameters (:class:`TrainConfig`), e.g.
    ``train(model, data, epochs=30, lr=0.05)``.  ``meta`` (profile, dataset, ...) is stored in the
    history next to the configuration.  Returns a :class:`Run`; the model may be a new object if
    an operator replaced it.
    """
    config = _config(config, overrides)
    device = resolve_device(config.device)
    amp_dtype = torch.bfloat16 if (config.amp if config.amp is not None else device.type == "cuda") else None
    channels_last = config.channels_last if config.channels_last is not None else device.type == "cuda"
    schedule = make_schedule(config.schedule, config.lr, config.epochs, **config.schedule_options)

    seed_everything(config.seed)
    model = _place(model, device, channels_last)
    probe = StageNormProbe(config.probe) if config.probe else None
    if probe is not None:
        probe.check(model)
    optimizer = build_optimizer(
        model, config.optimizer, lr=config.lr, momentum=config.momentum,
        nesterov=config.nesterov, weight_decay=config.weight_decay, **config.optimizer_options,
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    meter = CostMeter(input_shape=getattr(data, "input_shape", None))
    history = History(meta={
        **(meta or {}),
        "config": asdict(config),
        "device": describe_device(device),
        "torch": torch.__version__,
        "dataset": (meta or {}).get("dataset", getattr(data, "name", None)),
        "seed": config.seed,
        "epochs": config.epochs,
        "grower": grower.name if grower is not None else None,
        "start_spec": getattr(model, "spec", type(model).__name__),
        "data_sizes": {split: int(getattr(data, f"num_{split}", 0)) for split in ("train", "val", "test")},
    })
    batch_size = config.batch_sizes[0] if config.batch_sizes else config.batch_size
    loader = data.train_loader(batch_size, seed=config.seed, augment=config.augment)
    has_val = getattr(data, "num_val", 0) > 0
    quiet = os.environ.get("CI") or (progress is None and not sys.stderr.isatty()) or progress is False
    bar = tqdm(total=config.epochs, desc=getattr(model, "spec", "train"), disable=bool(quiet), leave=False)

    observers = grower.step_observers() if grower is not None else []
    wall = 0.0
    finetune_from, end = None, config.epochs
    for epoch in range(config.epochs):
        if epoch >= end:
            break
        lr = schedule(epoch) if finetune_from is None else schedule(epoch - finetune_from)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        if config.batch_sizes and config.batch_sizes[epoch] != batch_size:  # a new loader, a new shuffle seed
            batch_size = config.batch_sizes[epoch]
            loader = data.train_loader(batch_size, seed=config.seed + epoch, augment=config.augment)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        observer_seconds = [0.0]
        train_loss, train_acc, seen = _train_epoch(model, loader, optimizer, criterion, amp_dtype, channels_last,
                                                   observers, observer_seconds, probe)
        _sync(device)
        train_seconds = time.perf_counter() - start
        meter.add_training(model, seen)  # fvcore's count is bookkeeping: kept out of the wall-clock

        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "spec": getattr(model, "spec", type(model).__name__),
            "params": sum(p.numel() for p in model.parameters()),
            "lr": lr,
            "batch_size": batch_size,
            "train_loss": train_loss,
            "train_acc": train_acc,
        }
        if device.type == "cuda":  # the device's measured peak of this epoch's training (VT Fig. 7(a))
            record["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
        if observers:  # e.g. MoGrow's moving average: its share of train_seconds
            record["observer_seconds"] = observer_seconds[0]
        if hasattr(optimizer, "stage_lrs"):  # growth.rate_adaptation: the LR each growth stage got last
            record["stage_lrs"] = optimizer.stage_lrs()
        if probe is not None:  # per step, the gradient / update norm of each stage's part (VT Fig. 4(b, c))
            record["stage_norms"] = probe.pop_epoch()
        start = time.perf_counter()
        for split in ("val", "test") if has_val else ("test",):
            loss, acc = evaluate(model, data.eval_loader(split, config.eval_batch_size), criterion,
                                 amp_dtype=amp_dtype, channels_last=channels_last)
            record[f"{split}_loss"], record[f"{split}_acc"] = loss, acc
        eval_seconds = time.perf_counter() - start
        for split in ("val", "test") if has_val else ("test",):
            meter.add_eval(model, getattr(data, f"num_{split}"))
        record["train_seconds"], record["eval_seconds"] = train_seconds, eval_seconds
        wall += train_seconds + eval_seconds

        history.epochs.append(record)
        if grower is not None and epoch + 1 < config.epochs:
            old_state = named_state(optimizer, model)
            ctx = GrowthContext(model=model, epoch=epoch + 1, epochs=config.epochs, history=history,
                                data=data, cost=meter, seed=config.seed)
            model, event = grower.step(ctx)
            if event is not None:
                model = _place(model, device, channels_last)
                optimizer = rebuild_optimizer(optimizer, old_state, model, reset=config.reset_optimizer)
                event["params"] = sum(p.numel() for p in model.parameters())
                history.events.append(event)
                bar.set_description(getattr(model, "spec", "train"))
                wall += event["seconds"]
            if grower.finished and grower.finetune is not None and finetune_from is None:
                ft = grower.finetune
                length = ft.epochs if ft.epochs is not None else config.epochs - (epoch + 1)
                finetune_from, end = epoch + 1, min(config.epochs, epoch + 1 + length)
                schedule = make_schedule(ft.schedule, ft.lr or config.lr, length, **ft.options)
                history.events.append({"epoch": epoch + 1, "kind": "finetune", "epochs": end - finetune_from,
                                       "schedule": ft.schedule, "spec": getattr(model, "spec", None)})
        record["macs"] = meter.total_macs
        record["wall"] = wall
        if history_path is not None:
            history.save(history_path)
        bar.set_postfix(train=f"{train_acc:.1f}", test=f"{record['test_acc']:.1f}")
        bar.update()
    bar.close()
    history.meta["cost"] = meter.state_dict()
    history.meta["end_spec"] = getattr(model, "spec", type(model).__name__)
    history.meta["epochs_run"] = len(history.epochs)
    if history_path is not None:
        history.save(history_path)
    return Run(model=model, history=history)


def _config(config: TrainConfig | None, overrides: dict[str, Any]) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"train() got unknown parameter(s) {unknown}; allowed: {sorted(known)}")
    if config is None:
        if "epochs" not in overrides:
            raise ValueError("epochs is required: pass epochs=N or a TrainConfig")
        config = TrainConfig(**overrides)
    elif overrides:
        config = TrainConfig(**{**asdict(config), **overrides})
    config.validate()
    return config


def _place(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_epoch(model, loader, optimizer, criterion, amp_dtype, channels_last, observers=(),
                 observer_seconds=None, probe=None) -> tuple[float, float, int]:
    """One pass over the training loader; loss and accuracy (%) accumulated on the device.

    ``observers``: callables ``f(model)`` run after every optimizer step; their time is added to
    ``observer_seconds[0]`` (a one-element list) when given.  ``probe`` (a
    :class:`~growth.probe.StageNormProbe`) is called after them, untimed: it is a measurement, not part
    of any method.
    """
    model.train()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for x, y in loader:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            out = model(x)
            loss = criterion(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if observers:
            start = time.perf_counter()
            for observe in observers:
                observe(model)
            if observer_seconds is not None:
                observer_seconds[0] += time.perf_counter() - start
        if probe is not None:
            probe(model)
        loss_sum += loss.detach() * y.numel()
        correct += (out.argmax(1) == y).sum()
        seen += y.numel()
    if seen == 0:
        raise ValueError("the training split is empty: check the dataset size, subsample and val_fraction")
    return loss_sum.item() / seen, 100.0 * correct.item() / seen, seen


@torch.inference_mode()
def evaluate(model: nn.Module, loader, criterion=None, *, amp_dtype=None, channels_last=False) -> tuple[float, float]:
    """Mean loss and accuracy (%) of ``model`` in eval mode over ``loader``."""
    criterion = criterion or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for x, y in loader:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            out = model(x)
        loss_sum += criterion(out.float(), y) * y.numel()
        correct += (out.argmax(1) == y).sum()
        seen += y.numel()
    model.train(was_training)
    if seen == 0:
        return float("nan"), float("nan")
    return loss_sum.item() / seen, 100.0 * correct.item() / seen
