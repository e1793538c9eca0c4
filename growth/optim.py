"""Optimizers across growth: rebuild after a growth event, carrying the old state over.

AutoGrow's code carries optimizer state by parameter name and starts new parameters with empty
state; VT keeps Adam's moments across width growth, zero-padded for the new units. One rule covers
both: a parameter that survived growth as the same tensor keeps its state (whatever its name is now:
inserting a block mid-stage renumbers the blocks after it); a parameter that an operator replaced
takes the state its name had, copied if the shape is equal, in the leading corner with zeros
elsewhere if it grew (new units appended at the end of each dimension); new parameters start empty.
``reset=True`` drops all state, as most papers' code does.
"""
from __future__ import annotations

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adam", "adamw")


def build_optimizer(
    model: nn.Module,
    name: str = "sgd",
    *,
    lr: float = 0.1,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 5e-4,
) -> torch.optim.Optimizer:
    """SGD (with momentum) or Adam/AdamW over all trainable parameters, one parameter group."""
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer={name!r} is unknown: choose one of {', '.join(OPTIMIZERS)}")


def named_state(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, tuple[torch.Tensor, dict]]:
    """Before growth: ``{qualified name: (parameter, its optimizer state)}`` for ``model``."""
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (p, state) for p, state in optimizer.state.items() if id(p) in names}


def carry_state(old_state: dict[str, tuple[torch.Tensor, dict]], optimizer: torch.optim.Optimizer,
                model: nn.Module) -> int:
    """Load ``old_state`` (from :func:`named_state` before growth) into ``optimizer`` for ``model``.

    Returns the number of parameters whose state was carried.
    """
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
            if torch.is_tensor(value) and value.dim() > 0:
                value = _fit(value, param)
                if value is None:
                    break
            new_state[key] = value.clone() if torch.is_tensor(value) else value
        else:
            optimizer.state[param] = new_state
            carried += 1
    return carried


def _fit(value: torch.Tensor, param: torch.Tensor) -> torch.Tensor | None:
    """``value`` if shapes agree, zero-padded into ``param``'s shape if it grew, else ``None``."""
    if value.shape == param.shape:
        return value
    if value.dim() != param.dim() or any(o > n for o, n in zip(value.shape, param.shape)):
        return None
    padded = torch.zeros_like(param, dtype=value.dtype)
    padded[tuple(slice(0, s) for s in value.shape)] = value
    return padded


def rebuild_optimizer(
    optimizer: torch.optim.Optimizer,
    old_state: dict[str, dict],
    model: nn.Module,
    *,
    reset: bool = False,
) -> torch.optim.Optimizer:
    """A new optimizer of the same class and hyper-parameters over ``model``'s current parameters."""
    defaults = dict(optimizer.defaults)
    defaults["lr"] = optimizer.param_groups[0]["lr"]
    new = type(optimizer)([p for p in model.parameters() if p.requires_grad], **defaults)
    if not reset:
        carry_state(old_state, new, model)
    return new
