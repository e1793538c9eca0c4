"""One training loop for every paper, firing growth events through the when / where / how protocol.

Per epoch: set the LR from the schedule (and the batch size, where it changes per epoch; and the
training stage of a growing data stream, :mod:`growth.data.stream`), train one
pass over the training split, count its cost (samples seen x training MACs of the current
architecture), evaluate on the validation and test splits, record everything in the
:class:`~growth.history.History`, then let the grower decide whether to grow.  After a growth event
the optimizer is rebuilt with the old state carried over to the surviving parameters
(:mod:`growth.optim`).

Nothing is lost to a kill: after every epoch the History is rewritten atomically and a checkpoint
(:mod:`growth.checkpoint`) holds the model, the optimizer with its carried state, the grower's parts,
the cost meter, the History, the loop's position and every random stream (PyTorch's, NumPy's,
Python's, the data order's and the augmentation's).  ``train(..., resume=True)`` continues from it
and gives, on CPU, the History an uninterrupted run gives, bit for bit but for wall-clock fields.
A run whose loss becomes non-finite stops (:class:`TrainingDiverged`) with its History marked
``diverged``.  Every argument is checked before any work starts.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import os
import random
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import distributed as _distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .measure.cost import CostMeter, example_input
from .epoch import evaluate, train_epoch
from .files import FileLock, check_writable, remove_stale_temporaries
from .fingerprint import run_fingerprint, source_digest
from .layout import (cores_per_run, fastest_layout, fastest_threads, layout_from_environment, threads_from_environment,
                     to_channels_last)
from .history import WALL_CLOCK_KEYS, History, IncompleteHistoryWarning
from .machine import available_memory_bytes, describe_device, machine_info
from .optim import OPTIMIZERS, build_optimizer, named_state, rebuild_optimizer
from .measure.probe import StageNormProbe
from .measure.similarity import SimilarityProbe
from .protocol import GrowthContext, Grower
from .optim.schedules import make_schedule


@dataclass
class TrainConfig:
    """Hyper-parameters of one run. ``None`` for ``amp`` / ``channels_last`` means: on for a GPU; a
    ``channels_last`` not given is ``GROWTH_CHANNELS_LAST``'s when that is set
    (:func:`growth.layout.layout_from_environment`: how a profile sets it for a whole book); ``threads``, the
    CPU threads a run trains with (a number, "auto": :func:`growth.layout.fastest_threads`), likewise from
    ``GROWTH_THREADS``, else None: the process's own.
    ``eval_batch_size=None`` evaluates in batches of ``batch_size``: on one CPU thread that ran 0.97x to 2.5x
    the speed of batches of 512 on the bench book's architectures (``benchmarks/cpu_layout.py``)."""

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
    channels_last: bool | str | None = field(default_factory=layout_from_environment)  # "auto": growth.layout
    threads: int | str | None = field(default_factory=threads_from_environment)  # CPU threads; "auto": growth.layout
    augment: bool = True
    reset_optimizer: bool = False
    eval_batch_size: int | None = None  # None: batch_size
    optimizer_options: dict = field(default_factory=dict)  # further options of the RA optimizers / LARS
    batch_sizes: list[int] | None = None  # one per epoch (VT's Eq. 8); None: batch_size throughout
    probe: list[str] | None = None  # parameters whose per-stage gradient / update norms are logged (growth.measure.probe)
    similarity: dict | None = None  # options of the CKA probe run after every epoch (growth.measure.similarity)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, its value and what is allowed."""
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if name == "eval_batch_size" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "epochs" else 1):
                allowed = {"epochs": "a non-negative integer", "batch_size": "a positive integer"}.get(
                    name, "a positive integer, or None (batch_size)")
                raise ValueError(f"{name}={value!r} is not allowed: use {allowed}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} is not allowed: use a non-negative integer")
        if self.batch_sizes is not None and (
                not isinstance(self.batch_sizes, (list, tuple)) or len(self.batch_sizes) != self.epochs
                or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in self.batch_sizes)):
            raise ValueError(f"batch_sizes={self.batch_sizes!r} is not allowed: use None or a list of "
                             f"{self.epochs} positive integers, one per epoch")
        if self.probe is not None:
            StageNormProbe(self.probe)  # raises on anything but a list of names
        if self.similarity is not None:
            SimilarityProbe.from_options(self.similarity)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} is unknown: choose one of {', '.join(OPTIMIZERS)}")
        if not isinstance(self.optimizer_options, dict):
            raise ValueError(f"optimizer_options={self.optimizer_options!r} is not allowed: give a dict of "
                             "keyword options (checked when the optimizer is built, before training)")
        if not isinstance(self.schedule_options, dict):
            raise ValueError(f"schedule_options={self.schedule_options!r} is not allowed: give a dict of options")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}={value!r} is not allowed: use a finite non-negative number")
        if self.momentum >= 1:
            raise ValueError(f"momentum={self.momentum!r} is not allowed: use a number in [0, 1)")
        if isinstance(self.label_smoothing, bool) or not isinstance(self.label_smoothing, numbers.Real) \
                or not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={self.label_smoothing!r} is not allowed: use a number in [0, 1)")
        for name in ("nesterov", "augment", "reset_optimizer"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed: use True or False")
        for name in ("amp", "channels_last"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool) and not (name == "channels_last" and value == "auto"):
                raise ValueError(f"{name}={value!r} is not allowed: use True, False or None (None: on for a GPU)"
                                 + ("; or 'auto' (the faster layout per architecture, measured here)"
                                    if name == "channels_last" else ""))
        if self.threads is not None and self.threads != "auto" and (
                isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads={self.threads!r} is not allowed: use a positive number of CPU threads, 'auto' "
                             "(the fewest that train fastest, measured here) or None (the process's own)")
        make_schedule(self.schedule, self.lr, self.epochs, **self.schedule_options)
        resolve_device(self.device)


OUTCOMES = ("computed", "resumed", "reused")


@dataclass
class Run:
    """What :func:`train` returns: the final (possibly grown) model and its history, and how the run
    was made (``outcome``): ``computed`` from the start, ``resumed`` from a checkpoint, or ``reused``,
    a finished run found at the History's path (``model`` is then ``None``: the History is the result)."""

    model: nn.Module | None
    history: History
    outcome: str = "computed"


class TrainingDiverged(RuntimeError):
    """The training loss became non-finite; the run stopped.  ``history`` is the run's History
    (saved, if it had a path, marked ``diverged``), ``model`` the model at that point."""

    def __init__(self, message: str, *, history: History | None = None, model: nn.Module | None = None,
                 outcome: str = "computed") -> None:
        super().__init__(message)
        self.history, self.model, self.outcome = history, model, outcome

    def __reduce__(self):  # survives a worker process (growth.runs.run_jobs); history kept, model dropped
        return (_diverged, (str(self), self.history, self.outcome))


def _diverged(message: str, history: History | None, outcome: str) -> TrainingDiverged:
    return TrainingDiverged(message, history=history, outcome=outcome)


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


def checkpoint_path_for(history_path: str | os.PathLike) -> Path:
    """Where a run writing ``history_path`` keeps its checkpoint: beside it, suffix ``.ckpt``."""
    return Path(history_path).with_suffix(".ckpt")


@dataclass
class _Position:
    """Where the loop is: what a checkpoint needs besides the objects it pickles."""

    epoch: int = 0  # the next epoch to train (0-based)
    end: int = 0  # the epoch after the last one (fine-tuning may end the run early)
    wall: float = 0.0
    finetune_from: int | None = None
    finetune_length: int | None = None
    batch_size: int = 0
    loader_seed: int = 0


def train(
    model: nn.Module,
    data: Any,
    config: TrainConfig | None = None,
    *,
    grower: Grower | None = None,
    history_path: str | os.PathLike | None = None,
    meta: dict[str, Any] | None = None,
    progress: bool | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    finalize: Callable[[Run], None] | None = None,
    **overrides: Any,
) -> Run:
    """Train ``model`` on ``data`` (a :class:`growth.data.DataSplits`), growing it through ``grower``.

    ``config`` or keyword overrides give the hyper-parameters (:class:`TrainConfig`), e.g.
    ``train(model, data, epochs=30, lr=0.05)``.  ``meta`` (profile, dataset, ...) is stored in the
    history next to the configuration.  Returns a :class:`Run`; the model may be a new object if
    an operator replaced it.

    ``history_path``: the History's JSON, rewritten after every epoch.  ``checkpoint_path``: the
    checkpoint, written every ``checkpoint_every`` epochs (0: never); by default beside the History
    (:func:`checkpoint_path_for`), and deleted once the run has finished.

    ``resume``: carry this run to its end with as little work as possible.  A finished History at
    ``history_path`` made by this very run (the same fingerprint: configuration, grower, seed model,
    data and meta; and the same package source) is returned as it is (``outcome="reused"``, no
    model); else the checkpoint, if there is one, is continued (``"resumed"``; a checkpoint of another
    configuration or code version, or a damaged one, is refused with
    :class:`growth.checkpoint.CheckpointError`); else the run starts (``"computed"``).  On resume the
    grower continues with its checkpointed state.  ``finalize(run)`` may add to ``run.history.meta``
    before the last write (a recipe's summary facts).
    Raises :class:`TrainingDiverged` when the training loss becomes non-finite (also when a reused
    History says the run diverged).
    """
    config = _config(config, overrides)
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 0:
        raise ValueError(f"checkpoint_every={checkpoint_every!r} is not allowed: use a non-negative integer "
                         "(epochs between checkpoints; 0: none)")
    if not isinstance(resume, bool):
        raise ValueError(f"resume={resume!r} is not allowed: use True or False")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"meta={meta!r} is not allowed: give a dict of JSON-able facts, or None")
    if finalize is not None and not callable(finalize):
        raise ValueError(f"finalize={finalize!r} is not allowed: give a function of the Run, or None")
    if grower is not None and not isinstance(grower, Grower):
        raise ValueError(f"grower={grower!r} is not allowed: give a growth.Grower (when, where, how), or None")
    if history_path is not None:
        history_path = check_writable(history_path, "history_path")
    own_checkpoint_path = checkpoint_path is not None
    if checkpoint_path is None and history_path is not None and checkpoint_every:
        checkpoint_path = checkpoint_path_for(history_path)
    if checkpoint_path is not None:
        checkpoint_path = check_writable(checkpoint_path, "checkpoint_path")
        if history_path is not None and checkpoint_path.resolve() == history_path.resolve():
            raise ValueError(f"checkpoint_path={str(checkpoint_path)!r} is the history_path: give them two files")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint: give history_path (the checkpoint sits beside it) "
                         "or checkpoint_path")
    device = resolve_device(config.device)
    processes = _distributed.current()
    if processes is not None:
        for size in sorted(set(config.batch_sizes or [config.batch_size])):
            processes.check_batch_size(size)
        device = processes.device(device)
    writes = processes is None or processes.is_main  # only rank 0 writes the History and the checkpoints
    largest_batch = min(max(config.batch_sizes or [config.batch_size]), max(1, int(getattr(data, "num_train", 1))))
    check_model_and_data(model, data, largest_batch, device)
    if grower is not None:
        grower.check(model)

    own = (history_path, "history"), (checkpoint_path if own_checkpoint_path else None, "checkpoint")
    with contextlib.ExitStack() as locks:  # a lock per file named by the caller (a default checkpoint: its History's)
        locks.callback(torch.set_num_threads, torch.get_num_threads())  # config.threads holds for this run only
        for path, what in own if writes else ():
            if path is not None:
                locks.enter_context(FileLock(path, what))
        for path in (history_path, checkpoint_path) if writes else ():
            if path is not None:
                remove_stale_temporaries(path)  # left by a kill during a save; ours to delete now
        return _train(model, data, config, device, grower=grower, history_path=history_path, meta=meta,
                      progress=progress, checkpoint_path=checkpoint_path, checkpoint_every=checkpoint_every,
                      resume=resume, finalize=finalize, processes=processes, writes=writes)


def _train(model, data, config, device, *, grower, history_path, meta, progress, checkpoint_path, checkpoint_every,
           resume, finalize, processes, writes) -> Run:
    amp_dtype = torch.bfloat16 if (config.amp if config.amp is not None else device.type == "cuda") else None
    auto_layout = config.channels_last == "auto"
    fixed_layout = config.channels_last if config.channels_last is not None else device.type == "cuda"
    fingerprint = run_fingerprint(config, grower, model, data, meta)  # of the seed model, before any step

    auto_threads = config.threads == "auto"
    first_batch = (config.batch_sizes or [config.batch_size])[0]
    channels_last, threads = (False if auto_layout else fixed_layout), None

    def settle(model) -> nn.Module:
        """``model`` on the device in its layout (the configured one, or the faster one here), and on a CPU the
        threads it trains with (``config.threads``; "auto": the fewest that train it fastest); rank 0's choices."""
        nonlocal channels_last, threads
        if auto_layout:
            faster = fastest_layout(model.to(device), tuple(data.input_shape), first_batch, device,
                                    num_classes=data.num_classes)
            channels_last = processes.broadcast(faster) if processes is not None else faster
        model = _place(model, device, channels_last)
        if device.type == "cpu" and config.threads is not None:
            threads = config.threads if not auto_threads else fastest_threads(
                model, tuple(data.input_shape), first_batch, num_classes=data.num_classes, limit=cores_per_run(),
                channels_last=channels_last)
            threads = processes.broadcast(threads) if processes is not None and auto_threads else threads
            torch.set_num_threads(threads)
        return model

    seed_everything(config.seed)
    model = settle(model)
    probe = StageNormProbe(config.probe) if config.probe else None
    if probe is not None:
        probe.check(model)
    similarity = SimilarityProbe.from_options(config.similarity) if config.similarity is not None else None
    if similarity is not None:
        similarity.check(model, int(getattr(data, "num_test", 0)))
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
        "machine": machine_info(device),
        "torch": torch.__version__,
        "source": source_digest(),
        "dataset": (meta or {}).get("dataset", getattr(data, "name", None)),
        "seed": config.seed,
        "epochs": config.epochs,
        "grower": grower.name if grower is not None else None,
        "start_spec": getattr(model, "spec", type(model).__name__),
        "data_sizes": {split: int(getattr(data, f"num_{split}", 0)) for split in ("train", "val", "test")},
        "status": "running",
    })
    pos = _Position(end=config.epochs, batch_size=config.batch_sizes[0] if config.batch_sizes else config.batch_size,
                    loader_seed=config.seed)
    stream = getattr(data, "stage_at", None)  # a growing data stream (growth.data.stream): its stage per epoch
    if stream is not None:
        data.stage = stream(0)
    loader = data.train_loader(pos.batch_size, seed=pos.loader_seed, augment=config.augment)
    history.meta["fingerprint"] = fingerprint
    header = {"fingerprint": fingerprint, "source": source_digest()}

    finished = _finished_history(history_path, fingerprint) if resume and history_path is not None else None
    if finished is not None:
        if finished.diverged:
            raise TrainingDiverged(f"this run diverged before ({finished.meta.get('diverged')}); its History is "
                                   f"{history_path}", history=finished, outcome="reused")
        return Run(model=None, history=finished, outcome="reused")
    outcome = "computed"
    if resume and checkpoint_path.exists():
        outcome = "resumed"
        _, payload = load_checkpoint(checkpoint_path, source=source_digest(), fingerprint=fingerprint,
                                     map_location=device)
        model, optimizer, probe, meter = payload["model"], payload["optimizer"], payload["probe"], payload["meter"]
        if auto_layout or auto_threads:  # the checkpointed model may have grown since the seed was measured
            model = settle(model)
        similarity = payload["similarity"]
        if grower is not None:
            grower.__dict__.update(payload["grower"].__dict__)
        pos = _Position(**payload["position"])
        if stream is not None:  # the stage the checkpointed loader served: the last epoch trained
            data.stage = stream(max(pos.epoch - 1, 0))
        loader = data.train_loader(pos.batch_size, seed=pos.loader_seed, augment=config.augment)
        loader.load_state_dict(payload["loader"])
        saved = payload["history"]
        history = History(meta={**saved["meta"], "device": history.meta["device"], "machine": history.meta["machine"],
                                "resumed": [*saved["meta"].get("resumed", []), pos.epoch]},
                          epochs=saved["epochs"], events=saved["events"])
        _set_rng_state(payload["rng"])
    elif checkpoint_path is not None and checkpoint_path.exists() and writes:
        checkpoint_path.unlink()  # a fresh run: an old checkpoint is stale
    history.meta["outcome"] = outcome
    if processes is not None:
        history.meta["distributed"] = {"world": processes.world, "sync_bn": processes.sync_bn,
                                       "batch_per_process": [b // processes.world for b in
                                                             sorted(set(config.batch_sizes or [config.batch_size]))]}
        torch.distributed.barrier()  # every process has read what it resumes from before rank 0 writes again

    history_path = history_path if writes else None  # the other processes hold the same History, unwritten
    has_val = getattr(data, "num_val", 0) > 0
    quiet = os.environ.get("CI") or (progress is None and not sys.stderr.isatty()) or progress is False
    bar = tqdm(total=config.epochs, initial=pos.epoch, desc=getattr(model, "spec", "train"), disable=bool(quiet),
               leave=False)
    observers = grower.step_observers() if grower is not None else []
    gradient_hooks = grower.gradient_hooks() if grower is not None else []
    probe_inputs = similarity.inputs(data, device) if similarity is not None else None

    for epoch in range(pos.epoch, config.epochs):
        if epoch >= pos.end:
            break
        schedule = _schedule(config, grower, pos)
        lr = schedule(epoch if pos.finetune_from is None else epoch - pos.finetune_from)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        new_batch = config.batch_sizes is not None and config.batch_sizes[epoch] != pos.batch_size
        new_stage = stream is not None and stream(epoch) != data.stage
        if new_batch or new_stage:  # a new loader, a new shuffle seed
            pos.batch_size, pos.loader_seed = config.batch_sizes[epoch] if new_batch else pos.batch_size, config.seed + epoch
            if new_stage:
                data.stage = stream(epoch)
            loader = data.train_loader(pos.batch_size, seed=pos.loader_seed, augment=config.augment)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        observer_seconds = [0.0]
        train_loss, train_acc, seen, bad_step = train_epoch(model, loader, optimizer, criterion, amp_dtype,
                                                            channels_last, observers, observer_seconds, probe, processes,
                                                            gradient_hooks)
        _sync(device)
        train_seconds = time.perf_counter() - start
        meter.add_training(model, seen, len(loader))  # fvcore's count is bookkeeping: kept out of the wall-clock

        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "spec": getattr(model, "spec", type(model).__name__),
            "params": sum(p.numel() for p in model.parameters()),
            "lr": lr,
            "batch_size": pos.batch_size,
            **({"data_stage": data.stage, "train_samples": data.num_train} if stream is not None else {}),
            "train_loss": train_loss,
            "train_acc": train_acc,
        }
        if bad_step is not None:
            _stop_diverged(history, record, epoch, bad_step, len(loader), train_loss, lr, model, history_path,
                           checkpoint_path, bar, outcome)
        if device.type == "cuda":  # the device's measured peak of this epoch's training (VT Fig. 7(a))
            record["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
        if observers:  # e.g. MoGrow's moving average: its share of train_seconds
            record["observer_seconds"] = observer_seconds[0]
        if hasattr(optimizer, "stage_lrs"):  # growth.optim.rate_adaptation: the LR each growth stage got last
            record["stage_lrs"] = optimizer.stage_lrs()
        if probe is not None:  # per step, the gradient / update norm of each stage's part (VT Fig. 4(b, c))
            record["stage_norms"] = probe.pop_epoch()
        if auto_layout:  # the layout this epoch trained in
            record["channels_last"] = channels_last
        if auto_threads and threads is not None:  # and its CPU threads
            record["threads"] = threads
        start = time.perf_counter()
        for split in ("val", "test") if has_val else ("test",):
            loss, acc = evaluate(model, data.eval_loader(split, config.eval_batch_size or config.batch_size), criterion,
                                 amp_dtype=amp_dtype, channels_last=channels_last)
            record[f"{split}_loss"], record[f"{split}_acc"] = loss, acc
        eval_seconds = time.perf_counter() - start
        for split in ("val", "test") if has_val else ("test",):
            meter.add_eval(model, getattr(data, f"num_{split}"))
        record["train_seconds"], record["eval_seconds"] = train_seconds, eval_seconds
        pos.wall += train_seconds + eval_seconds
        if similarity is not None:  # CKA on the probe batch, before any growth (MixtureGrowth Figs. 4, 5)
            start = time.perf_counter()
            record.update(similarity.record(model, probe_inputs, epoch + 1))
            record["similarity_seconds"] = time.perf_counter() - start

        history.epochs.append(record)
        if grower is not None and epoch + 1 < config.epochs:
            old_state = named_state(optimizer, model)
            ctx = GrowthContext(model=model, epoch=epoch + 1, epochs=config.epochs, history=history,
                                data=data, cost=meter, seed=config.seed)
            model, event = grower.step(ctx)
            if processes is not None:
                processes.same(f"the growth after epoch {epoch + 1}",
                               None if event is None else {k: v for k, v in event.items() if k not in WALL_CLOCK_KEYS})
            if event is not None:
                model = settle(model)
                optimizer = rebuild_optimizer(optimizer, old_state, model, reset=config.reset_optimizer)
                event["params"] = sum(p.numel() for p in model.parameters())
                history.events.append(event)
                bar.set_description(getattr(model, "spec", "train"))
                pos.wall += event["seconds"]
            if grower.finished and grower.finetune is not None and pos.finetune_from is None:
                ft = grower.finetune
                pos.finetune_length = ft.epochs if ft.epochs is not None else config.epochs - (epoch + 1)
                pos.finetune_from, pos.end = epoch + 1, min(config.epochs, epoch + 1 + pos.finetune_length)
                history.events.append({"epoch": epoch + 1, "kind": "finetune", "epochs": pos.end - pos.finetune_from,
                                       "schedule": ft.schedule, "spec": getattr(model, "spec", None)})
        record["macs"] = meter.total_macs
        record["wall"] = pos.wall
        pos.epoch = epoch + 1
        if history_path is not None:
            history.save(history_path)
        if checkpoint_path is not None and checkpoint_every and pos.epoch % checkpoint_every == 0 \
                and pos.epoch < min(pos.end, config.epochs) and writes:
            save_checkpoint(checkpoint_path, {**header, "epoch": pos.epoch}, {
                "model": model, "optimizer": optimizer, "grower": grower, "probe": probe, "meter": meter,
                "similarity": similarity,
                "position": asdict(pos), "loader": loader.state_dict(), "history": history.to_dict(),
                "rng": _rng_state(),
            })
        bar.set_postfix(train=f"{train_acc:.1f}", test=f"{record['test_acc']:.1f}")
        bar.update()
    bar.close()
    history.meta["cost"] = meter.state_dict()
    history.meta["end_spec"] = getattr(model, "spec", type(model).__name__)
    history.meta["epochs_run"] = len(history.epochs)
    run = Run(model=model, history=history, outcome=outcome)
    if finalize is not None:
        finalize(run)
    history.meta["status"] = "complete"
    if history_path is not None:
        history.save(history_path)
    if checkpoint_path is not None and writes:
        checkpoint_path.unlink(missing_ok=True)  # the History holds the finished run
    return run


def _finished_history(path: Path, fingerprint: dict[str, str]) -> History | None:
    """The History at ``path`` if this run (``fingerprint``, this package source) finished it, else None."""
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IncompleteHistoryWarning)
            history = History.load(path)
    except (ValueError, OSError):
        return None
    same = history.meta.get("fingerprint") == fingerprint and history.meta.get("source") == source_digest()
    return history if same and history.status in ("complete", "diverged") else None


def _schedule(config: TrainConfig, grower: Grower | None, pos: _Position):
    """The LR schedule in force at ``pos``: the run's, or the fine-tuning's once it has begun."""
    if pos.finetune_from is None:
        return make_schedule(config.schedule, config.lr, config.epochs, **config.schedule_options)
    ft = grower.finetune
    return make_schedule(ft.schedule, ft.lr or config.lr, pos.finetune_length, **ft.options)


def _stop_diverged(history, record, epoch, bad_step, steps, train_loss, lr, model, history_path, checkpoint_path, bar,
                   outcome):
    """Record where the loss became non-finite, save the History marked ``diverged``, raise."""
    bar.close()
    record["train_loss"] = None
    history.epochs.append(record)
    where = {"epoch": epoch + 1, "step": bad_step + 1, "steps": steps, "lr": lr}
    history.meta.update(status="diverged", diverged=where, epochs_run=len(history.epochs),
                        end_spec=getattr(model, "spec", type(model).__name__))
    saved = ""
    if history_path is not None:
        history.save(history_path)
        saved = f"; its History, marked diverged, is {history_path}"
    if checkpoint_path is not None:
        checkpoint_path.unlink(missing_ok=True)
    kind = "NaN" if isinstance(train_loss, float) and math.isnan(train_loss) else "infinite"
    raise TrainingDiverged(
        f"training diverged at epoch {epoch + 1}, step {bad_step + 1} of {steps}: the loss became {kind} "
        f"(lr={lr:g}); lower the learning rate{saved}", history=history, model=model, outcome=outcome)


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_model_and_data(model: nn.Module, data: Any, batch_size: int, device: torch.device) -> None:
    """``ValueError`` before training when ``model`` cannot train on ``data``: its logits do not match
    the data's classes, it cannot take the data's inputs, or a training step would not fit in the
    device's free memory (weights, gradients and one optimizer buffer, plus every layer's output and
    its gradient for ``batch_size`` inputs).  One forward pass of one example input
    (:func:`growth.measure.cost.example_input`), in eval mode: no statistics change, no random number is
    drawn."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model={model!r} is not allowed: give a torch.nn.Module, e.g. growth.build_model(...)")
    if not any(True for _ in model.parameters()):
        raise ValueError(f"model {type(model).__name__} has no parameters to train")
    shape, classes = getattr(data, "input_shape", None), getattr(data, "num_classes", None)
    if shape is None or classes is None:
        raise ValueError(f"data={data!r} is not allowed: give a growth.data.DataSplits (growth.load_dataset(...))")
    name = getattr(model, "spec", type(model).__name__)
    param = next(model.parameters())
    outputs = [0]

    def count(module, inputs, output):
        if torch.is_tensor(output):
            outputs[0] += output.numel() * output.element_size()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = model(example_input(model, shape, param.device))
    except RuntimeError as err:
        raise ValueError(f"model {name} cannot take this data's inputs of shape {tuple(shape)}: "
                         f"{str(err).splitlines()[0]}") from None
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    if out.dim() < 2 or out.shape[1] != classes:
        raise ValueError(f"model {name} gives {tuple(out.shape[1:])} outputs per input, the data "
                         f"({getattr(data, 'name', '?')}) has {classes} classes: build the model with "
                         f"num_classes={classes}")
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    need = 3 * weights + 2 * outputs[0] * batch_size
    free = available_memory_bytes(device)
    if free is not None and need > free:
        raise ValueError(f"training {name} with batch_size={batch_size} needs about {need / 2**30:.1f} GiB "
                         f"({3 * weights / 2**30:.1f} GiB of weights, gradients and optimizer state, "
                         f"{2 * outputs[0] * batch_size / 2**30:.1f} GiB of activations), more than the "
                         f"{free / 2**30:.1f} GiB free on {device}: use a smaller batch_size or width")


def _config(config: TrainConfig | None, overrides: dict[str, Any]) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"train() got unknown parameter(s) {unknown}; allowed: {sorted(known)}")
    if config is None:
        if "epochs" not in overrides:
            raise ValueError("epochs is required: pass epochs=N or a TrainConfig")
        config = TrainConfig(**overrides)
    elif not isinstance(config, TrainConfig):
        raise ValueError(f"config={config!r} is not allowed: give a TrainConfig, or keyword parameters")
    elif overrides:
        config = TrainConfig(**{**asdict(config), **overrides})
    config.validate()
    return config


def _place(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    model = model.to(device)
    return to_channels_last(model) if channels_last else model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
