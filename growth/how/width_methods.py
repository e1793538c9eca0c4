"""How width growth fills the new units, selectable by name (:data:`WIDTH_METHODS`).

=============  =========================================================================================
name           the new channels of a group
=============  =========================================================================================
random         fresh, as the family initialises a layer of the new shape; old weights untouched
net2net        Net2WiderNet (Chen et al. 2016, Sec. 3.1): each new unit copies a random old unit of its
               group (fan-in rows, BN parameters and statistics, depthwise kernels); every consumer
               column of a unit copied ``n - 1`` times is divided by ``n``.  Keeps the function.
vt             Variance Transfer (Yuan, Savarese, Maire, NeurIPS 2023, Sec. 3.1, Fig. 2, Eq. 1-4,
               Table 1; App. B): new units in pairs, fan-in ``V, V``, fan-out ``Z, -Z`` (they cancel);
               new weights with muP variances; old weights rescaled by the width ratio.  Keeps the function
               where a BatchNorm reads each rescaled layer (``rescale_without_bn=False``: everywhere).
vt-constraint  App. A's VT-constraint: as ``vt``, the old weights rescaled from their own statistics.
=============  =========================================================================================

Variances (``vt``, ``vt-constraint``; also the unit of ``noise`` for every method): a new weight of a
layer with fan-in ``F`` (input channels x kernel area at the *new* width) has std ``F**-1/2``, and
``1/F`` in the output layer (the logits), muP's ``1/fan_in`` and ``1/fan_in^2`` variances (Sec. 3.1,
"Weights Initialization with Variance Transfer").

Old-weight rescaling (Sec. 3.1 and Table 1): by ``c = sqrt(F_old / F_new)`` in a hidden layer,
``F_old / F_new`` in the output layer, 1 in the input layer (its fan-in does not grow, so the hidden
formula gives 1 there too; depthwise convs likewise).  A BatchNorm that is the only reader of the
layer's output absorbs ``c``: its running mean is scaled by ``c`` and its running variance by
``c^2`` (the paper's rule) and, our addition so that the function is kept *exactly*, its ``eps`` by
``c^2`` too (else it is kept up to ``eps / var``, about 1e-5).  Where no BatchNorm is the only reader
of the layer's output (the logits layer, the MLP's hidden layers, WRN's residual convs, VGG's ImageNet
classifier) nothing absorbs the factor: there the old weights and biases are rescaled all the same,
as the paper writes (the default; the function then changes: a ReLU network's logits are scaled, by
``F_old / F_new`` where only the logits layer lacks a BatchNorm, so its predictions are kept), or
kept with ``VarianceTransfer(rescale_without_bn=False)``, which keeps the function exactly [our
option: the paper says the rescaling "does not affect network functionality", which holds only
where a BN follows].

Odd numbers of new units (``vt``): the last new unit has no partner; it gets zero fan-in and zero
bias (so, at noise 0, it outputs 0 through its fresh BatchNorm and ReLU and its fan-out is free:
drawn like ``Z``).  With noise it comes alive from its noisy fan-in.

A method is a :class:`WidthMethod`: ``check`` refuses a model it cannot grow (before training),
``prepare`` looks at data on the un-grown model (GradMax's gradients; it returns the MACs it spent,
which the operator charges to the run), ``plan`` fixes per-group choices (Net2Net's copied units),
``layer`` returns a layer's grown weight and bias and the factor applied to its old weights,
``norm_source`` says what the new BatchNorm channels copy (nothing: fresh 1 / 0 / 0 / 1), ``finish``
works on the grown model (Firefly's optimisation of the new units; its MACs are charged too).  A method in
a file of its own joins :data:`WIDTH_METHODS` with :func:`register_width_method` (``gradmax``:
:mod:`growth.how.gradmax`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from .adapters import LayerAdapter, layer_adapter

__all__ = [
    "WIDTH_METHODS", "GroupPlan", "LayerPlan", "Net2Net", "RandomInit", "Tie", "VTConstraint", "VarianceTransfer",
    "WidthMethod", "make_width_method", "register_width_method",
]

# --------------------------------------------------------------------------- what grows


@dataclass
class GroupPlan:
    """One channel group grows from ``old`` to ``new`` channels, new ones appended at the end.

    ``source`` (Net2Net): for each new channel, the old channel it copies.  ``fan_out`` (set by a
    method's ``prepare``, GradMax): consumer name -> the new channels' columns of its old rows, in
    channel view ``(rows, added, *kernel)``.  ``fan_in`` (Firefly): producer name -> the new channels'
    rows over the old input coordinates, ``(added, fan-in)``.  ``split`` (Splitting): producer name -> an
    offset per new channel, in the shape of a weight row: the source unit's row gets ``+offset``, the
    copy's ``-offset``.  ``unit``: channels come in runs of ``unit`` (attention heads); ``tiled``: the
    group is read by a LayerNorm, so its new channels must copy the old ones whole, ``new // old`` times
    (:class:`~growth.how.adapters.LayerNormAdapter`).
    """

    name: str
    old: int
    new: int
    unit: int = 1
    tiled: bool = False
    source: torch.Tensor | None = None
    fan_out: dict[str, torch.Tensor] | None = None
    fan_in: dict[str, torch.Tensor] | None = None
    split: dict[str, torch.Tensor] | None = None

    @property
    def added(self) -> int:
        return self.new - self.old

    @property
    def fresh(self) -> int:
        """New channels that copy no old one (``source`` covers the first ``added - fresh``; Firefly)."""
        return self.added - (len(self.source) if self.source is not None else 0)

    def index(self) -> torch.Tensor:
        """Net2Net: the old channel behind every copied channel of the grown group (itself for old ones)."""
        return torch.cat([torch.arange(self.old), self.source])

    def copies(self) -> torch.Tensor:
        """Net2Net: for every old channel, how many channels of the grown group copy it (itself included)."""
        return torch.bincount(self.index(), minlength=self.old)


@dataclass
class LayerPlan:
    """A conv / linear layer to widen: the group it writes (``rows``) and the group it reads (``cols``).

    ``spatial``: input features per channel (a Linear behind a flatten, channel-major); ``logits``:
    the output layer; ``depthwise``: a depthwise conv (rows only: it reads and writes ``rows``);
    ``normalised``: a BatchNorm is the only reader of this layer's output (it can absorb a rescaling);
    ``adapter``: how to read and write this layer type (:mod:`growth.how.adapters`).
    """

    name: str
    module: nn.Module
    rows: GroupPlan | None = None
    cols: GroupPlan | None = None
    spatial: int = 1
    logits: bool = False
    depthwise: bool = False
    normalised: bool = False
    adapter: LayerAdapter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.adapter = layer_adapter(self.module)

    def weight(self) -> torch.Tensor:
        """The current weight in channel view, detached."""
        return self.adapter.weight(self.module, self.spatial).detach()

    def bias(self) -> torch.Tensor | None:
        """The current bias, detached (None: the layer has none, e.g. an embedding)."""
        bias = getattr(self.module, "bias", None)
        return None if bias is None else bias.detach()

    def grown_shape(self) -> tuple[int, ...]:
        """The weight's shape after growth, in channel view (``out, in channels, *kernel or spatial``)."""
        shape = list(self.weight().shape)
        if self.rows is not None:
            shape[0] = self.rows.new
        if self.cols is not None:
            shape[1] = self.cols.new
        return tuple(shape)

    def fan_in(self, grown: bool) -> int:
        shape = self.grown_shape() if grown else self.weight().shape
        return math.prod(shape[1:])

    def mup_std(self) -> float:
        """Std of a new weight at the new width: ``fan_in**-1/2``, ``1/fan_in`` for the logits (Sec. 3.1)."""
        fan_in = self.fan_in(grown=True)
        return 1.0 / fan_in if self.logits else fan_in ** -0.5


@dataclass
class Tie:
    """A parameter-free option-A shortcut (He et al.): its input channel ``i`` lands in output channel
    ``index[i]`` of group ``into``; new channel ``t`` of ``reads`` lands at ``into.old + offset + t``."""

    name: str
    module: nn.Module
    reads: GroupPlan
    into: GroupPlan
    offset: int


def unit_rows(vectors: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm, each signed so that its largest entry (by size) is positive (the same
    result from every LAPACK, whose singular and eigenvectors' signs are arbitrary)."""
    vectors = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(torch.finfo(vectors.dtype).tiny)
    sign = torch.sign(vectors.gather(1, vectors.abs().argmax(dim=1, keepdim=True)))
    return vectors * torch.where(sign == 0, torch.ones_like(sign), sign)


def randn(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal draws shaped ``shape`` on ``like``'s device and dtype, from ``generator`` if given."""
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def random_directions(count: int, size: int, generator: torch.Generator | None) -> torch.Tensor:
    """The GradMax authors' random fan-out (their ``AddRandom``): uniform in [0, 1) per entry, then unit
    norm (float64, CPU); GradMax's fallback and rank fill, and FireflySimple's new units, draw it."""
    device = generator.device if generator is not None else "cpu"
    draws = torch.rand((count, size), generator=generator, device=device, dtype=torch.float64).cpu()
    return draws / draws.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)


def randint(high: int, count: int, generator: torch.Generator | None) -> torch.Tensor:
    """``count`` integers in ``[0, high)`` on the CPU, drawn on ``generator``'s device if given."""
    device = generator.device if generator is not None else "cpu"
    return torch.randint(high, (count,), generator=generator, device=device).cpu()


# --------------------------------------------------------------------------- the methods


class WidthMethod:
    """Base of the width-growth methods."""

    name: ClassVar[str] = ""
    #: needs to know which layers a BatchNorm reads directly (``LayerPlan.normalised``)
    needs_norms: ClassVar[bool] = False
    #: looks at training data in ``prepare``: ``grow_width`` needs a ``context`` with ``data``
    needs_data: ClassVar[bool] = False
    #: new units start with zero fan-in: behind PyTorch's ReLU (derivative 0 at 0) they would never
    #: learn, so the recipes swap in :class:`growth.models.ReLU1`
    zero_fan_in: ClassVar[bool] = False
    #: grows groups of whole units (attention heads) and groups that must grow by whole copies (read by
    #: a LayerNorm) as they must; a method without it refuses them
    whole_units: ClassVar[bool] = False

    def check(self, model: nn.Module) -> None:
        """Raise ``ValueError`` if this method cannot grow ``model`` (called before training and growth)."""

    def check_schedule(self, model: nn.Module, channels: list[dict[str, int]]) -> None:
        """Raise ``ValueError`` if this method cannot make one of the growths of ``channels`` (per-stage
        counts, the first the seed's) on ``model`` (called before training)."""

    def prepare(self, model: nn.Module, groups: list, plans: dict[str, GroupPlan], context: Any,
                generator: torch.Generator | None) -> dict[str, Any]:
        """Look at the un-grown ``model`` (data, seed and cost meter in ``context``, a
        :class:`~growth.protocol.GrowthContext`) before anything changes; store what ``layer`` needs in
        the plans.  Returns a summary for the growth record; its ``"macs"`` are the multiply-accumulates
        spent, which the operator charges to the run."""
        return {}

    def finish(self, model: nn.Module, groups: list, plans: dict[str, GroupPlan], context: Any,
               generator: torch.Generator | None) -> dict[str, Any]:
        """Work on the grown ``model`` (Firefly's short optimisation of the new units); returns a summary
        for the growth record whose ``"macs"`` the operator charges to the run."""
        return {}

    def plan(self, plans: list[GroupPlan], ties: list[Tie], generator: torch.Generator | None) -> None:
        """Fix per-group choices, groups in forward order (a tie's source before its target)."""

    def layer(self, layer: LayerPlan, model: nn.Module, generator: torch.Generator | None
              ) -> tuple[torch.Tensor, torch.Tensor | None, float]:
        """(grown weight in channel view, grown bias or None, factor applied to the old weights)."""
        raise NotImplementedError

    def norm_source(self, plan: GroupPlan) -> torch.Tensor | None:
        """For every channel of the grown BatchNorm, the old channel it copies; None: new ones fresh."""
        return None

    def __repr__(self) -> str:
        args = (f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)) if is_dataclass(self) else ()
        return f"{type(self).__name__}({', '.join(args)})"


def _grown_bias(layer: LayerPlan, scale: float) -> torch.Tensor | None:
    """Old bias times ``scale``, zeros for new output units (None without a bias)."""
    bias = layer.bias()
    if bias is None:
        return None
    grown = bias.new_zeros(layer.rows.new if layer.rows is not None else bias.shape[0])
    grown[: bias.shape[0]] = bias.detach() * scale
    return grown


@dataclass(repr=False)
class RandomInit(WidthMethod):
    """New rows / columns as the family initialises a fresh layer of the new shape (the model's
    ``layer_init``; PyTorch's defaults without one); old weights kept.

    The fresh layer is drawn on the CPU with the global RNG forked and seeded from ``generator``.
    """

    name: ClassVar[str] = "random"
    whole_units: ClassVar[bool] = True

    def layer(self, layer, model, generator):
        weight = layer.module.weight.detach()
        fresh = self._fresh(layer, model, generator)
        grown = layer.adapter.weight(fresh, layer.spatial).detach().to(weight)
        old = layer.weight()
        grown[: old.shape[0], : old.shape[1]] = old
        bias, old_bias = getattr(fresh, "bias", None), layer.bias()
        if bias is not None:
            bias = bias.detach().to(weight)
            bias[: old_bias.shape[0]] = old_bias
        return grown, bias, 1.0

    @staticmethod
    def _fresh(layer: LayerPlan, model: nn.Module, generator: torch.Generator | None) -> nn.Module:
        seed = int(randint(2**62, 1, generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            fresh = layer.adapter.fresh(layer.module, layer.grown_shape(), layer.depthwise)
            init = getattr(model, "layer_init", None)
            if init is not None:
                init(fresh)
        return fresh


def _fresh_columns(layer: LayerPlan, weight: torch.Tensor) -> torch.Tensor:
    """The columns of a group's fresh channels in this consumer (``fan_out``; zeros without one)."""
    plan = layer.cols
    if plan.fan_out is not None and layer.name in plan.fan_out:
        return plan.fan_out[layer.name].to(weight)
    return weight.new_zeros(weight.shape[0], plan.fresh, *weight.shape[2:])


def _fresh_rows(layer: LayerPlan, weight: torch.Tensor) -> torch.Tensor:
    """The rows of a group's fresh channels in this producer: ``fan_in`` over the old input coordinates
    (zeros elsewhere), an identity kernel in a depthwise conv."""
    plan = layer.rows
    rows = weight.new_zeros(plan.fresh, *weight.shape[1:])
    if layer.depthwise:
        rows[:, :, rows.shape[2] // 2, rows.shape[3] // 2] = 1.0
    elif plan.fan_in is not None and layer.name in plan.fan_in:
        old = layer.weight().shape[1]
        rows[:, :old] = plan.fan_in[layer.name].reshape(plan.fresh, old, *weight.shape[2:]).to(weight)
    return rows


def whole_copies(plan: GroupPlan, generator: torch.Generator | None) -> torch.Tensor:
    """The source of each new channel of a group that grows in whole units or whole copies: the old
    channels ``new // old - 1`` more times (``plan.tiled``), or random old units of ``plan.unit``
    channels, each copied whole (an attention head with its queries, keys and values)."""
    if plan.tiled:
        return torch.arange(plan.old).repeat(plan.added // plan.old)
    units = randint(plan.old // plan.unit, plan.added // plan.unit, generator)
    return (units[:, None] * plan.unit + torch.arange(plan.unit)).reshape(-1)


def copied_columns(layer: LayerPlan, weight: torch.Tensor) -> torch.Tensor:
    """Net2Net's columns: each old column repeated where its channel was copied and divided by its number
    of copies (the copies' outputs are equal, so their sum is kept); fresh channels' columns appended."""
    if layer.cols is None or not layer.cols.added:
        return weight
    index = layer.cols.index()
    share = layer.cols.copies()[index].to(weight)
    weight = weight[:, index.to(weight.device)] / share.view(1, -1, *[1] * (weight.dim() - 2))
    if layer.cols.fresh:
        weight = torch.cat([weight, _fresh_columns(layer, weight)], dim=1)
    return weight


def copied_rows(layer: LayerPlan, weight: torch.Tensor, bias: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Net2Net's rows: each copied channel's row (and bias) repeated; fresh channels' rows appended."""
    if layer.rows is None or not layer.rows.added:
        return weight, bias
    index = layer.rows.index().to(weight.device)
    weight = weight[index]
    bias = bias[index] if bias is not None else None
    if layer.rows.fresh:
        weight = torch.cat([weight, _fresh_rows(layer, weight)])
        bias = None if bias is None else torch.cat([bias, bias.new_zeros(layer.rows.fresh)])
    return weight, bias


@dataclass(repr=False)
class Net2Net(WidthMethod):
    """Net2WiderNet (Chen et al. 2016, Sec. 3.1): new units replicate random old units of their group.

    A unit copied ``n - 1`` times has each consumer column divided by ``n`` (the copies' outputs are
    equal, so the sum is kept).  BN parameters and running statistics are copied with the unit.
    Option-A shortcuts: a new input channel lands in a new output channel that copies the old output
    channel its source landed in; the other new output channels copy old channels the shortcut left
    zero (all old channels if there is none; then the function is not kept).
    """

    name: ClassVar[str] = "net2net"
    whole_units: ClassVar[bool] = True

    def plan(self, plans, ties, generator):
        for plan in plans:
            if plan.tiled or plan.unit > 1:
                plan.source = whole_copies(plan, generator)
                continue
            into = [t for t in ties if t.into is plan]
            fixed = [t.module.index.cpu()[t.reads.source] for t in into]
            pool = torch.arange(plan.old)
            if into:
                zero = torch.ones(plan.old, dtype=torch.bool)
                for t in into:
                    zero[t.module.index.cpu()] = False
                pool = pool[zero] if zero.any() else pool
            free = plan.added - sum(len(f) for f in fixed)
            drawn = pool[randint(len(pool), free, generator)]
            plan.source = torch.cat([*fixed, drawn])

    def layer(self, layer, model, generator):
        weight, bias = copied_rows(layer, copied_columns(layer, layer.weight()), layer.bias())
        return weight.clone(), None if bias is None else bias.detach().clone(), 1.0

    def norm_source(self, plan):
        """The copied channels' sources; ``-1`` (fresh 1 / 0 / 0 / 1) for channels that copy none."""
        index = plan.index()
        return torch.cat([index, index.new_full((plan.fresh,), -1)]) if plan.fresh else index


@dataclass(repr=False)
class VarianceTransfer(WidthMethod):
    """Variance Transfer (Yuan, Savarese, Maire 2023, Sec. 3.1, Eq. 1-4, Table 1; App. B).

    ``W' = [[c W, Z, -Z], [V, V]]`` per layer (pairs of new units; see the module's notes for the
    last unit of an odd count), ``V, Z`` with muP std, old weights rescaled by ``c``.
    ``rescale_without_bn``: also rescale layers whose output no BatchNorm reads (the paper's rule, the
    default; the function then changes); ``False`` keeps those layers' old weights and the function.
    ``needs_norms``: the operator marks each layer's ``normalised``
    (:func:`growth.how.width.normalised_layers`).
    """

    name: ClassVar[str] = "vt"
    needs_norms: ClassVar[bool] = True
    whole_units: ClassVar[bool] = True
    rescale_without_bn: bool = True

    def plan(self, plans, ties, generator):
        for plan in plans:
            if plan.tiled:  # read by a LayerNorm: only whole copies keep the function (Net2Net's)
                plan.source = whole_copies(plan, generator)
            elif plan.unit % 2 and plan.unit > 1 and plan.added:
                raise ValueError(f"group {plan.name} grows in units of {plan.unit} channels: vt pairs new channels "
                                 "(V, V / Z, -Z) inside a unit, so the unit must be even")

    def layer(self, layer, model, generator):
        scale = self.scale(layer) if layer.normalised or self.rescale_without_bn else 1.0
        copy_cols = layer.cols is not None and layer.cols.source is not None
        copy_rows = layer.rows is not None and layer.rows.source is not None
        old, bias = layer.weight(), layer.bias()
        if copy_cols:
            old = copied_columns(layer, old)
        if copy_rows:
            old, bias = copied_rows(layer, old, bias)
        grown = old.new_zeros(layer.grown_shape())
        rows, cols = old.shape[:2]
        grown[:rows, :cols] = old * scale
        std = layer.mup_std()
        if layer.cols is not None and layer.cols.added and not copy_cols:
            z = randn((rows, (layer.cols.added + 1) // 2, *old.shape[2:]), old, generator).mul_(std)
            grown[:rows, cols::2] = z
            grown[:rows, cols + 1::2] = -z[:, : layer.cols.added // 2]
        if layer.rows is not None and layer.rows.added and not copy_rows:
            v = randn(((layer.rows.added + 1) // 2, *grown.shape[1:]), old, generator).mul_(std)
            v[layer.rows.added // 2:] = 0  # the unpaired last unit of an odd count: zero fan-in
            grown[rows::2] = v
            grown[rows + 1::2] = v[: layer.rows.added // 2]
        if copy_rows:
            return grown, None if bias is None else bias.detach() * scale, scale
        return grown, _grown_bias(layer, scale), scale

    def norm_source(self, plan):
        """A group read by a LayerNorm grows by copies, its norms with it; BatchNorms' new channels are fresh."""
        return plan.index() if plan.tiled else None

    def scale(self, layer: LayerPlan) -> float:
        """``sqrt(F_old / F_new)`` (hidden, input: 1), ``F_old / F_new`` for the logits (Table 1)."""
        ratio = layer.fan_in(grown=False) / layer.fan_in(grown=True)
        return ratio if layer.logits else math.sqrt(ratio)


@dataclass(repr=False)
class VTConstraint(VarianceTransfer):
    """App. A's VT-constraint: the old weights rescaled so that their *measured* variance becomes the
    variance of the new weights.

    [open] The formula of Theorem A.1 was lost in the text; our reading: ``c = sqrt(target / Var(W_old))``
    with ``target`` the muP variance of the new weights (``target="mup"``: ``1/F_new``, ``1/F_new^2``
    for the logits), or ``1/F_new`` for every layer (``target="unit"``: unit-variance features, the
    theorem's stated goal).  An all-zero old weight is not rescaled.  Unlike ``vt``, the input layer
    is rescaled too (its measured variance generally differs from ``1/F``).
    """

    name: ClassVar[str] = "vt-constraint"
    target: str = "mup"

    TARGETS: ClassVar[tuple[str, ...]] = ("mup", "unit")

    def __post_init__(self) -> None:
        if self.target not in self.TARGETS:
            raise ValueError(f"target={self.target!r} is unknown: choose one of {', '.join(self.TARGETS)}")

    def scale(self, layer):
        variance = float(layer.module.weight.detach().var(unbiased=False))
        fan_in = layer.fan_in(grown=True)
        target = 1.0 / fan_in**2 if layer.logits and self.target == "mup" else 1.0 / fan_in
        return math.sqrt(target / variance) if variance > 0 else 1.0


WIDTH_METHODS: dict[str, type[WidthMethod]] = {
    cls.name: cls for cls in (RandomInit, Net2Net, VarianceTransfer, VTConstraint)
}


def register_width_method(cls: type[WidthMethod]) -> type[WidthMethod]:
    """Class decorator: add a :class:`WidthMethod` subclass to :data:`WIDTH_METHODS` under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, WidthMethod)) or not cls.name:
        raise ValueError(f"{cls!r} is not a named WidthMethod subclass: give it a class attribute name")
    if cls.name in WIDTH_METHODS and WIDTH_METHODS[cls.name] is not cls:
        raise ValueError(f"width method name {cls.name!r} is taken by {WIDTH_METHODS[cls.name].__name__}")
    WIDTH_METHODS[cls.name] = cls
    return cls


def make_width_method(method: str | WidthMethod) -> WidthMethod:
    """A method from its name (:data:`WIDTH_METHODS`) or as given; ``ValueError`` for an unknown name."""
    if isinstance(method, WidthMethod):
        return method
    if isinstance(method, str) and method in WIDTH_METHODS:
        return WIDTH_METHODS[method]()
    raise ValueError(f"method={method!r} is unknown: choose one of {', '.join(WIDTH_METHODS)} "
                     "(or pass a growth.how.WidthMethod)")


def configured_width_method(method: str, width_options: dict[str, Any] | None = None, **defaults: Any) -> WidthMethod:
    """The method ``method`` of :data:`WIDTH_METHODS` as a recipe runs it: ``defaults`` where the class has
    such an option (e.g. VT's ``rescale_without_bn``), for a method not defined on every group (GradMax,
    Splitting) its authors' fallback there (``unsupported``: the second of its choices), and
    ``width_options`` on top.  ``ValueError`` naming the options the class does not have, and its own."""
    if method not in WIDTH_METHODS:
        make_width_method(method)  # raises, naming the methods
    cls = WIDTH_METHODS[method]
    allowed = sorted(f.name for f in fields(cls))
    options = dict(width_options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"width_options={options!r}: {unknown} are not options of method {method!r}; allowed: "
                         f"{', '.join(allowed)}")
    kwargs = {k: v for k, v in defaults.items() if k in allowed}
    if "unsupported" in allowed:
        kwargs["unsupported"] = cls.UNSUPPORTED[1]
    return cls(**{**kwargs, **options})
