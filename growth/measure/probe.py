"""Sub-component gradient and update norms of chosen parameters, step by step (VT Fig. 4(b, c), App. E).

Yuan, Savarese, Maire (NeurIPS 2023) plot, for one layer of ResNet-20 (the 17th conv, ``layer3-block2-
conv2``; ours ``stages.2.1.conv2.weight``), the gradient of each sub-component during the last growth
stages, under a global LR and under rate adaptation, to show that RA "rebalances sub-components'
gradient contributions".  A sub-component is the part of the weight that one growth stage added
(:mod:`growth.optim.rate_adaptation`): width growth appends channels, so stage k of a parameter is the region
its k-th growth added.  The probe tracks that map itself, from the shapes it sees, so it works with any
optimizer (a global-LR SGD included); it agrees with the RA optimizers' map.

After every optimizer step (a training-loop observer) it records, per watched parameter and stage,
the Frobenius norm of the gradient on that part and of the step's update ``w_t - w_{t-1}`` (what the
optimizer actually applied: LR, momentum and weight decay included; none on the first step after a
growth, which changes the weights).  :meth:`StageNormProbe.pop_epoch` hands the epoch's steps to the
History (``record["stage_norms"]``).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ..optim.rate_adaptation import stage_norms

__all__ = ["StageNormProbe", "extend_stage_map"]


def extend_stage_map(stage: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The stage map of a parameter grown to ``shape``: the old map in the leading corner, one stage
    above its maximum everywhere else (width growth appends channels)."""
    if any(new < old for new, old in zip(shape, stage.shape)) or len(shape) != stage.dim():
        raise ValueError(f"a parameter of shape {tuple(stage.shape)} became {tuple(shape)}: only growth that "
                         "appends entries along existing dimensions keeps its sub-components apart")
    grown = torch.full(shape, int(stage.max()) + 1, dtype=torch.long, device=stage.device)
    grown[tuple(slice(0, n) for n in stage.shape)] = stage
    return grown


class StageNormProbe:
    """Observer ``probe(model)`` called after each optimizer step; see the module docstring."""

    def __init__(self, names: Sequence[str]) -> None:
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"probe={names!r} is not allowed: give a list of parameter names, "
                             "e.g. ['stages.2.1.conv2.weight']")
        self.names = list(names)
        self._stage: dict[str, torch.Tensor] = {}
        self._previous: dict[str, torch.Tensor] = {}
        self._steps: dict[str, dict[str, list]] = {}

    def check(self, model: nn.Module) -> None:
        """Raise ``ValueError`` if a watched name is not a parameter of ``model`` (before training)."""
        known = dict(model.named_parameters())
        missing = [n for n in self.names if n not in known]
        if missing:
            weights = [n for n, p in known.items() if p.dim() > 1]
            raise ValueError(f"probe names {missing} are not parameters of the model; its weights are "
                             f"{', '.join(weights[:8])}{', ...' if len(weights) > 8 else ''}")

    def __call__(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        for name in self.names:
            param = params.get(name)
            if param is None or param.grad is None:
                continue
            stage = self._stage.get(name)
            if stage is None:
                stage = torch.zeros(param.shape, dtype=torch.long, device=param.device)
            elif stage.shape != param.shape:
                stage = extend_stage_map(stage, param.shape)
                self._previous.pop(name, None)
            self._stage[name] = stage
            stages = int(stage.max()) + 1
            previous = self._previous.get(name)
            log = self._steps.setdefault(name, {"grad": [], "update": []})
            log["grad"].append(stage_norms(param.grad.double(), stage, stages).tolist())
            log["update"].append(None if previous is None
                                 else stage_norms((param.detach() - previous).double(), stage, stages).tolist())
            self._previous[name] = param.detach().clone()

    def entries(self, name: str) -> list[int]:
        """How many entries each stage's part of ``name`` has now."""
        return torch.bincount(self._stage[name].reshape(-1)).tolist()

    def pop_epoch(self) -> dict[str, Any]:
        """Per watched name: ``grad`` and ``update`` (one list of per-stage norms per step of the epoch)
        and ``entries`` (per stage); then starts the next epoch's log."""
        out = {name: {**log, "entries": self.entries(name)} for name, log in self._steps.items()}
        self._steps = {}
        return out
