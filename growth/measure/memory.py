"""Training memory of one step, measured on any device (VT Fig. 7(a)).

The paper reads its GPU's memory per growth stage: thin early stages leave the device mostly empty,
which Eq. 8's larger batches fill.  The GPU's own counter (``torch.cuda.max_memory_allocated``, which
the training loop logs per epoch on CUDA as ``peak_memory_bytes``) is not available on a CPU, so this
module measures the two parts of a training step's memory that depend on the architecture and batch:

* **state**: parameters, their gradients and the optimizer's buffers (``buffers_per_param`` copies:
  1 for SGD with momentum, 2 for Adam);
* **activations**: every tensor autograd saves for the backward pass during one forward pass of a
  batch, counted once per storage, through :func:`torch.autograd.graph.saved_tensors_hooks`.

Their sum is a lower bound on the peak (the allocator's workspace and the backward's temporaries are not
counted); on a GPU the loop's ``peak_memory_bytes`` is the measured peak.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["saved_activation_bytes", "step_memory_bytes"]


def saved_activation_bytes(model: nn.Module, inputs: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward in ``model(inputs)`` (train mode), each storage
    counted once; the model's parameters (saved by the layers that use them) are not counted."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    was_training = model.training
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(inputs)
    finally:
        model.train(was_training)
    return sum(seen.values())


def step_memory_bytes(model: nn.Module, input_shape: tuple[int, ...], batch_size: int, *,
                      buffers_per_param: int = 1) -> dict[str, int]:
    """``state`` (parameters, gradients, ``buffers_per_param`` optimizer buffers) and ``activations``
    (:func:`saved_activation_bytes` of a random batch of ``batch_size`` samples of ``input_shape``)
    of one training step in float32, and their ``total``.  BatchNorm running statistics change in the
    forward pass, so a copy of the model is measured."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is not allowed: use a positive integer")
    if not isinstance(buffers_per_param, int) or isinstance(buffers_per_param, bool) or buffers_per_param < 0:
        raise ValueError(f"buffers_per_param={buffers_per_param!r} is not allowed: use a non-negative integer")
    probe = copy.deepcopy(model).float()
    device = next(probe.parameters()).device
    param_bytes = sum(p.numel() * p.element_size() for p in probe.parameters())
    inputs = torch.randn(batch_size, *input_shape, device=device)
    activations = saved_activation_bytes(probe, inputs)
    state = param_bytes * (2 + buffers_per_param)
    return {"state": state, "activations": activations, "total": state + activations}
