"""How width growth reads and writes each layer type: one adapter per type.

Width growth (:mod:`growth.how.width`) and its methods never ask what class a layer is; they ask
its adapter.  A :class:`LayerAdapter` gives a weighted layer's weight in *channel view*
``(out, in channels, *rest)`` (a Linear behind a flatten reads ``spatial`` features per channel,
channel-major), installs a grown weight and bias and updates the layer's sizes, and builds a fresh
layer of a grown shape (what the ``random`` method draws from).  A :class:`NormAdapter` grows a
normalisation layer's per-channel parameters and statistics and absorbs a rescaling of its input.

:func:`layer_adapter` and :func:`norm_adapter` find a module's adapter (the first registered whose
``types`` match); :func:`register_layer_adapter` adds one, so a new layer type (MixtureGrowth's
template layers) is one adapter.  A depthwise conv is a conv whose ``depthwise`` flag is set: it
reads and writes one group.  An embedding table is a layer whose output channels are its
embedding dimension (channel view ``(dim, vocabulary)``); a LayerNorm is a norm that absorbs no
rescaling and keeps its function only when new channels copy old ones whole (``copies_only``).
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BatchNormAdapter", "Conv2dAdapter", "EmbeddingAdapter", "LayerAdapter", "LayerNormAdapter", "LinearAdapter",
    "NormAdapter", "conv_output_size",
    "layer_adapter", "norm_adapter", "register_layer_adapter",
]


def _set_parameter(module: nn.Module, name: str, value: torch.Tensor) -> None:
    """Replace parameter ``name`` by a new ``nn.Parameter`` holding ``value`` (its ``requires_grad`` kept)."""
    old = getattr(module, name)
    setattr(module, name, nn.Parameter(value, requires_grad=old.requires_grad))


class LayerAdapter:
    """Base of the weighted layers' adapters."""

    types: ClassVar[tuple[type, ...]] = ()
    #: reads its input flattened: ``spatial`` features per channel of the group it reads
    flattened: ClassVar[bool] = False

    def weight(self, module: nn.Module, spatial: int = 1) -> torch.Tensor:
        """The weight in channel view ``(out, in channels, *rest)`` (a view, not a copy)."""
        return self.view(module.weight, spatial)

    def view(self, tensor: torch.Tensor, spatial: int = 1) -> torch.Tensor:
        """A tensor shaped like the weight (its gradient, a mask) in channel view."""
        return tensor

    def install(self, module: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None, depthwise: bool) -> None:
        """Set the grown ``weight`` (channel view) and ``bias`` as new parameters; update the sizes."""
        raise NotImplementedError

    def fresh(self, module: nn.Module, shape: tuple[int, ...], depthwise: bool) -> nn.Module:
        """A new layer like ``module`` whose channel-view weight has ``shape``, PyTorch's default init."""
        raise NotImplementedError

    def patches(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The input as each output unit sees it: ``(B, fan-in, *output grid)``, the fan-in coordinates
        in the order of a weight row (what GradMax's and Splitting's statistics are made of)."""
        raise NotImplementedError


class LinearAdapter(LayerAdapter):
    types = (nn.Linear,)
    flattened = True

    def view(self, tensor, spatial=1):
        if spatial > 1:
            return tensor.reshape(tensor.shape[0], tensor.shape[1] // spatial, spatial)
        return tensor

    def install(self, module, weight, bias, depthwise):
        weight = weight.reshape(weight.shape[0], -1)
        module.out_features, module.in_features = weight.shape
        _set_parameter(module, "weight", weight.contiguous())
        if bias is not None:
            _set_parameter(module, "bias", bias)

    def fresh(self, module, shape, depthwise):
        return nn.Linear(math.prod(shape[1:]), shape[0], bias=module.bias is not None, dtype=module.weight.dtype)

    def patches(self, module, x):
        return x.reshape(x.shape[0], -1)


class Conv2dAdapter(LayerAdapter):
    types = (nn.Conv2d,)

    def install(self, module, weight, bias, depthwise):
        if depthwise:
            module.out_channels = module.in_channels = module.groups = weight.shape[0]
        else:
            module.out_channels, module.in_channels = weight.shape[0], weight.shape[1] * module.groups
        _set_parameter(module, "weight", weight.contiguous())
        if bias is not None:
            _set_parameter(module, "bias", bias)

    def fresh(self, module, shape, depthwise):
        m = module
        channels_in = shape[0] if depthwise else shape[1]
        return nn.Conv2d(channels_in, shape[0], m.kernel_size, stride=m.stride, padding=m.padding,
                         dilation=m.dilation, groups=shape[0] if depthwise else m.groups, bias=m.bias is not None,
                         padding_mode=m.padding_mode, dtype=m.weight.dtype)

    def patches(self, module, x):
        """``F.unfold`` of the input (zero padding; a grouped conv's rows see only their group: not here)."""
        if module.groups != 1 or module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise ValueError(f"patches of a conv with groups={module.groups}, padding={module.padding!r}, "
                             f"padding_mode={module.padding_mode!r}: only plain zero-padded convs are unrolled")
        cols = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
        return cols.view(x.shape[0], cols.shape[1], *conv_output_size(module, x.shape[2:]))


class EmbeddingAdapter(LayerAdapter):
    """``nn.Embedding``: its ``(vocabulary, dim)`` table in channel view ``(dim, vocabulary)`` (a transposed
    view); it has no bias and reads token ids, not channels."""

    types = (nn.Embedding,)

    def view(self, tensor, spatial=1):
        return tensor.t()

    def install(self, module, weight, bias, depthwise):
        module.embedding_dim = weight.shape[0]
        _set_parameter(module, "weight", weight.t().contiguous())

    def fresh(self, module, shape, depthwise):
        return nn.Embedding(shape[1], shape[0], padding_idx=module.padding_idx, dtype=module.weight.dtype)

    def patches(self, module, x):
        raise ValueError("an embedding reads token ids: methods that look at a layer's input patches (GradMax, "
                         "Splitting) cannot grow it")


def conv_output_size(conv: nn.Conv2d, size) -> torch.Size:
    """The output grid of ``conv`` on an input grid ``size``."""
    return torch.Size((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in
                      zip(size, conv.padding, conv.dilation, conv.kernel_size, conv.stride))


class NormAdapter:
    """Base of the normalisation layers' adapters."""

    types: ClassVar[tuple[type, ...]] = ()
    #: keeps its function only if new channels copy old ones whole: its group grows by whole copies
    copies_only: ClassVar[bool] = False
    #: can absorb a rescaling of its input (:meth:`absorb`)
    absorbs: ClassVar[bool] = True

    def grow(self, module: nn.Module, old: int, new: int, source: torch.Tensor | None) -> None:
        """Grow to ``new`` channels: channel ``k`` copies channel ``source[k]`` (``-1``: fresh), or, without
        ``source``, fresh channels appended."""
        raise NotImplementedError

    def absorb(self, module: nn.Module, channels: int, scale: float) -> None:
        """Keep the function after the first ``channels`` of its input were multiplied by ``scale``."""
        raise NotImplementedError


def _grow_channels(module: nn.Module, fresh: dict[str, float], old: int, new: int, source: torch.Tensor | None) -> None:
    """Grow each per-channel tensor ``key`` of ``fresh`` (parameter or buffer; None skipped) to ``new``
    channels: channel ``k`` copies ``source[k]``, or takes ``fresh[key]`` where that is ``-1`` or there is
    no ``source`` (new channels appended)."""
    for key, value in fresh.items():
        current = getattr(module, key)
        if current is None:
            continue
        if source is not None:
            index = source.to(current.device)
            grown = current.detach()[index.clamp_min(0)].clone()
            grown[index < 0] = value
        else:
            grown = torch.cat([current.detach(), current.new_full((new - old,), value)])
        if isinstance(current, nn.Parameter):
            grown = nn.Parameter(grown, requires_grad=current.requires_grad)
        setattr(module, key, grown)


class BatchNormAdapter(NormAdapter):
    types = (nn.modules.batchnorm._BatchNorm,)
    FRESH: ClassVar[dict[str, float]] = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0}

    def grow(self, module, old, new, source):
        _grow_channels(module, self.FRESH, old, new, source)
        module.num_features = new

    def absorb(self, module, channels, scale):
        """VT, Sec. 3.1: running mean x ``scale``, running variance and ``eps`` x ``scale^2``."""
        if module.running_mean is not None:
            module.running_mean[:channels] *= scale
            module.running_var[:channels] *= scale**2
        module.eps *= scale**2


class LayerNormAdapter(NormAdapter):
    """``nn.LayerNorm`` over the channels: ``[x, x]`` has the mean and variance of ``x``, so with its gain
    and bias copied along it gives ``[LN(x), LN(x)]`` (Shen et al. 2022, staged training's doubling).
    Any other new channel changes the statistics of every channel."""

    types = (nn.LayerNorm,)
    copies_only = True
    absorbs = False
    FRESH: ClassVar[dict[str, float]] = {"weight": 1.0, "bias": 0.0}

    def grow(self, module, old, new, source):
        _grow_channels(module, self.FRESH, old, new, source)
        module.normalized_shape = (new,)

    def absorb(self, module, channels, scale):
        raise ValueError("a LayerNorm cannot absorb a rescaling of some of its channels")


LAYER_ADAPTERS: list[LayerAdapter] = [LinearAdapter(), Conv2dAdapter(), EmbeddingAdapter()]
NORM_ADAPTERS: list[NormAdapter] = [BatchNormAdapter(), LayerNormAdapter()]


def register_layer_adapter(adapter: LayerAdapter | NormAdapter) -> LayerAdapter | NormAdapter:
    """Add an adapter (an instance), consulted before the built-in ones."""
    if isinstance(adapter, LayerAdapter):
        LAYER_ADAPTERS.insert(0, adapter)
    elif isinstance(adapter, NormAdapter):
        NORM_ADAPTERS.insert(0, adapter)
    else:
        raise ValueError(f"adapter={adapter!r} is not allowed: give a LayerAdapter or NormAdapter instance")
    return adapter


def layer_adapter(module: nn.Module, *, required: bool = True) -> LayerAdapter | None:
    """The adapter of a weighted layer; ``ValueError`` (None if not ``required``) for another type."""
    for adapter in LAYER_ADAPTERS:
        if isinstance(module, adapter.types):
            return adapter
    if required:
        known = ", ".join(t.__name__ for a in LAYER_ADAPTERS for t in a.types)
        raise ValueError(f"layer type {type(module).__name__} cannot grow in width: layers with an adapter are "
                         f"{known} (growth.how.adapters.register_layer_adapter adds one)")
    return None


def norm_adapter(module: nn.Module) -> NormAdapter | None:
    """The adapter of a normalisation layer, None for any other module."""
    return next((a for a in NORM_ADAPTERS if isinstance(module, a.types)), None)
