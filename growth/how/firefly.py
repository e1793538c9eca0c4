"""Firefly as the GradMax authors' code implements it ("Eq. 4 of the Firefly paper without extra
candidates and splitting"), which MixtureGrowth's tables call Firefly (Wu et al., NeurIPS 2020; Evci
et al. 2022; Pham et al. 2024).

New units start random: fan-in along a random direction (uniform in [0, 1) per entry, unit norm, the
authors' random rule) scaled to ``epsilon`` x the mean norm of the group's existing fan-in rows, and
fan-out as :class:`growth.how.GradMaxRandom` (0.5 x the mean existing fan-out norm).  Then ``steps``
Adam steps (``lr`` 1e-3, the authors' defaults: 100 steps of Keras' Adam) minimise the loss on one
grow batch, with the gradient masked to the new units' weights (fan-in rows, their biases and the
fan-out columns); after every step each new unit's fan-in and fan-out are projected back to their
initial norms, so only their directions are learned.  As in the authors' code, the groups are
optimised one after the other (``per_group``; ``False``: all new units at once, cheaper).

Our choices where the authors' code says nothing we could use: ``epsilon`` relative to the mean
existing fan-in norm (their absolute ``grow_epsilon`` is 0 for GradMax, which would divide by zero
here); the model in eval mode during the steps (no BatchNorm statistics move); the grow batch drawn
as GradMax's.  The function changes (the new units have non-zero fan-in and fan-out).  Cost charged
to the run: ``steps`` x batch x training MACs per sample of the grown model, per optimised group.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..cost import training_macs_per_sample
from ..models.base import ChannelGroup
from .adapters import layer_adapter
from .gradmax import GradMaxRandom, _random_directions, fan_out_blocks
from .width_methods import GroupPlan, register_width_method
from .width_statistics import grow_batches

__all__ = ["FireflySimple"]


def _rows(model: nn.Module, name: str) -> torch.Tensor:
    """A producer's weight as rows (units x fan-in), detached."""
    weight = model.get_submodule(name).weight.detach()
    return weight.reshape(weight.shape[0], -1)


@register_width_method
@dataclass(repr=False)
class FireflySimple(GradMaxRandom):
    """See the module doc.  ``epsilon`` (fan-in norm relative to the existing ones), ``steps``, ``lr``,
    ``batch_size`` grow images (``augment``), ``per_group``; ``scale`` / ``scale_method`` for the
    fan-out as :class:`growth.how.GradMaxRandom`."""

    name: ClassVar[str] = "firefly-simple"
    needs_data: ClassVar[bool] = True
    zero_fan_in: ClassVar[bool] = False
    epsilon: float = 1e-2
    steps: int = 100
    lr: float = 1e-3
    batch_size: int = 128
    augment: bool = True
    per_group: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("epsilon", "lr"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{key}={value!r} is not allowed: give a finite number > 0")
        for key in ("steps", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}={value!r} is not allowed: give a positive integer")

    def prepare(self, model, groups, plans, context, generator):
        super().prepare(model, groups, plans, context, generator)  # the fan-outs
        for g in groups:
            plan = plans[g.name]
            if not plan.added:
                continue
            plan.fan_in = {}
            for producer in g.producers:
                rows = _rows(model, producer)
                norm = self.epsilon * float(rows.to(torch.float64).norm(dim=1).mean())
                directions = _random_directions(plan.added, rows.shape[1], generator) * norm
                plan.fan_in[producer] = directions.to(rows)
        return {}

    def layer(self, layer, model, generator):
        grown, bias, scale = super().layer(layer, model, generator)
        rows = layer.rows
        if rows is not None and rows.added and rows.fan_in and layer.name in rows.fan_in:
            old_cols = layer.weight().shape[1]
            grown[rows.old:, :old_cols] = rows.fan_in[layer.name].reshape(rows.added, old_cols, *grown.shape[2:])
        return grown, bias, scale

    def finish(self, model, groups, plans, context, generator):
        growing = [g for g in groups if plans[g.name].added]
        if not growing:
            return {}
        x, y = next(iter(grow_batches(context, self.batch_size, 1, augment=self.augment)))
        reference = next(model.parameters())
        x, y = x.to(device=reference.device, dtype=reference.dtype), y.to(reference.device)
        rounds = [[g] for g in growing] if self.per_group else [growing]
        shape = getattr(getattr(context, "cost", None), "input_shape", None) or context.data.input_shape
        macs = len(rounds) * self.steps * int(y.shape[0]) * training_macs_per_sample(model, shape)
        losses = {}
        was_training = model.training
        model.eval()
        try:
            for part in rounds:
                before, after = self._optimise(model, part, plans, x, y)
                losses[", ".join(g.name for g in part)] = (before, after)
        finally:
            model.train(was_training)
        return {"macs": macs, "grow_batch_loss": losses}

    def _optimise(self, model: nn.Module, groups: list[ChannelGroup], plans: dict[str, GroupPlan],
                  x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """``steps`` masked Adam steps on the new units of ``groups``, norms held; (loss before, after)."""
        params, masks, units = [], [], []
        for g in groups:
            plan = plans[g.name]
            for producer in g.producers:
                module = model.get_submodule(producer)
                mask = torch.zeros_like(module.weight)
                mask[plan.old:] = 1
                params.append(module.weight)
                masks.append(mask)
                units.append(("row", module.weight, plan.old))
                if module.bias is not None:
                    bias_mask = torch.zeros_like(module.bias)
                    bias_mask[plan.old:] = 1
                    params.append(module.bias)
                    masks.append(bias_mask)
            columns = []
            for consumer, _ in fan_out_blocks(model, g):
                module = model.get_submodule(consumer)
                adapter = layer_adapter(module)
                spatial = g.spatial if adapter.flattened else 1
                mask = torch.zeros_like(module.weight)
                adapter.view(mask, spatial)[:, plan.old:] = 1
                params.append(module.weight)
                masks.append(mask)
                columns.append(adapter.view(module.weight, spatial))
            units.append(("columns", columns, plan.old))
        targets = [self._norms(kind, tensor, old) for kind, tensor, old in units]
        optimizer = torch.optim.Adam(params, lr=self.lr, fused=True)  # exact square roots: the same on every CPU
        with torch.no_grad():
            before = float(F.cross_entropy(model(x), y))
        for _ in range(self.steps):
            loss = F.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, params)
            for p, g, m in zip(params, grads, masks):
                p.grad = g * m
            optimizer.step()
            with torch.no_grad():
                for (kind, tensor, old), target in zip(units, targets):
                    self._project(kind, tensor, old, target)
        for p in params:
            p.grad = None
        with torch.no_grad():
            after = float(F.cross_entropy(model(x), y))
        return before, after

    @staticmethod
    def _norms(kind: str, tensor, old: int) -> torch.Tensor:
        """The new units' norms: each fan-in row's, or each fan-out column's over all consumers together."""
        with torch.no_grad():
            if kind == "row":
                return tensor[old:].reshape(tensor.shape[0] - old, -1).norm(dim=1)
            squares = sum(c[:, old:].transpose(0, 1).reshape(c.shape[1] - old, -1).pow(2).sum(dim=1) for c in tensor)
            return squares.sqrt()

    @classmethod
    def _project(cls, kind: str, tensor, old: int, target: torch.Tensor) -> None:
        """Rescale every new unit's fan-in (or joint fan-out) back to its ``target`` norm."""
        factor = target / cls._norms(kind, tensor, old).clamp_min(torch.finfo(target.dtype).tiny)
        if kind == "row":
            tensor[old:] *= factor.view(-1, *[1] * (tensor.dim() - 1))
        else:
            for c in tensor:
                c[:, old:] *= factor.view(1, -1, *[1] * (c.dim() - 2))
