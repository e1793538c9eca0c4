"""Template-mixing networks (MixtureGrowth, Pham et al. WACV 2024, Sec. 3.1): every conv / linear weight
is a linear combination of parameter templates, ``W = sum_k alpha_k T_k`` (Eq. 1).

A :class:`TemplateNet` holds two small networks ("members", the paper's network 1 and network 2) of one
architecture: each layer has one template set per member (a :class:`TemplateBank` of ``templates``
tensors of the small layer's shape) and trainable coefficients per *tile*.  Tile ``i`` mixes the
templates of set :data:`TILE_SETS` ``[i]``: tile 0 is member 0's weight, tile 1 member 1's; tiles 2 and
3 are the new tiles of growth (:mod:`growth.how.mixture`), over set 0 and set 1.  Before growth one
member is active (the other's parameters get no gradient); once grown every layer is the tiling of
Fig. 2 (g = 2, tiles ``[[W0, W2], [W3, W1]]`` for a hidden layer, rows = output channels):

================  ===============================  =====================================
layer             grown weight                     grown bias
================  ===============================  =====================================
hidden            ``[[W0, W2], [W3, W1]]``         ``[b0; b1]``
input (image)     ``[W0; W1]`` (stacked)           ``[b0; b1]``
output (logits)   ``[W0, W1]`` (side by side)      ``b0 + b1``: the logits are the sum
================  ===============================  =====================================

BatchNorm keeps one BN per member (:class:`MemberNorm`); growth concatenates their parameters and
running statistics into one BN of twice the channels.  With the cross tiles at zero the grown net
computes both members side by side and sums their logits (tests/test_template.py).

Template sharing between layers (``sharing``): ``"none"`` (every layer its own banks; the authors'
released runs), ``"pairs"`` (the paper's text: two adjacent layers of the same shape share their banks,
each keeping its own coefficients, at most two in a row), ``"modules"`` (the authors' code behind
``--cross_layer_sharing``: the two layers are one module, so they have identical weights).
Initialisation as the authors' code: each template Kaiming-normal, the coefficients of a layer the rows
of an orthogonal (tiles x templates) matrix (``nn.init.orthogonal_``).

``build_model`` names them ``Template`` + the plain family: ``TemplateWRN-d-k``,
``TemplateWRNnoBN-d-k`` (the paper's CIFAR net: BN only before each block), ``TemplateResNet-50``
(= ``TemplateBottleneck4ResNet-3-4-6-3``, ImageNet).  ``width`` is each member's width: the grown net
has twice each member's channels (``TemplateWRNnoBN-28-10`` at ``width=0.5``: two WRN-28-5s with the
code's 8-channel stem, grown to a WRN-28-10).  :func:`template_net` converts any plain net of plain
convs, linear layers and BatchNorm2d.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .base import GrowableNet, wired_channel_groups
from .registry import build_model, register_alias, register_family
from .resnet import ZeroPadShortcut
from .wrn import _check_wrn

__all__ = ["MEMBERS", "SHARING", "TILE_SETS", "MemberNorm", "MixingConv2d", "MixingLayer", "MixingLinear",
           "TemplateBank", "TemplateNet", "mix", "template_net"]

SHARING = ("none", "pairs", "modules")
#: tile -> the member (template set) whose templates it mixes: tiles 0, 1 are the members' weights.
TILE_SETS = (0, 1, 0, 1)
MEMBERS = (0, 1)
GROWN = "grown"


def mix(coefficients: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
    """Eq. 1: ``sum_k alpha_k T_k``.  An elementwise product and a sum, which fvcore does not count per
    sample: the mixing runs once per batch (:meth:`TemplateNet.batch_macs`)."""
    return (coefficients.view(-1, *([1] * (templates.dim() - 1))) * templates).sum(0)


class TemplateBank(nn.Module):
    """``count`` templates of one weight shape (one member's set for one layer, or a shared pair's)."""

    def __init__(self, count: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.templates = nn.Parameter(torch.empty(count, *shape))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if not self.templates.is_meta:
            for template in self.templates.data:
                nn.init.kaiming_normal_(template)


class MixingLayer(nn.Module):
    """A conv or linear layer whose weight is mixed from templates (:func:`mix`), per member or tiled.

    ``role``: ``"hidden"``, ``"input"`` (reads the image: outputs stacked when grown) or ``"output"``
    (writes the logits: inputs side by side).  ``banks``: the two members' :class:`TemplateBank` s.
    ``mode``: the active member (0 or 1) or ``"grown"``.
    """

    def __init__(self, shape: tuple[int, ...], role: str, banks: tuple[TemplateBank, TemplateBank],
                 bias: int | None) -> None:
        super().__init__()
        if role not in ("hidden", "input", "output"):
            raise ValueError(f"role={role!r} is not allowed: use 'hidden', 'input' or 'output'")
        self.role = role
        self.small_shape = tuple(shape)
        self.banks = nn.ModuleList(banks)
        count = banks[0].templates.shape[0]
        tiles = 4 if role == "hidden" else 2
        self.coefficients = nn.ParameterList([nn.Parameter(torch.zeros(count)) for _ in range(tiles)])
        self.bias = (nn.ParameterList([nn.Parameter(torch.zeros(bias)) for _ in MEMBERS]) if bias is not None
                     else None)
        self.mode: int | str = 0
        self.reset_coefficients()

    def reset_coefficients(self) -> None:
        """The authors' init: the rows of an orthogonal (tiles x templates) matrix."""
        if self.coefficients[0].is_meta:
            return
        rows = torch.empty(len(self.coefficients), self.coefficients[0].numel())
        nn.init.orthogonal_(rows)
        with torch.no_grad():
            for c, row in zip(self.coefficients, rows):
                c.copy_(row)

    def extra_repr(self) -> str:
        return (f"role={self.role}, small_shape={self.small_shape}, templates={self.banks[0].templates.shape[0]}, "
                f"mode={self.mode}")

    @property
    def cost_key(self) -> str:
        """What besides the shapes sets this layer's compute (:mod:`growth.measure.cost`'s cache key)."""
        return f"{self.role}:{'grown' if self.mode == GROWN else 'member'}"

    def tile(self, i: int) -> torch.Tensor:
        """Tile ``i``'s weight: its coefficients over its set's templates."""
        return mix(self.coefficients[i], self.banks[TILE_SETS[i]].templates)

    @property
    def weight(self) -> torch.Tensor:
        """The weight in force: the active member's, or the tiling once grown."""
        if self.mode != GROWN:
            return self.tile(self.mode)
        if self.role == "input":
            return torch.cat([self.tile(0), self.tile(1)], 0)
        if self.role == "output":
            return torch.cat([self.tile(0), self.tile(1)], 1)
        top = torch.cat([self.tile(0), self.tile(2)], 1)
        bottom = torch.cat([self.tile(3), self.tile(1)], 1)
        return torch.cat([top, bottom], 0)

    @property
    def bias_value(self) -> torch.Tensor | None:
        if self.bias is None:
            return None
        if self.mode != GROWN:
            return self.bias[self.mode]
        return self.bias[0] + self.bias[1] if self.role == "output" else torch.cat(list(self.bias), 0)

    def tiles_in_use(self) -> int:
        return 1 if self.mode != GROWN else len(self.coefficients)

    def mixing_macs(self) -> int:
        """MACs of Eq. 1 for one forward pass (once per batch): templates x weight size per tile used."""
        return self.tiles_in_use() * self.banks[0].templates.numel()


class MixingConv2d(MixingLayer):
    """A 2-d convolution (``groups=1``) with a mixed weight."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], *, stride, padding,
                 dilation, role: str, banks: tuple[TemplateBank, TemplateBank], bias: bool) -> None:
        super().__init__((out_channels, in_channels, *kernel_size), role, banks, out_channels if bias else None)
        self.stride, self.padding, self.dilation = stride, padding, dilation

    @property
    def in_channels(self) -> int:
        return self.weight_shape[1]

    @property
    def out_channels(self) -> int:
        return self.weight_shape[0]

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return tuple(self.small_shape[2:])

    @property
    def weight_shape(self) -> tuple[int, ...]:
        out, inp, *kernel = self.small_shape
        if self.mode == GROWN:
            out, inp = out * (1 if self.role == "output" else 2), inp * (1 if self.role == "input" else 2)
        return (out, inp, *kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias_value, self.stride, self.padding, self.dilation)


class MixingLinear(MixingLayer):
    """A linear layer with a mixed weight."""

    def __init__(self, in_features: int, out_features: int, *, role: str, banks: tuple[TemplateBank, TemplateBank],
                 bias: bool) -> None:
        super().__init__((out_features, in_features), role, banks, out_features if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias_value)


class MemberNorm(nn.Module):
    """One BatchNorm2d per member; :meth:`grow` concatenates them into one BN of both members' channels
    (weights, biases and running statistics: ``[bn0; bn1]``)."""

    def __init__(self, norm: nn.BatchNorm2d) -> None:
        super().__init__()
        make = dict(eps=norm.eps, momentum=norm.momentum, affine=norm.affine,
                    track_running_stats=norm.track_running_stats)
        device = next(iter([*norm.parameters(), *norm.buffers()]), torch.empty(0)).device
        self.members = nn.ModuleList([nn.BatchNorm2d(norm.num_features, **make).to(device) for _ in MEMBERS])
        self.full: nn.BatchNorm2d | None = None
        self.mode: int | str = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.full(x) if self.mode == GROWN else self.members[self.mode](x)

    def grow(self) -> None:
        """The concatenated BN, in place of the members' (which are dropped)."""
        a, b = self.members
        full = nn.BatchNorm2d(a.num_features + b.num_features, eps=a.eps, momentum=a.momentum, affine=a.affine,
                              track_running_stats=a.track_running_stats).to(device=a.weight.device,
                                                                            dtype=a.weight.dtype)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                if getattr(a, name) is not None:
                    getattr(full, name).copy_(torch.cat([getattr(a, name), getattr(b, name)]))
            if a.num_batches_tracked is not None:
                full.num_batches_tracked.copy_(torch.maximum(a.num_batches_tracked, b.num_batches_tracked))
        self.full = full.train(self.training)
        self.members = None
        self.mode = GROWN


def _pairs(layers: list[tuple[str, nn.Module]]) -> dict[str, str]:
    """Adjacent layers (forward order) of equal shape, paired greedily, at most two in a row (Sec. 3.1):
    second name -> first name."""
    pairs: dict[str, str] = {}
    i = 0
    while i + 1 < len(layers):
        (a, la), (b, lb) = layers[i], layers[i + 1]
        if type(la) is type(lb) and la.weight.shape == lb.weight.shape and _hyper(la) == _hyper(lb):
            pairs[b] = a
            i += 2
        else:
            i += 1
    return pairs


def _hyper(layer: nn.Module) -> tuple:
    if isinstance(layer, nn.Conv2d):
        return layer.stride, layer.padding, layer.dilation, layer.bias is None
    return (layer.bias is None,)


def _check_convertible(model: GrowableNet) -> None:
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and (m.groups != 1 or m.padding_mode != "zeros"):
            raise ValueError(f"model={model.spec!r}: layer {name} is a grouped or depthwise convolution, which "
                             "template tiling does not grow: choose a WRN, WRNnoBN or Bottleneck4ResNet")
        if isinstance(m, nn.modules.batchnorm._NormBase) and not isinstance(m, nn.BatchNorm2d):
            raise ValueError(f"model={model.spec!r}: layer {name} ({type(m).__name__}) is not a BatchNorm2d")
        if not isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)) and any(True for _ in m.parameters(recurse=False)):
            raise ValueError(f"model={model.spec!r}: layer {name} ({type(m).__name__}) has parameters template "
                             "mixing does not know")
        if isinstance(m, ZeroPadShortcut):
            raise ValueError(f"model={model.spec!r}: {name} is a zero-padding shortcut, which places channels "
                             "where tiling cannot: choose a WRN, WRNnoBN or Bottleneck4ResNet")


class TemplateNet(GrowableNet):
    """Two template-mixing members of one plain architecture (:func:`template_net` builds it)."""

    def __init__(self, base: GrowableNet, *, templates: int = 2, sharing: str = "none") -> None:
        super().__init__(num_classes=base.num_classes, image_size=base.image_size, width=base.width)
        if isinstance(templates, bool) or not isinstance(templates, int) or templates < 1:
            raise ValueError(f"templates={templates!r} is not allowed: use a positive integer (templates per set "
                             "and layer; the authors use 2)")
        if sharing not in SHARING:
            raise ValueError(f"sharing={sharing!r} is unknown: choose one of {', '.join(SHARING)}")
        _check_convertible(base)
        self.family = f"Template{base.family}"
        self.base_spec = base.spec
        self.templates = templates
        self.sharing = sharing
        self.in_channels = getattr(base, "in_channels", 3)
        self.depth_growable = False
        groups = wired_channel_groups(base)
        produced = {p for g in groups for p in g.producers}
        consumed = {c for g in groups for c in g.consumers}
        layers = [(n, m) for n, m in base.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        pairs = _pairs(layers) if sharing != "none" else {}
        made: dict[str, MixingLayer] = {}
        device = next(base.parameters()).device
        for name, layer in layers:
            role = "input" if name not in consumed else "output" if name not in produced else "hidden"
            first = pairs.get(name)
            if first is not None and sharing == "modules":
                new = made[first]
            else:
                shape = tuple(layer.weight.shape)
                with torch.device(device):
                    banks = (tuple(made[first].banks) if first is not None
                             else tuple(TemplateBank(templates, shape) for _ in MEMBERS))
                    if isinstance(layer, nn.Conv2d):
                        new = MixingConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                           stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                                           role=role, banks=banks, bias=layer.bias is not None)
                    else:
                        new = MixingLinear(layer.in_features, layer.out_features, role=role, banks=banks,
                                           bias=layer.bias is not None)
            made[name] = new
            _replace(base, name, new)
        for name, m in list(base.named_modules()):
            if isinstance(m, nn.BatchNorm2d):
                _replace(base, name, MemberNorm(m))
        self.stem, self.stages, self.head = base.stem, base.stages, base.head

    # -- what is active
    @property
    def mode(self) -> int | str:
        """The active member (0 or 1), or ``"grown"``."""
        return next(m.mode for m in self.modules() if isinstance(m, MixingLayer))

    @property
    def grown(self) -> bool:
        return self.mode == GROWN

    @property
    def spec(self) -> str:
        """``Template<plain spec>``; ``:net2`` while member 1 trains, ``:grown`` once grown."""
        mode = self.mode
        return f"Template{self.base_spec}" + ("" if mode == 0 else ":net2" if mode == 1 else ":grown")

    def set_member(self, member: int) -> None:
        """Make ``member`` (0 or 1) the network that computes and trains (before growth only)."""
        if member not in MEMBERS:
            raise ValueError(f"member={member!r} is not allowed: use 0 or 1")
        if self.grown:
            raise ValueError("the network is grown: its members are tiled into one, none can be selected")
        for m in self.modules():
            if isinstance(m, (MixingLayer, MemberNorm)):
                m.mode = member

    def views(self) -> dict[str, int]:
        """The networks this one holds, by name, for :meth:`as_view`: ``net1`` and ``net2`` (the members)
        before growth; none once grown (the net is then one network)."""
        return {} if self.grown else {f"net{m + 1}": m for m in MEMBERS}

    @contextlib.contextmanager
    def as_view(self, name: str) -> Iterator[nn.Module]:
        """Compute as the member ``name`` (:meth:`views`) inside the block; the active member is restored."""
        views = self.views()
        if name not in views:
            raise ValueError(f"view={name!r} is not allowed: this network holds {sorted(views) or 'no views (grown)'}")
        active = self.mode
        self.set_member(views[name])
        try:
            yield self
        finally:
            self.set_member(active)

    def mixing_layers(self) -> list[tuple[str, MixingLayer]]:
        """The distinct mixing layers, by (first) name; a shared module (``sharing="modules"``) once."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, MixingLayer)]

    def batch_macs(self) -> int:
        """MACs that one forward pass spends once per batch, whatever its size: Eq. 1's mixing."""
        return sum(m.mixing_macs() for _, m in self.mixing_layers())


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, new)


def template_net(name: str | GrowableNet, *, num_classes: int = 10, image_size: int = 32, width: float = 1.0,
                 templates: int = 2, sharing: str = "none") -> TemplateNet:
    """A :class:`TemplateNet` of the plain model ``name`` (a name of the zoo, built with ``num_classes``,
    ``image_size`` and ``width``: each member's width; or a built plain model, converted in place)."""
    base = build_model(name, num_classes=num_classes, image_size=image_size, width=width) if isinstance(name, str) \
        else name
    if not isinstance(base, GrowableNet):
        raise ValueError(f"name={name!r} is not allowed: give a model name of the zoo or a GrowableNet")
    return TemplateNet(base, templates=templates, sharing=sharing)


def _register(plain: str, pattern: str, examples: tuple[str, ...], check=None) -> None:
    @register_family(f"Template{plain}-{pattern}", examples=examples, check=check)
    def build(parts: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> GrowableNet:
        name = "-".join([plain, *map(str, parts)])
        return template_net(name, num_classes=num_classes, image_size=image_size, width=width)


_register("WRN", "d-k", ("TemplateWRN-28-5",), _check_wrn)
_register("WRNnoBN", "d-k", ("TemplateWRNnoBN-28-10",), _check_wrn)
_register("Bottleneck4ResNet", "a-b-c-d", ())
register_alias("TemplateResNet-50", "TemplateBottleneck4ResNet-3-4-6-3")

