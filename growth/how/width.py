"""Width growth: widen every channel group of a model at once, with a method of :mod:`.width_methods`.

A channel group (:class:`~growth.models.base.ChannelGroup`) is a set of channels that must grow
together: its producers' output rows (and biases), its BatchNorms, its consumers' input columns
(``spatial`` columns per channel, channel-major, for a Linear behind a flatten), its depthwise convs
and the option-A shortcuts that read it.  Layers tied by a residual connection are one group, so
residual additions keep matching shapes (VT paper, App. B, "residual connections": all layers grow at
the same rate).  New channels are appended at the end of every dimension, so the old weights stay the
leading corner of each grown tensor (what :mod:`growth.optim` and a stage-wise LR adaptation assume).

:func:`grow_width` grows IN PLACE; :class:`AddWidth` is the operator the training loop calls;
:func:`build_stage_model` and :func:`stage_models` build the models of a width schedule's stages
(:mod:`growth.when.width_schedule`).
"""
from __future__ import annotations

import copy
import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import fx, nn
from torch.overrides import TorchFunctionMode

from ..models import ZeroPadShortcut, build_model
from ..models.base import ChannelGroup, GrowableNet, channel_count, channel_counts, width_groups
from ..protocol import GrowthContext
from ..where.width import ChannelStages, WidthSteps
from .adapters import NormAdapter, layer_adapter, norm_adapter
from .bridges import leaf_graph
from .width_methods import WIDTH_METHODS, GroupPlan, LayerPlan, Tie, WidthMethod, make_width_method, randn

__all__ = ["AddWidth", "WIDTH_METHODS", "WidthGrowth", "build_stage_model", "grow_width", "stage_models"]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class WidthGrowth:
    """What one :func:`grow_width` call did.

    ``shapes``: every parameter's ``(old shape, new shape)``; the old values are the leading corner
    ``[:old[0], :old[1], ...]`` of the new tensor (a stage-wise LR adaptation splits each weight by
    the growth step that added it from these).  ``groups``: each channel group's ``(old, new)``
    channel count.  ``rescaled``: the factor applied to the old part of each rescaled weight (VT;
    its bias took the same factor).  ``width``: the multiplier before and after (None: per-group
    counts, no single multiplier).  ``overhead_macs`` / ``overhead_seconds``: what the method's
    ``prepare`` and ``finish`` spent looking at data (GradMax's passes and SVDs, Firefly's optimisation
    steps; 0 for the data-free methods); ``prepared``: what they found, per group (GradMax: the grow
    matrix's shape and rank).
    """

    method: str
    width: tuple[float | None, float | None]
    groups: dict[str, tuple[int, int]]
    shapes: dict[str, tuple[Shape, Shape]]
    rescaled: dict[str, float] = field(default_factory=dict)
    overhead_macs: int = 0
    overhead_seconds: float = 0.0
    prepared: dict[str, Any] = field(default_factory=dict)

    def grown(self) -> list[str]:
        """Names of the parameters whose shape changed."""
        return [name for name, (old, new) in self.shapes.items() if old != new]


# --------------------------------------------------------------------------- checks (touch nothing)


def _structure(groups: list[ChannelGroup]) -> list[tuple]:
    return [(g.name, g.producers, g.norms, g.consumers, g.depthwise, g.spatial) for g in groups]


def _check_noise(noise: Any) -> float:
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise={noise!r} is not allowed: give a finite number >= 0 (the std of the "
                         "symmetry-breaking noise relative to the new weights' init std; the VT paper uses 1e-3)")
    return float(noise)


class _SkipInit(TorchFunctionMode):
    """Skips ``torch.nn.init`` and the in-place fills it uses: a meta tensor has no values to set."""

    FILLS = (torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.fill_, torch.Tensor.zero_)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__module__", None) == "torch.nn.init" or func in self.FILLS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **(kwargs or {}))


def _targets_for_width(model: GrowableNet, groups: list[ChannelGroup], width: Any) -> dict[str, int]:
    """Each group's channel count in ``build_model(model.spec, ..., width=width)`` (built on ``meta``)."""
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not math.isfinite(width) or width <= 0:
        raise ValueError(f"width={width!r} is not allowed: give a finite number >= the model's width {model.width}")
    if model.width is not None and width < model.width:
        raise ValueError(f"width={width!r} is smaller than the model's width {model.width}: width growth "
                         f"only widens, give a width >= {model.width}")
    with torch.device("meta"), _SkipInit():
        reference = build_model(model.spec, num_classes=model.num_classes, image_size=model.image_size,
                                width=float(width), **getattr(model, "build_options", {}))
    if _structure(reference.channel_groups()) != _structure(groups) or set(reference.state_dict()) != set(
            model.state_dict()):
        raise ValueError(f"width={width!r}: {model.spec} at that width is wired differently (a residual or "
                         "shortcut that the channel counts decide changes), so this model cannot grow into it: "
                         "give another width or per-group channels")
    targets = {g.name: channel_count(reference, g) for g in reference.channel_groups()}
    narrower = [g.name for g in groups if targets[g.name] < channel_count(model, g)]
    if narrower:
        raise ValueError(f"width={width!r} would narrow group(s) {', '.join(narrower)} of {model.spec} (grown "
                         "per group before): give a larger width or per-group channels")
    return targets


def _targets_for_channels(model: nn.Module, groups: list[ChannelGroup], channels: Any) -> dict[str, int]:
    """``channels`` (group name -> new count) checked against the groups; unnamed groups keep their count."""
    current = {g.name: channel_count(model, g) for g in groups}
    if not isinstance(channels, dict):
        raise ValueError(f"channels={channels!r} is not allowed: give a dict group name -> channel count")
    unknown = [name for name in channels if name not in current]
    if unknown:
        raise ValueError(f"channels names unknown group(s) {', '.join(map(repr, unknown))}: the groups of "
                         f"{getattr(model, 'spec', type(model).__name__)} are {', '.join(current)}")
    for name, count in channels.items():
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < current[name]:
            raise ValueError(f"channels[{name!r}]={count!r} is not allowed: give an integer >= the group's "
                             f"current {current[name]} channels")
    return {**current, **{name: int(count) for name, count in channels.items()}}


def _check_whole(plans: dict[str, GroupPlan], method: WidthMethod, what: str) -> None:
    """Groups of whole units (attention heads) grow by whole units, groups read by a LayerNorm by whole
    copies, and only with a method that keeps them whole (``WidthMethod.whole_units``)."""
    for plan in plans.values():
        if not plan.added or (plan.unit == 1 and not plan.tiled):
            continue
        if not method.whole_units:
            raise ValueError(f"{what}: group {plan.name} grows in whole units or copies, which method "
                             f"{method.name!r} does not keep: use net2net, vt or random")
        if plan.new % plan.unit:
            raise ValueError(f"{what}: group {plan.name} grows in units of {plan.unit} channels: give it a "
                             f"multiple of {plan.unit}, not {plan.new}")
        if plan.tiled and plan.new % plan.old:
            raise ValueError(f"{what}: group {plan.name} is read by a LayerNorm, which keeps its function only "
                             f"if the group grows by whole copies: give it a multiple of its {plan.old} "
                             f"channels, not {plan.new}")


def _ties(model: nn.Module, groups: list[ChannelGroup], plans: dict[str, GroupPlan], what: str) -> list[Tie]:
    """The option-A shortcuts, each with the group it reads and the group its output joins.

    The output group is the one its block writes (the block's ``wiring().writes``).  New input
    channels are placed among the new output channels, so there must be room for them.
    """
    producer_group = {p: plans[g.name] for g in groups for p in g.producers}
    ties, used = [], {}
    for g in groups:
        for name in g.consumers:
            module = model.get_submodule(name)
            if not isinstance(module, ZeroPadShortcut):
                continue
            block = name.rpartition(".")[0]
            into = producer_group[f"{block}.{model.get_submodule(block).wiring().writes[0]}"]
            reads = plans[g.name]
            offset = used.get(into.name, 0)
            if offset + reads.added > into.added:
                raise ValueError(f"{what}: the option-A shortcut {name} would get {reads.added} new input channels "
                                 f"but its output group {into.name} only {into.added - offset} new channels "
                                 f"to place them in: grow {into.name} by at least as much as {g.name}")
            used[into.name] = offset + reads.added
            ties.append(Tie(name, module, reads, into, offset))
    return ties


# --------------------------------------------------------------------------- the layers


def _layer_plans(model: nn.Module, groups: list[ChannelGroup], plans: dict[str, GroupPlan]) -> list[LayerPlan]:
    """One plan per conv / linear layer that a growing group touches (rows, columns or depthwise)."""
    layers: dict[str, LayerPlan] = {}

    def plan_of(name: str) -> LayerPlan:
        if name not in layers:
            layers[name] = LayerPlan(name, model.get_submodule(name))
        return layers[name]

    for g in groups:
        plan = plans[g.name]
        if not plan.added:
            continue
        for name in g.producers:
            plan_of(name).rows = plan
        for name in g.depthwise:
            layer = plan_of(name)
            layer.rows, layer.depthwise = plan, True
        for name in g.consumers:
            if isinstance(model.get_submodule(name), ZeroPadShortcut):
                continue
            layer = plan_of(name)
            layer.cols = plan
            layer.spatial = g.spatial if layer.adapter.flattened else 1
    produced = {p for g in groups for p in (*g.producers, *g.depthwise)}
    for layer in layers.values():
        layer.logits = layer.name not in produced
    return list(layers.values())


def normalised_layers(model: nn.Module) -> dict[str, str]:
    """Conv / linear layer -> the BatchNorm that is the only reader of its output.

    Read off the model's ``torch.fx`` graph (symbolic: no tensors, a few ms).  Only there can the BN
    absorb a rescaling of the layer (VT, Sec. 3.1): an output also read elsewhere (an identity
    residual) would carry the rescaling on.
    """
    modules = dict(model.named_modules())
    normalised = {}
    for node in leaf_graph(model).nodes:
        if node.op != "call_module" or norm_adapter(modules[node.target]) is None:
            continue
        layer = node.args[0]
        if (isinstance(layer, fx.Node) and layer.op == "call_module" and len(layer.users) == 1
                and layer_adapter(modules[layer.target], required=False) is not None):
            normalised[layer.target] = node.target
    return normalised


def _add_noise(weight: torch.Tensor, layer: LayerPlan, std: float, generator: torch.Generator | None) -> None:
    """Add ``N(0, std^2)`` to the new rows and the new columns (channel view) of a grown weight."""
    rows = layer.rows.old if layer.rows is not None else weight.shape[0]
    cols = layer.cols.old if layer.cols is not None else weight.shape[1]
    for part in (weight[rows:], weight[:rows, cols:]):
        part += randn(part.shape, weight, generator).mul_(std)


def _norm(model: nn.Module, name: str) -> tuple[nn.Module, NormAdapter]:
    module = model.get_submodule(name)
    adapter = norm_adapter(module)
    if adapter is None:
        raise ValueError(f"norm {name} ({type(module).__name__}) has no norm adapter: width growth cannot grow it "
                         "(growth.how.adapters.register_layer_adapter adds one)")
    return module, adapter


def _grow_shortcut(tie: Tie) -> None:
    """New input channel ``t`` of an option-A shortcut lands in output channel ``into.old + offset + t``."""
    sc = tie.module
    placed = torch.arange(tie.reads.added, device=sc.index.device) + tie.into.old + tie.offset
    sc.index = torch.cat([sc.index, placed])
    sc.in_channels, sc.out_channels = tie.reads.new, tie.into.new


# --------------------------------------------------------------------------- the operator


def grow_width(
    model: nn.Module,
    *,
    width: float | None = None,
    channels: dict[str, int] | None = None,
    method: str | WidthMethod = "vt",
    noise: float = 0.0,
    generator: torch.Generator | None = None,
    context: GrowthContext | None = None,
) -> WidthGrowth:
    """Widen every channel group of ``model``, IN PLACE; returns a :class:`WidthGrowth` record.

    Give exactly one of ``width`` (a multiplier >= ``model.width``: each group gets the channel count
    of ``build_model(model.spec, ..., width=width)``, so the state_dict shapes become that model's and
    ``model.width`` becomes ``width``) or ``channels`` (group name -> new count, names from
    ``model.channel_groups()``; unnamed groups keep their count; ``model.width`` becomes None, as the
    model no longer has one multiplier).

    ``method``: a name of :data:`WIDTH_METHODS` (``random``, ``net2net``, ``vt``, ``vt-constraint``)
    or a :class:`~growth.how.width_methods.WidthMethod`; ``net2net`` and ``vt`` keep the function at
    ``noise=0`` (see :mod:`growth.how.width_methods`).  ``noise``: std of Gaussian noise added to
    every new weight (new rows and new columns; not biases, not BN), in units of the muP init std of
    the layer's new weights (the VT paper's "0.001 to the norm of the initialization", Sec. 4).
    ``generator``: the random draws (new weights, copied units, noise); the global RNG if None.
    ``context``: a :class:`~growth.protocol.GrowthContext` (data, seed, cost meter) for a method that
    looks at data (``gradmax``); its ``prepare`` runs on the un-grown model and what it spends is
    charged to ``context.cost`` under ``"<method> growth step"`` and recorded in the result.

    Device, dtype and train/eval mode follow the model.  Grown parameters are new ``nn.Parameter``
    objects with the same names: rebuild the optimizer (:func:`growth.optim.rebuild_optimizer` carries
    its state over, zero-padded).  A bad argument raises ``ValueError`` (naming it, its value and what
    is allowed) before any change.
    """
    grower = make_width_method(method)
    noise = _check_noise(noise)
    groups = width_groups(model)
    grower.check(model)
    if grower.needs_data and getattr(context, "data", None) is None:
        raise ValueError(f"context={context!r}: method {grower.name!r} looks at training data, so it needs a "
                         "GrowthContext with data (and a cost meter, to be charged): grow_width(..., context=ctx)")
    if (width is None) == (channels is None):
        raise ValueError(f"width={width!r}, channels={channels!r}: give exactly one of them")
    if width is not None:
        targets, what = _targets_for_width(model, groups, width), f"width={width!r}"
    else:
        targets, what = _targets_for_channels(model, groups, channels), f"channels={channels!r}"
    plans = {g.name: GroupPlan(g.name, channel_count(model, g), targets[g.name], unit=g.unit,
                               tiled=any(_norm(model, n)[1].copies_only for n in g.norms)) for g in groups}
    _check_whole(plans, grower, what)
    ties = _ties(model, groups, plans, what)

    before = {name: tuple(p.shape) for name, p in model.named_parameters()}
    width_before = model.width
    start = time.perf_counter()
    prepared = grower.prepare(model, groups, plans, context, generator)
    overhead = int(prepared.pop("macs", 0))
    seconds = time.perf_counter() - start
    grower.plan(list(plans.values()), ties, generator)
    layers = _layer_plans(model, groups, plans)
    absorbing = any(getattr(norm_adapter(m), "absorbs", False) for m in model.modules())
    after_norm = normalised_layers(model) if grower.needs_norms and absorbing else {}
    rescaled = {}
    for layer in layers:
        layer.normalised = layer.name in after_norm
        weight, bias, scale = grower.layer(layer, model, generator)
        if noise:
            _add_noise(weight, layer, noise * layer.mup_std(), generator)
        layer.adapter.install(layer.module, weight, bias, layer.depthwise)
        if scale != 1.0:
            rescaled[f"{layer.name}.weight"] = scale
    for g in groups:
        plan = plans[g.name]
        if plan.added:
            for name in g.norms:
                module, adapter = _norm(model, name)
                adapter.grow(module, plan.old, plan.new, grower.norm_source(plan))
    for layer in layers:
        scale = rescaled.get(f"{layer.name}.weight")
        if scale is not None and layer.normalised:
            module, adapter = _norm(model, after_norm[layer.name])
            adapter.absorb(module, layer.rows.old if layer.rows else layer.module.weight.shape[0], scale)
    for tie in ties:
        _grow_shortcut(tie)
    model.width = float(width) if width is not None else None
    start = time.perf_counter()
    finished = grower.finish(model, groups, plans, context, generator)
    overhead += int(finished.pop("macs", 0))
    seconds += time.perf_counter() - start
    prepared.update(finished)
    if overhead and getattr(context, "cost", None) is not None:
        context.cost.add_extra(overhead, f"{grower.name or type(grower).__name__} growth step")
    shapes = {name: (before[name], tuple(p.shape)) for name, p in model.named_parameters()}
    return WidthGrowth(method=grower.name or type(grower).__name__, width=(width_before, model.width),
                       groups={n: (p.old, p.new) for n, p in plans.items()}, shapes=shapes, rescaled=rescaled,
                       overhead_macs=overhead, overhead_seconds=seconds, prepared=prepared)


@dataclass
class AddWidth:
    """Operator: :func:`grow_width` to the target its locator gives, with ``method``.

    With a schedule, it brings its own locator, :attr:`where`: ``width`` (one multiplier, or
    increasing multipliers: grow to the first one above the model's; :class:`growth.where.WidthSteps`)
    or ``channels`` (per-stage channel counts, group name -> count, the first entry the seed's: the
    k-th growth grows to entry k; :class:`growth.where.ChannelStages`, the VT schedule of
    :mod:`growth.when.width_schedule`): ``Grower(when, add_width.where, add_width)``.  Without one,
    pair it with any width locator: ``Grower(when, GroupRoundRobin(...), AddWidth(method="gradmax"))``.
    Each call draws from a generator seeded by the run's seed and epoch, passes the context to the
    method (GradMax looks at its data and charges its cost), and appends its :class:`WidthGrowth` to
    ``ctx.state["width_growth"]``; a method that looked at data also leaves a ``{"kind": "width", ...}``
    event in the History (its cost and what it found per group: ranks, eigenvalues, fallbacks).
    """

    width: float | Sequence[float] | None = None
    method: str | WidthMethod = "vt"
    noise: float = 0.0
    name: str = ""
    channels: Sequence[dict[str, int]] | None = None
    _method: WidthMethod = field(init=False, repr=False)
    _where: WidthSteps | ChannelStages | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._method = make_width_method(self.method)  # bad arguments fail here, before training
        _check_noise(self.noise)
        if self.width is not None and self.channels is not None:
            raise ValueError(f"width={self.width!r}, channels={self.channels!r}: give at most one of them")
        self._where = (ChannelStages(self.channels) if self.channels is not None
                       else WidthSteps(self.width) if self.width is not None else None)
        if self.channels is not None:
            self.channels = self._where.channels
        if not self.name:
            self.name = f"add-width({self._method.name or type(self._method).__name__})"

    def where(self, ctx: GrowthContext) -> float | dict[str, int] | None:
        """The schedule's locator: the next width or channel counts, None once the model has the last."""
        if self._where is None:
            raise ValueError("AddWidth() was given no width or channels schedule: pair it with a width locator "
                             "of growth.where (WidthSteps, ChannelStages, GroupRoundRobin)")
        return self._where(ctx)

    def check(self, model: nn.Module) -> None:
        """Before training: the method refuses a model, or a growth of the schedule, that it cannot grow
        (``ValueError``)."""
        self._method.check(model)
        if self.channels is not None:
            self._method.check_schedule(model, list(self.channels))

    def __call__(self, ctx: GrowthContext, target: Any) -> nn.Module:
        """Grow to ``target`` (a width or channel counts; None: the schedule's next, :meth:`where`)."""
        target = self.where(ctx) if target is None else target
        if target is None:
            raise ValueError(f"width={self.width!r}, channels={self.channels!r}: no target (the schedule is done), "
                             "the model cannot grow further")
        generator = torch.Generator().manual_seed(ctx.seed * 100_003 + ctx.epoch)
        size = {"channels": target} if isinstance(target, dict) else {"width": target}
        record = grow_width(ctx.model, **size, method=self._method, noise=self.noise, generator=generator,
                            context=ctx)
        ctx.state.setdefault("width_growth", []).append(record)
        if (record.overhead_macs or record.prepared) and ctx.history is not None:
            ctx.history.events.append({"kind": "width", "epoch": ctx.epoch, "method": record.method,
                                       "overhead_macs": record.overhead_macs,
                                       "overhead_seconds": record.overhead_seconds, "found": record.prepared})
        return ctx.model


# --------------------------------------------------------------------------- the models of a width schedule


def build_stage_model(name: str, channels: dict[str, int], fraction: float, *, width: float = 1.0,
                      num_classes: int = 10, image_size: int = 32, method: str = "vt", noise: float = 0.0,
                      generator: torch.Generator | None = None, fresh: bool = False) -> nn.Module:
    """The model ``name`` with exactly ``channels`` per group (e.g. the seed, the first entry of
    :func:`growth.when.width_schedule.stage_channels`): ``build_model(name, width=fraction * width)``
    (the family's own initialisation), then the groups that the schedule's rounding made wider than
    ``build_model``'s (half up) are widened with :func:`grow_width` (``method``, ``noise``,
    ``generator``).  ``fresh``: then every layer is initialised anew (PyTorch's defaults, then the
    family's ``layer_init``), a freshly built net of exactly ``channels`` (a seed whose groups are not
    all at ``fraction``: GradMax's WRN, narrow inside its blocks only).  ``ValueError`` naming the
    groups where the rounding gives fewer channels than ``build_model``."""
    model = build_model(name, num_classes=num_classes, image_size=image_size, width=fraction * width)
    built = channel_counts(model)
    narrower = [g for g, n in built.items() if channels.get(g, n) < n]
    if narrower:
        raise ValueError(f"channels={channels!r}: group(s) {', '.join(narrower)} of {name} at width "
                         f"{fraction * width:g} have {', '.join(str(built[g]) for g in narrower)} channels, more than "
                         "the schedule's rounding gives: choose another rounding or c0")
    if channels != built:
        grow_width(model, channels=channels, method=method, noise=noise, generator=generator)
    if fresh:
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if model.layer_init is not None:
            model.layer_init(model)
    return model


def stage_models(name: str, channels: Sequence[dict[str, int]], c0: float, *, width: float = 1.0,
                 num_classes: int = 10, image_size: int = 32) -> list[nn.Module]:
    """One model per stage, for costing a schedule: the seed (:func:`build_stage_model` at fraction
    ``c0``), then copies grown stage by stage (method ``random``, no noise).  Growing them also checks
    that the schedule can be grown (e.g. option-A shortcuts need room), before any training."""
    models = [build_stage_model(name, channels[0], c0, width=width, num_classes=num_classes,
                                image_size=image_size, method="random")]
    for stage in channels[1:]:
        model = copy.deepcopy(models[-1])
        grow_width(model, channels=stage, method="random")
        models.append(model)
    return models
