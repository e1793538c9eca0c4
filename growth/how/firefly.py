"""Firefly (Wu, Liu, Stone, Liu, NeurIPS 2020) in both forms the papers compare with.

:class:`Firefly` (``firefly``) and :class:`FireflySplit` (``firefly-split``) are the authors' own method
(candidates, a short optimisation, first-order scores, the best kept; see :class:`Firefly`).
:class:`FireflySimple` (``firefly-simple``) is Firefly as the GradMax authors' code implements it ("Eq. 4
of the Firefly paper without extra candidates and splitting"), which MixtureGrowth's tables call
Firefly (Evci et al. 2022; Pham et al. 2024):

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

import copy
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..measure.cost import training_macs_per_sample
from ..models.base import ChannelGroup, channel_count, width_groups
from .adapters import layer_adapter
from .gradmax import GradMaxRandom, fan_out_blocks
from .splitting import SplitMethod, _positive_ints, split_sites
from .width import grow_width
from .width_methods import GroupPlan, random_directions, register_width_method
from .width_statistics import grow_batches

__all__ = ["Firefly", "FireflySimple", "FireflySplit"]


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
                directions = random_directions(plan.added, rows.shape[1], generator) * norm
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


# --------------------------------------------------------------------------- the Firefly authors' method


@dataclass(repr=False)
class _CandidateUnits(SplitMethod):
    """Grows ``group`` of the candidate network: every unit split by ``given["split"]``, then the new
    candidates with ``given["fan_in"]`` / ``given["fan_out"]`` (no data)."""

    needs_data: ClassVar[bool] = False
    name: ClassVar[str] = "firefly-candidates"
    group: str = ""
    given: dict = field(default_factory=dict)

    def check(self, model: nn.Module) -> None:
        """Candidates go only where the search found a split site."""

    def prepare(self, model, groups, plans, context, generator):
        plan = plans[self.group]
        producer = next(g for g in groups if g.name == self.group).producers[0]
        like = model.get_submodule(producer).weight
        plan.source = torch.arange(plan.old)
        plan.split = {producer: self.given["split"].to(like)}
        plan.fan_in = {producer: self.given["fan_in"].to(like)}
        plan.fan_out = {}
        for name, draws in self.given["fan_out"].items():
            layer = model.get_submodule(name)
            weight = layer_adapter(layer).weight(layer)
            plan.fan_out[name] = draws.reshape(weight.shape[0], plan.fresh, *weight.shape[2:]).to(weight)
        return {}


@register_width_method
@dataclass(repr=False)
class Firefly(SplitMethod):
    """The Firefly authors' method (Wu, Liu, Stone, Liu, NeurIPS 2020, Sec. 3; their code's
    ``fireflyn``): candidate units, a short optimisation of their perturbations, a first-order score
    each, the best kept.

    For every group where one layer and an activation make the units (:func:`split_sites`; Net2Net
    elsewhere, or a refusal), a copy of the model gets the candidates: every existing unit split into
    ``w + v`` and ``w - v`` with its fan-out halved (``v ~ U(-split_init, split_init)``), and
    ``candidates`` new units (fan-in ``U(-new_fan_in_init, new_fan_in_init)``, fan-out
    ``N(0, new_fan_out_std^2)``; their code: 70, 0.1, 1e-2, 0.1).  RMSprop (lr ``lr``, momentum 0.1,
    alpha 0.9) minimises the loss plus ``penalty (|v|^2 + 1e-2 |fan-out|^2)`` over ``optimise_batches``
    grow batches (their code: one epoch), the old weights fixed.  Then each candidate's score is the
    derivative of the loss along its perturbation, averaged over ``score_batches`` batches: ``(g+ - g-) . v``
    for a split (their gate on the perturbation), ``g . fan-out`` for a new unit (our reading of their
    gate on a new unit).  With a channel schedule each group keeps its ``added`` lowest scores; with
    :class:`growth.where.GlobalPick` (:meth:`scores`) the lowest fraction of all candidates (their
    ``grow_ratio`` 0.35).  Kept splits become ``w +/- v``, kept new units their optimised weights, BN
    fresh.  The model is in eval mode throughout (their BatchNorm is frozen during the search).

    Our choices: the groups are searched one at a time (their code searches all layers at once, each
    layer's candidates seeing the others'); ``optimise_batches`` / ``score_batches`` default to 1 (set
    them to the training set's batches for their one epoch).  ``candidates=0`` is Firefly-split
    (splits only; :class:`FireflySplit`).  Cost charged to the run: every pass through the candidate
    network (training MACs per sample of it x images).
    """

    name: ClassVar[str] = "firefly"
    candidates: int = 70
    split_init: float = 0.1
    new_fan_in_init: float = 1e-2
    new_fan_out_std: float = 0.1
    lr: float = 1e-3
    penalty: float = 1e-2
    optimise_batches: int = 1
    score_batches: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive_ints(self, "optimise_batches", "score_batches")
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or self.candidates < 0:
            raise ValueError(f"candidates={self.candidates!r} is not allowed: give an integer >= 0")
        for key in ("split_init", "new_fan_in_init", "new_fan_out_std", "lr", "penalty"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{key}={value!r} is not allowed: give a finite number >= 0")

    # ------------------------------------------------------------------ the search

    def most_added(self, old: int) -> int:
        """Each unit splits at most once, plus the ``candidates`` new ones."""
        return old + self.candidates
    def search(self, model: nn.Module, groups: list[ChannelGroup], context: Any,
               generator: torch.Generator | None) -> tuple[dict[str, dict[str, Any]], int]:
        """Per defined group: ``scores`` (the ``old`` splits, then the new candidates), ``split``
        (``old x row``), ``fan_in`` (``candidates x row``), ``fan_out`` (consumer -> ``rows x candidates
        x kernel``); and the MACs spent."""
        sites, _ = split_sites(model, groups)
        total = self.optimise_batches + self.score_batches
        batches = list(grow_batches(context, self.batch_size, total, augment=self.augment))
        shape = getattr(getattr(context, "cost", None), "input_shape", None) or context.data.input_shape
        found, macs = {}, 0
        for g in groups:
            if g.name not in sites:
                continue
            candidate, probe = self._candidate_network(model, g, generator)
            found[g.name] = self._optimise_and_score(candidate, probe, batches)
            macs += sum(len(y) for _, y in batches) * training_macs_per_sample(candidate, shape)
        return found, macs

    def _candidate_network(self, model: nn.Module, group: ChannelGroup, generator: torch.Generator | None):
        """A copy of ``model`` whose ``group`` has every unit split and ``candidates`` new units."""
        old = channel_count(model, group)
        producer = model.get_submodule(group.producers[0])
        row = layer_adapter(producer).weight(producer).shape[1:]
        device = generator.device if generator is not None else "cpu"

        def uniform(shape, bound):
            return (torch.rand(shape, generator=generator, device=device, dtype=torch.float64) * 2 - 1) * bound

        split = uniform((old, *row), self.split_init)
        fan_in = uniform((self.candidates, math.prod(row)), self.new_fan_in_init)
        fan_out = {}
        for name, size in fan_out_blocks(model, group):
            weight = model.get_submodule(name).weight
            rest = size // weight.shape[0]
            draws = torch.randn((weight.shape[0], self.candidates, rest), generator=generator, device=device,
                                dtype=torch.float64) * self.new_fan_out_std
            fan_out[name] = draws
        candidate = copy.deepcopy(model)
        units = _CandidateUnits(unsupported="net2net", group=group.name,
                                given={"split": split, "fan_in": fan_in, "fan_out": fan_out})
        grow_width(candidate, channels={group.name: 2 * old + self.candidates}, method=units)
        return candidate, {"group": group, "old": old, "row": row}

    def _optimise_and_score(self, model: nn.Module, probe: dict, batches: list) -> dict[str, Any]:
        group, old, k = probe["group"], probe["old"], self.candidates
        producer = model.get_submodule(group.producers[0])
        consumers = [model.get_submodule(name) for name, _ in fan_out_blocks(model, group)]
        views = [layer_adapter(c).view for c in consumers]
        spatial = [group.spatial if layer_adapter(c).flattened else 1 for c in consumers]
        base = ((producer.weight[:old] + producer.weight[old:2 * old]) / 2).detach()  # the old rows w
        params = [producer.weight, *[c.weight for c in consumers]]
        masks = [torch.zeros_like(p) for p in params]
        masks[0][:2 * old + k] = 1
        for mask, view, sp in zip(masks[1:], views, spatial):
            view(mask, sp)[:, 2 * old:] = 1
        optimizer = torch.optim.RMSprop(params, lr=self.lr, momentum=0.1, alpha=0.9)
        was_training = model.training
        model.eval()

        def new_fan_out(tensors):
            return [view(t, sp)[:, 2 * old:] for t, view, sp in zip(tensors, views, spatial)]

        try:
            for x, y in batches[:self.optimise_batches]:
                x, y = x.to(producer.weight), y.to(producer.weight.device)
                v = (producer.weight[:old] - producer.weight[old:2 * old]) / 2
                loss = F.cross_entropy(model(x), y) + self.penalty * (
                    v.pow(2).sum() + 1e-2 * sum(f.pow(2).sum() for f in new_fan_out([c.weight for c in consumers])))
                grads = torch.autograd.grad(loss, params)
                for p, g, m in zip(params, grads, masks):
                    p.grad = g * m
                optimizer.step()
                with torch.no_grad():  # the pair stays w +/- v
                    v = (producer.weight[:old] - producer.weight[old:2 * old]) / 2
                    producer.weight[:old] = base + v
                    producer.weight[old:2 * old] = base - v
            for p in params:
                p.grad = None
            v = ((producer.weight[:old] - producer.weight[old:2 * old]) / 2).detach()
            outs = [f.detach() for f in new_fan_out([c.weight for c in consumers])]
            scores = torch.zeros(old + k, dtype=torch.float64)
            for x, y in batches[self.optimise_batches:]:
                x, y = x.to(producer.weight), y.to(producer.weight.device)
                grads = torch.autograd.grad(F.cross_entropy(model(x), y), params)
                split = ((grads[0][:old] - grads[0][old:2 * old]) * v).reshape(old, -1).sum(dim=1)
                fresh = sum((g_new * f).transpose(0, 1).reshape(k, -1).sum(dim=1)
                            for g_new, f in zip(new_fan_out(grads[1:]), outs)) if k else torch.zeros(0)
                scores += torch.cat([split, fresh]).to(torch.float64) / self.score_batches
        finally:
            model.train(was_training)
        fan_in = layer_adapter(producer).weight(producer)[2 * old:2 * old + k].detach().reshape(k, math.prod(probe["row"]))
        return {"scores": scores, "split": v.reshape(old, *probe["row"]), "fan_in": fan_in,
                "fan_out": {name: f for (name, _), f in zip(fan_out_blocks(model, group), outs)}}

    # ------------------------------------------------------------------ selection and growth
    def scores(self, ctx: Any) -> dict[str, torch.Tensor]:
        """Every candidate's score by group (the splits of the ``old`` units, then the new candidates;
        lower: kept first), for :class:`growth.where.GlobalPick`; charges its cost to ``ctx.cost`` and keeps
        the candidates in ``ctx.state["firefly"]`` for the growth that follows."""
        found, macs = self.search(ctx.model, width_groups(ctx.model), ctx, torch.Generator().manual_seed(
            int(ctx.seed) * 100_003 + int(ctx.epoch)))
        if macs and getattr(ctx, "cost", None) is not None:
            ctx.cost.add_extra(macs, "firefly scores")
        ctx.state["firefly"] = {"epoch": ctx.epoch, "found": found}
        return {group: f["scores"] for group, f in found.items()}

    def prepare(self, model, groups, plans, context, generator):
        growing = [g for g in groups if plans[g.name].added]
        found, macs, picked = self._search_once(context, "firefly",
                                                lambda: self.search(model, growing, context, generator))
        summary: dict[str, Any] = {"groups": {}}
        for g in growing:
            plan = plans[g.name]
            if g.name not in found:
                summary["groups"][g.name] = self._undefined(g.name)
                continue
            f = found[g.name]
            chosen = picked.get(g.name)
            if chosen is None or len(chosen) != plan.added:
                chosen = torch.argsort(f["scores"], stable=True)[:plan.added]
            if len(chosen) < plan.added:
                raise ValueError(f"Firefly: group {g.name} would add {plan.added} units but has {len(chosen)} "
                                 f"candidates ({plan.old} splits, {self.candidates} new): give more candidates")
            splits = torch.sort(chosen[chosen < plan.old]).values.cpu()
            fresh = torch.sort(chosen[chosen >= plan.old]).values.cpu() - plan.old
            producer = g.producers[0]
            like = model.get_submodule(producer).weight
            plan.source = splits
            plan.split = {producer: f["split"][splits].to(like)}
            plan.fan_in = {producer: f["fan_in"][fresh].to(like)} if len(fresh) else None
            plan.fan_out = {name: out[:, fresh].to(like) for name, out in f["fan_out"].items()} if len(fresh) else None
            summary["groups"][g.name] = {"splits": len(splits), "new": len(fresh),
                                         "scores": [float(s) for s in f["scores"][chosen]]}
        summary["macs"] = macs
        return summary


@register_width_method
@dataclass(repr=False)
class FireflySplit(Firefly):
    """Firefly-split (Wu et al. 2020): :class:`Firefly` with splits only, no new candidates."""

    name: ClassVar[str] = "firefly-split"
    candidates: int = 0
