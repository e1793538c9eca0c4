"""One statistics pass for the width methods that look at data (GradMax; Firefly and Splitting next).

:class:`StatisticsPass` runs forward / backward passes of the *un-grown* model over a few batches
and hands the caller, batch by batch, what hooks caught on the layers it named: a layer's input
(``inputs``: a producer's input, from which GradMax forms its grow matrix), its output
(``outputs``, copied: an in-place activation would overwrite it), the gradient of the loss with respect to its output (``output_grads``: a consumer's
``dL/dz``) or to its input (``input_grads``: ``dL/d(activation)``, what Splitting weighs).  The caller
reduces each batch and drops it, so memory holds one batch of captures at a time.

The pass changes nothing: the model runs in eval mode (BatchNorm uses its running statistics and
keeps them; dropout is off, as in the Firefly and Splitting authors' code), no parameter's ``.grad``
is touched, and the mode is restored.  The loss is the mean cross-entropy of each batch.  A gradient
hook registered before an in-place op (``nn.ReLU(inplace=True)`` after a Linear) receives the gradient
with respect to the value before that op, which is what is wanted here.

:func:`grow_batches` draws the batches from the run's training loader, seeded from the run's seed and
epoch (so a resumed run sees the same ones).  :attr:`StatisticsPass.samples` counts what was passed,
for charging ``samples x`` :func:`growth.measure.cost.training_macs_per_sample` to the run.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Captured", "StatisticsPass", "grow_batches"]


@dataclass
class Captured:
    """One batch's captures, by layer name, with the batch's mean loss and size."""

    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    output_grads: dict[str, torch.Tensor] = field(default_factory=dict)
    input_grads: dict[str, torch.Tensor] = field(default_factory=dict)
    loss: float = 0.0
    size: int = 0


class StatisticsPass:
    """Forward / backward passes of ``model`` that capture tensors at named layers (see module doc)."""

    def __init__(self, model: nn.Module, *, inputs: Iterable[str] = (), outputs: Iterable[str] = (),
                 output_grads: Iterable[str] = (), input_grads: Iterable[str] = ()) -> None:
        self.model = model
        self.wanted = {"inputs": tuple(inputs), "outputs": tuple(outputs), "output_grads": tuple(output_grads),
                       "input_grads": tuple(input_grads)}
        names = dict(model.named_modules())
        unknown = sorted({n for group in self.wanted.values() for n in group} - set(names))
        if unknown:
            raise ValueError(f"layers {', '.join(map(repr, unknown))} are not modules of the model: give names of "
                             "model.named_modules()")
        self.samples = 0

    def run(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[Captured]:
        """Yield one :class:`Captured` per batch ``(x, y)`` (``x`` moved to the model's device and dtype)."""
        model = self.model
        reference = next(model.parameters())
        device = reference.device
        was_training = model.training
        params = [p for p in model.parameters() if p.requires_grad]
        hooked = sorted({n for group in self.wanted.values() for n in group})
        captured = Captured()
        handles = []

        def forward_hook(name: str):
            def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
                x = args[0]
                if name in self.wanted["inputs"]:
                    captured.inputs[name] = x.detach()
                if name in self.wanted["outputs"]:
                    captured.outputs[name] = output.detach().clone()  # a later in-place op (ReLU) would change it
                if name in self.wanted["output_grads"]:
                    output.register_hook(lambda g: captured.output_grads.__setitem__(name, g.detach()))
                if name in self.wanted["input_grads"]:
                    if not x.requires_grad:
                        raise ValueError(f"input_grads: the input of {name!r} does not depend on any parameter "
                                         "(the image?), so it has no gradient to capture")
                    x.register_hook(lambda g: captured.input_grads.__setitem__(name, g.detach()))
            return hook

        try:
            model.eval()
            modules = dict(model.named_modules())
            handles = [modules[n].register_forward_hook(forward_hook(n)) for n in hooked]
            for x, y in batches:
                captured = Captured()
                x, y = x.to(device=device, dtype=reference.dtype), y.to(device)
                with torch.enable_grad():
                    loss = F.cross_entropy(model(x), y)
                    torch.autograd.grad(loss, params, allow_unused=True)
                captured.loss, captured.size = float(loss.detach()), int(y.shape[0])
                self.samples += captured.size
                yield captured
        finally:
            for handle in handles:
                handle.remove()
            model.train(was_training)


def grow_batches(context: Any, batch_size: int, batches: int, *, augment: bool = True) -> Iterator[Any]:
    """``batches`` batches of the training loader (``batch_size``, ``augment``), shuffled with a seed from
    ``context.seed`` and ``context.epoch``: the grow batches of a growth step.  More batches than one
    epoch holds continue over further epochs of the loader, each shuffled anew."""
    seed = int(getattr(context, "seed", 0)) * 100_003 + int(getattr(context, "epoch", 0))

    def passes():
        for k in itertools.count():
            yield from context.data.train_loader(batch_size, seed=seed + 7919 * k, augment=augment)

    return itertools.islice(passes(), batches)
