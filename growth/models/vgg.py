"""VGG with BatchNorm (Simonyan & Zisserman), in FRAGrow's per-stage notation ``VGG-a-b-c-d-e``.

Five stages of 64, 128, 256, 512, 512 channels with a, b, c, d, e conv3x3-BN-ReLU units (a unit is
AutoGrow's and FRAGrow's sub-module); ``VGG-11`` = ``VGG-1-1-2-2-2``, ``VGG-13`` = ``VGG-2-2-2-2-2``,
``VGG-16`` = ``VGG-2-2-3-3-3``, ``VGG-19`` = ``VGG-2-2-4-4-4``; FRAGrow grows ``VGG-1-1-1-1-2`` into
``VGG-2-2-4-4-4``.

Pooling placement (a choice the papers leave open).  VGG halves the resolution with a 2x2 max-pool
after each stage.  Here the pool that ends stage s-1 is the first layer of stage s's first unit, and
the pool after the last stage opens the head.  So every unit of a stage runs at the stage's
resolution and a unit appended at the end of a stage is a plain conv-BN-ReLU (no pool): the
function's shape, and the place of every pool relative to the convs of the other stages, is kept.
The module list is torchvision's ``features`` in the same order.

Heads.  ``image_size >= 128``: torchvision's ``vgg*_bn`` classifier (adaptive 7x7 average pooling,
25088-4096-4096-classes with ReLU and dropout 0.5), so ``VGG-11`` at 224 with 1000 classes has
torchvision's ``vgg11_bn()`` parameters exactly.  Below 128 (CIFAR): global average pooling and a
single linear layer 512 -> classes (the common CIFAR VGG).  Any ``image_size >= 32`` works (five 2x2
max-pools).

Initialisation: torchvision's VGG (convs ``kaiming_normal_(fan_out, relu)`` with zero bias, BN 1/0,
linear layers ``normal_(0, 0.01)`` with zero bias).  Convs keep their bias, as in torchvision.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ChannelGroup, GrowableNet, Wiring, wired_channel_groups
from .registry import IMAGENET_STEM_MIN_SIZE, register_alias, register_family, scale_channels

STAGE_WIDTHS = (64, 128, 256, 512, 512)
ALIASES = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def init_vgg(module: nn.Module) -> None:
    """torchvision's VGG initialisation, applied to every layer inside ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class VGGUnit(nn.Module):
    """[2x2 max-pool,] conv3x3 (with bias) - BN - ReLU."""

    last_norm = "bn"  # AutoGrow's "last BN": the one its initialisers set

    def __init__(self, in_channels: int, out_channels: int, *, pool: bool = False) -> None:
        super().__init__()
        self.pool: nn.Module = nn.MaxPool2d(2, 2) if pool else nn.Identity()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(self.pool(x))))

    def continuation(self) -> "VGGUnit":
        return VGGUnit(self.out_channels, self.out_channels)

    def wiring(self) -> Wiring:
        return Wiring(reads=("conv",), writes=("conv",), write_norms=("bn",))


class VGGSmallHead(nn.Module):
    """CIFAR head: the last 2x2 max-pool, global average pooling, one linear layer."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.avgpool(self.pool(x))))

    def wiring(self) -> Wiring:
        return Wiring(reads=("fc",))


class VGGImageNetHead(nn.Module):
    """torchvision's head: the last max-pool, adaptive 7x7 average pooling, 4096-4096 classifier."""

    def __init__(self, in_channels: int, hidden: int, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.flatten = nn.Flatten(1)
        self.fc1 = nn.Linear(in_channels * 49, hidden)
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop2 = nn.Dropout(dropout)
        self.fc3 = nn.Linear(hidden, num_classes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.avgpool(self.pool(x)))
        x = self.drop1(self.relu(self.fc1(x)))
        x = self.drop2(self.relu(self.fc2(x)))
        return self.fc3(x)

    def wiring(self) -> Wiring:
        return Wiring(
            reads=("fc1",),
            spatial=49,
            internal=(
                ChannelGroup("fc1", producers=("fc1",), consumers=("fc2",)),
                ChannelGroup("fc2", producers=("fc2",), consumers=("fc3",)),
            ),
        )


class VGG(GrowableNet):
    """``VGG-a-b-c-d-e``: VGG-BN with a, b, c, d, e conv units in its five stages."""

    family = "VGG"
    depth_growable = True

    layer_init = staticmethod(init_vgg)

    def __init__(self, depths: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> None:
        super().__init__(num_classes=num_classes, image_size=image_size, width=width)
        if len(depths) != 5 or min(depths) < 1:
            raise ValueError(f"depths={depths!r}: VGG takes 5 positive depths")
        self.in_channels = 3
        self.imagenet = image_size >= IMAGENET_STEM_MIN_SIZE
        channels = 3
        for s, (depth, base) in enumerate(zip(depths, STAGE_WIDTHS)):
            first = VGGUnit(channels, scale_channels(base, width), pool=s > 0)
            self.stages.append(nn.Sequential(first, *(first.continuation() for _ in range(depth - 1))))
            channels = first.out_channels
        if self.imagenet:
            self.head = VGGImageNetHead(channels, scale_channels(4096, width), num_classes)
        else:
            self.head = VGGSmallHead(channels, num_classes)
        init_vgg(self)

    def new_block(self, stage: int) -> nn.Module:
        self._check_stage(stage)
        block = self.stages[stage][-1].continuation()
        init_vgg(block)
        return self._like_model(block)

    def channel_groups(self) -> list[ChannelGroup]:
        return wired_channel_groups(self)


@register_family("VGG-a-b-c-d-e", examples=("VGG-1-1-1-1-2",), min_image_size=32)
def _build_vgg(depths: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> GrowableNet:
    return VGG(depths, num_classes=num_classes, image_size=image_size, width=width)


for _layers, _depths in ALIASES.items():
    register_alias(f"VGG-{_layers}", "VGG-" + "-".join(map(str, _depths)))
