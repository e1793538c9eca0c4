"""Optimizers across growth: rebuild after a growth event, carrying the old state over; with the
stage-wise optimizers of rate adaptation (:mod:`growth.optim.rate_adaptation`) and the learning-rate
schedules (:mod:`growth.optim.schedules`).

AutoGrow's code carries optimizer state by parameter name and starts new parameters with empty
state; VT keeps Adam's moments across width growth, zero-padded for the new units. One rule covers
both: a parameter that survived growth as the same tensor keeps its state (whatever its name is now:
inserting a block mid-stage renumbers the blocks after it); a parameter that an operator replaced
takes the state its name had, copied if the shape is equal, in the leading corner with zeros
elsewhere if it grew (new units appended at the end of each dimension); new parameters start empty.
``reset=True`` drops all state, as most papers' code does.

An optimizer class may refine this (the stage-wise optimizers of :mod:`growth.optim.rate_adaptation` do):

- ``state_fill``: a dict ``state key -> function(old tensor) -> number``, the value of the grown
  region of that key (default 0); e.g. a per-entry growth stage: the old maximum + 1.
- ``carried_keys(reset)``: the state keys to carry over (``None``: all); e.g. the stage map is
  kept even when ``reset=True`` drops the buffers.

The optimizer is rebuilt over ``model.named_parameters()`` when the old one was built over named
parameters (its groups hold ``param_names``), so per-parameter names survive growth.
"""
from __future__ import annotations

import inspect
from typing import Any, Collection

import torch
from torch import nn

from . import rate_adaptation

TORCH_OPTIMIZERS = ("sgd", "adam", "adamw")
OPTIMIZERS = (*TORCH_OPTIMIZERS, *rate_adaptation.OPTIMIZERS)


def build_optimizer(
    model: nn.Module,
    name: str = "sgd",
    *,
    lr: float = 0.1,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 5e-4,
    **options: Any,
) -> torch.optim.Optimizer:
    """SGD (with momentum) or Adam/AdamW over all trainable parameters, one parameter group.

    Adam and AdamW are PyTorch's fused implementations: on the CPU their square root is exact, so a
    run gives the same numbers on every CPU (the unfused ones use MKL's, see
    :func:`growth.machine.exact_sqrt`).

    The names of :data:`growth.optim.rate_adaptation.OPTIMIZERS` (``ra-sgd``, ``ra-adam``, ``ra-avagrad``,
    ``avagrad``, ``lars``) build those optimizers; ``options`` are their further hyper-parameters
    (e.g. ``rule="inverse"``), see :func:`growth.optim.rate_adaptation.build_ra_optimizer`.
    """
    if name in rate_adaptation.OPTIMIZERS:
        return rate_adaptation.build_ra_optimizer(model, name, lr=lr, momentum=momentum, nesterov=nesterov,
                                                  weight_decay=weight_decay, **options)
    if name in TORCH_OPTIMIZERS and options:
        raise ValueError(f"options {sorted(options)} are not allowed with optimizer={name!r}: only "
                         f"{', '.join(rate_adaptation.OPTIMIZERS)} take further options")
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    raise ValueError(f"optimizer={name!r} is unknown: choose one of {', '.join(OPTIMIZERS)}")


def named_state(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, tuple[torch.Tensor, dict]]:
    """Before growth: ``{qualified name: (parameter, its optimizer state)}`` for ``model``."""
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (p, state) for p, state in optimizer.state.items() if id(p) in names}


def carry_state(old_state: dict[str, tuple[torch.Tensor, dict]], optimizer: torch.optim.Optimizer,
                model: nn.Module, *, keys: Collection[str] | None = None) -> int:
    """Load ``old_state`` (from :func:`named_state` before growth) into ``optimizer`` for ``model``.

    ``keys``: carry only these state keys (None: all).  A grown tensor's new region takes the value
    ``optimizer.state_fill[key](old tensor)`` where the optimizer's class gives one, else 0.
    Returns the number of parameters whose state was carried.
    """
    fills = getattr(optimizer, "state_fill", {})
    present = {id(p) for p in model.parameters()}
    by_identity = {id(p): state for p, state in old_state.values()}
    replaced = {name: state for name, (p, state) in old_state.items() if id(p) not in present}
    carried = 0
    for name, param in model.named_parameters():
        state = by_identity.get(id(param)) or replaced.get(name)
        if not state or not param.requires_grad:
            continue
        new_state = {}
        for key, value in state.items():
            if keys is not None and key not in keys:
                continue
            if torch.is_tensor(value) and value.dim() > 0:
                value = _fit(value, param, fills.get(key))
                if value is None:
                    break
            new_state[key] = value.clone() if torch.is_tensor(value) else value
        else:
            if new_state:
                optimizer.state[param] = new_state
                carried += 1
    return carried


def _fit(value: torch.Tensor, param: torch.Tensor, fill=None) -> torch.Tensor | None:
    """``value`` if shapes agree, padded into ``param``'s shape if it grew (with ``fill(value)``, else
    zeros), else ``None``."""
    if value.shape == param.shape:
        return value
    if value.dim() != param.dim() or any(o > n for o, n in zip(value.shape, param.shape)):
        return None
    padded = torch.full_like(param, fill(value) if fill is not None else 0, dtype=value.dtype)
    padded[tuple(slice(0, s) for s in value.shape)] = value
    return padded


def _constructor_defaults(cls: type, defaults: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``defaults`` that ``cls``'s constructor takes: torch adds some it does not (AdamW's
    ``decoupled_weight_decay``; ``differentiable`` on unpickling a checkpoint)."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(defaults)
    return {k: v for k, v in defaults.items() if k in params}


def rebuild_optimizer(
    optimizer: torch.optim.Optimizer,
    old_state: dict[str, dict],
    model: nn.Module,
    *,
    reset: bool = False,
) -> torch.optim.Optimizer:
    """A new optimizer of the same class and hyper-parameters over ``model``'s current parameters.

    ``reset``: carry no state, except the keys the optimizer's ``carried_keys(reset=True)`` names.
    """
    defaults = _constructor_defaults(type(optimizer), optimizer.defaults)
    defaults["lr"] = optimizer.param_groups[0]["lr"]
    named = "param_names" in optimizer.param_groups[0]
    new = type(optimizer)([(n, p) if named else p for n, p in model.named_parameters() if p.requires_grad],
                          **defaults)
    keys = new.carried_keys(reset) if hasattr(new, "carried_keys") else (() if reset else None)
    if keys is None or keys:
        carry_state(old_state, new, model, keys=keys)
    return new
