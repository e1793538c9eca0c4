"""One pass over a loader: a training epoch (:func:`train_epoch`) and an evaluation (:func:`evaluate`).

The training loop (:mod:`growth.train`) runs them every epoch; operators that train or score a model
while they initialise it (:mod:`growth.how.depth_init`) run the same two functions.

Targets: one label per input (an image's class), or one per position (a translation's target tokens,
logits ``(B, classes, L)``), where :data:`IGNORE_INDEX` marks the padding that no loss, accuracy or mean
counts.  Means are over counted targets; the samples returned (what the cost meter charges) are inputs.
"""
from __future__ import annotations

import time

import torch
from torch import nn

__all__ = ["IGNORE_INDEX", "evaluate", "train_epoch"]

IGNORE_INDEX = -100  #: a target that counts nowhere (``nn.CrossEntropyLoss``'s default ``ignore_index``)


def train_epoch(model, loader, optimizer, criterion, amp_dtype, channels_last, observers=(),
                observer_seconds=None, probe=None, distributed=None, gradient_hooks=()
                ) -> tuple[float, float, int, int | None]:
    """One pass over the training loader: mean loss and accuracy (%) over the counted targets,
    accumulated on the device, inputs seen, and the index of the first step whose loss was not finite
    (None: none was).

    ``observers``: callables ``f(model)`` run after every optimizer step; their time is added to
    ``observer_seconds[0]`` (a one-element list) when given.  ``probe`` (a
    :class:`~growth.measure.probe.StageNormProbe`) is called after them, untimed: it is a measurement, not part
    of any method.  Finiteness is checked on the device, read once at the end of the epoch.
    ``gradient_hooks``: callables ``f(model)`` run between the backward pass and the optimizer step, which
    may change the gradients (App. H's dynamic OSGD, :mod:`growth.optim.osgd`); their time counts as training.
    ``distributed`` (a :class:`growth.distributed.Distributed`): the steps run through DDP on this process's
    slice of each batch, and the loss, accuracy and samples returned are over all the processes.
    """
    step_model = distributed.wrap(model) if distributed is not None else model
    if distributed is not None:
        loader = distributed.shard(loader)
    model.train()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    counted = torch.zeros((), dtype=torch.long, device=device)
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    seen = 0
    for step, (x, y) in enumerate(loader):
        if channels_last and x.dim() == 4:  # images; token ids have no channels
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            out = step_model(x)
            loss = criterion(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for hook in gradient_hooks:
            hook(model)
        optimizer.step()
        if observers:
            start = time.perf_counter()
            for observe in observers:
                observe(model)
            if observer_seconds is not None:
                observer_seconds[0] += time.perf_counter() - start
        if probe is not None:
            probe(model)
        loss = loss.detach()
        first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
        targets = (y != IGNORE_INDEX).sum()
        loss_sum += loss * targets
        correct += (out.argmax(1) == y).sum()
        counted += targets
        seen += x.shape[0]
    if distributed is not None:
        distributed.unwrap(step_model)
        loss_sum, correct, counted, total = distributed.sum(loss_sum, correct, counted, torch.tensor(seen))
        first_bad = torch.tensor(distributed.first_bad(int(first_bad)))
        seen = int(total)
    if seen == 0:
        raise ValueError("the training split is empty: check the dataset size, subsample and val_fraction")
    bad, counted = int(first_bad), int(counted)
    return float(loss_sum) / counted, 100.0 * float(correct) / counted, seen, None if bad < 0 else bad


@torch.inference_mode()
def evaluate(model: nn.Module, loader, criterion=None, *, amp_dtype=None, channels_last=False) -> tuple[float, float]:
    """Mean loss and accuracy (%) of ``model`` in eval mode over ``loader``'s counted targets."""
    criterion = criterion or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = torch.zeros((), dtype=torch.long, device=device)
    for x, y in loader:
        if channels_last and x.dim() == 4:  # images; token ids have no channels
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            out = model(x)
        targets = (y != IGNORE_INDEX).sum()
        loss_sum += criterion(out.float(), y) * targets
        correct += (out.argmax(1) == y).sum()
        seen += targets
    model.train(was_training)
    seen = int(seen)
    if seen == 0:
        return float("nan"), float("nan")
    return loss_sum.item() / seen, 100.0 * correct.item() / seen
