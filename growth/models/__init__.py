"""The model zoo: growable architecture families, built from the papers' own names.

>>> from growth.models import build_model, list_models
>>> model = build_model("ResNet-20", num_classes=10)          # image_size=32: the CIFAR net
>>> model.spec
'Basic3ResNet-3-3-3'
>>> _ = model.stages[0].append(model.new_block(0))           # depth growth: one more block
>>> model.spec
'Basic3ResNet-4-3-3'

Families (``list_families()``): ``Basic3ResNet-a-b-c``, ``Basic4ResNet-a-b-c-d``,
``Bottleneck4ResNet-a-b-c-d``, ``Plain3Net-a-b-c``, ``Plain4Net-a-b-c-d`` (AutoGrow),
``VGG-a-b-c-d-e`` and ``MobileNetV2-a-b-c-d-e`` (FRAGrow), ``WRN-d-k`` (MixtureGrowth), ``WRNnoBN-d-k`` (GradMax),
``MobileNetV1``, ``CNN4``, ``MLP`` (Variance Transfer); their template-mixing forms ``TemplateWRN-d-k``,
``TemplateWRNnoBN-d-k``, ``TemplateResNet-50`` (MixtureGrowth, :func:`template_net`); aliases ``ResNet-20/32/56/110``,
``ResNet-18/34/50``, ``VGG-11/13/16/19``, ``MobileNetV2``; and ``Transformer-e-d`` (Variance Transfer's
encoder-decoder, reading tokens: ``list_models(inputs="tokens")``).  Every model is a
:class:`~growth.models.base.GrowableNet` (``stem -> stages of blocks -> head``) that lists its
:class:`~growth.models.base.ChannelGroup` s for width growth.
"""
from __future__ import annotations

# Each family module registers its names on import; this order is list_models()'s order.
from . import resnet, vgg, mobilenet, wrn, small, template, transformer  # noqa: F401,I001
from .activations import ReLU1, relu_one_at_zero
from .base import ChannelGroup, GrowableNet, Wiring, channel_counts, width_families, wired_channel_groups
from .mobilenet import MobileNetV1, MobileNetV2
from .registry import (
    IMAGENET_STEM_MIN_SIZE,
    Family,
    build_model,
    canonical_name,
    list_families,
    list_models,
    parse_name,
    register_alias,
    register_family,
    scale_channels,
)
from .resnet import Basic3ResNet, Basic4ResNet, Bottleneck4ResNet, Plain3Net, Plain4Net, ZeroPadShortcut
from .small import CNN4, MLP
from .template import TemplateNet, template_net
from .transformer import Transformer
from .vgg import VGG
from .wrn import WideResNet, WideResNetNoBN

__all__ = [
    "IMAGENET_STEM_MIN_SIZE",
    "Basic3ResNet",
    "Basic4ResNet",
    "Bottleneck4ResNet",
    "CNN4",
    "ChannelGroup",
    "Family",
    "GrowableNet",
    "MLP",
    "MobileNetV1",
    "MobileNetV2",
    "Plain3Net",
    "Plain4Net",
    "ReLU1",
    "VGG",
    "WideResNet",
    "WideResNetNoBN",
    "Wiring",
    "TemplateNet",
    "Transformer",
    "ZeroPadShortcut",
    "build_model",
    "relu_one_at_zero",
    "canonical_name",
    "channel_counts",
    "list_families",
    "list_models",
    "parse_name",
    "register_alias",
    "register_family",
    "scale_channels",
    "template_net",
    "width_families",
    "wired_channel_groups",
]
