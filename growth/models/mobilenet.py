"""MobileNetV2 (Sandler et al. 2018) in FRAGrow's notation, and MobileNetV1 (Howard et al. 2017).

``MobileNetV2-a-b-c-d-e``: the stages are the five middle bottleneck groups (24, 32, 64, 96, 160
channels, expansion 6) with a, b, c, d, e inverted-residual blocks; ``MobileNetV2-2-3-4-3-3`` (alias
``MobileNetV2``) is the standard net and FRAGrow's target, ``MobileNetV2-1-1-1-1-1`` its seed.  The
first group (16 channels, expansion 1, one block) closes the stem, after the 32-channel stem conv;
the last group (320 channels, one block), the 1x1 conv to 1280 channels, pooling, dropout 0.2 and the
linear layer form the head.  A stage's first block carries its stride; a block with stride 1 and
equal in/out channels adds its input (the identity residual), which a new block always does.

Strides.  ``image_size >= 128``: torchvision's ``mobilenet_v2()`` exactly (stem stride 2; stage
strides 2, 2, 2, 1, 2), same parameters.  Below 128 (CIFAR): stem stride 1 and the 24-channel stage
stride 1 (the usual CIFAR adaptation, e.g. kuangliu/pytorch-cifar), leaving 8x downsampling: 32 ->
4x4 before pooling.  Hidden widths follow torchvision: ``round(in_channels * expansion)``.  Width
multiplier: every hidden count scaled and rounded half up (no rounding to multiples of 8, so that
width growth can reach any count); the 1280 head channels scale too.  Works at any image size.

``MobileNetV1``: 3x3 stem conv (32 channels) then 13 depthwise-separable blocks (dw3x3-BN-ReLU,
pw1x1-BN-ReLU) to 1024 channels, pooling, linear; 4.2M parameters at 224 with 1000 classes (Howard et
al., Table 1).  Stages group the blocks by resolution (1-2-2-6-2); the net does not grow in depth (the
VT paper grows its width).  CIFAR (below 128): stem stride 1, as in the CIFAR MobileNet the VT paper
trains; 32 -> 2x2 before pooling.  The last depthwise block has stride 1 (Howard et al.'s table
prints s2, but its output is 7x7; every implementation uses 1).

Initialisation, both nets: torchvision's MobileNetV2 (convs ``kaiming_normal_(fan_out)`` with zero
bias, BN 1/0, linear ``normal_(0, 0.01)`` with zero bias).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ChannelGroup, GrowableNet, Wiring, wired_channel_groups
from .registry import IMAGENET_STEM_MIN_SIZE, register_alias, register_family, scale_channels

# (expansion, channels, stride at ImageNet, stride on CIFAR) of the five growable groups
V2_STAGES = ((6, 24, 2, 1), (6, 32, 2, 2), (6, 64, 2, 2), (6, 96, 1, 1), (6, 160, 2, 2))
V2_STANDARD = (2, 3, 4, 3, 3)


def init_mobilenet(module: nn.Module) -> None:
    """torchvision's MobileNetV2 initialisation, applied to every layer inside ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class ConvBNAct(nn.Module):
    """conv (no bias) - BN - activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, act=nn.ReLU6):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = act(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def wiring(self) -> Wiring:
        return Wiring(reads=("conv",), writes=("conv",), write_norms=("bn",))


class InvertedResidual(nn.Module):
    """[1x1 expand - BN - ReLU6,] 3x3 depthwise (stride) - BN - ReLU6, 1x1 project - BN [+ input]."""

    last_norm = "bn3"  # AutoGrow's "last BN": the one its initialisers set

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        self.expansion = expansion
        self.stride = stride
        self.use_residual = stride == 1 and in_channels == out_channels  # fixed at construction
        hidden = int(round(in_channels * expansion))
        if expansion != 1:
            self.expand = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(hidden)
        self.dw = nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.project = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU6(inplace=True)

    @property
    def out_channels(self) -> int:
        return self.project.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.expansion != 1:
            out = self.act(self.bn1(self.expand(out)))
        out = self.act(self.bn2(self.dw(out)))
        out = self.bn3(self.project(out))
        return x + out if self.use_residual else out

    def continuation(self) -> "InvertedResidual":
        """A stride-1 block with the identity residual that can follow this one (expansion 6)."""
        return InvertedResidual(self.out_channels, self.out_channels, 1, 6)

    def wiring(self) -> Wiring:
        writes = dict(writes=("project",), write_norms=("bn3",), residual=self.use_residual)
        if self.expansion == 1:
            return Wiring(reads=("project",), read_norms=("bn2",), read_depthwise=("dw",), **writes)
        hidden = ChannelGroup("expand", producers=("expand",), norms=("bn1", "bn2"), consumers=("project",),
                              depthwise=("dw",))
        return Wiring(reads=("expand",), internal=(hidden,), **writes)


class Classifier(nn.Module):
    """Global average pooling, dropout, linear layer ``fc`` (the logits)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.flatten(self.pool(x))))

    def wiring(self) -> Wiring:
        return Wiring(reads=("fc",))


class MobileNetV2Head(nn.Module):
    """The fixed 320-channel block, the 1x1 conv to 1280 channels and the classifier."""

    def __init__(self, in_channels: int, width: float, num_classes: int) -> None:
        super().__init__()
        self.block = InvertedResidual(in_channels, scale_channels(320, width), 1, 6)
        self.conv = ConvBNAct(self.block.out_channels, scale_channels(1280, width), 1)
        self.classifier = Classifier(self.conv.conv.out_channels, num_classes, 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.conv(self.block(x)))


class MobileNetV2(GrowableNet):
    """``MobileNetV2-a-b-c-d-e``: a, b, c, d, e blocks in the 24/32/64/96/160-channel groups."""

    family = "MobileNetV2"
    depth_growable = True

    layer_init = staticmethod(init_mobilenet)

    def __init__(self, depths: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> None:
        super().__init__(num_classes=num_classes, image_size=image_size, width=width)
        if len(depths) != 5 or min(depths) < 1:
            raise ValueError(f"depths={depths!r}: MobileNetV2 takes 5 positive depths")
        self.in_channels = 3
        self.imagenet = image_size >= IMAGENET_STEM_MIN_SIZE
        stem_conv = ConvBNAct(3, scale_channels(32, width), 3, stride=2 if self.imagenet else 1)
        stem_block = InvertedResidual(stem_conv.conv.out_channels, scale_channels(16, width), 1, 1)
        self.stem = nn.Sequential(stem_conv, stem_block)
        channels = stem_block.out_channels
        for s, (depth, (expansion, base, stride_imagenet, stride_cifar)) in enumerate(zip(depths, V2_STAGES)):
            stride = stride_imagenet if self.imagenet else stride_cifar
            first = InvertedResidual(channels, scale_channels(base, width), stride, expansion)
            self.stages.append(nn.Sequential(first, *(first.continuation() for _ in range(depth - 1))))
            channels = first.out_channels
        self.head = MobileNetV2Head(channels, width, num_classes)
        init_mobilenet(self)

    def new_block(self, stage: int) -> nn.Module:
        self._check_stage(stage)
        block = self.stages[stage][-1].continuation()
        init_mobilenet(block)
        return self._like_model(block)

    def channel_groups(self) -> list[ChannelGroup]:
        return wired_channel_groups(self)


class DepthwiseSeparable(nn.Module):
    """MobileNetV1's block: 3x3 depthwise (stride) - BN - ReLU, 1x1 pointwise - BN - ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2(self.pw(self.relu(self.bn1(self.dw(x))))))

    def wiring(self) -> Wiring:
        return Wiring(reads=("pw",), read_norms=("bn1",), read_depthwise=("dw",), writes=("pw",), write_norms=("bn2",))


# (out channels, stride) of MobileNetV1's 13 blocks, grouped by output resolution
V1_STAGES = (
    ((64, 1),),
    ((128, 2), (128, 1)),
    ((256, 2), (256, 1)),
    ((512, 2),) + ((512, 1),) * 5,
    ((1024, 2), (1024, 1)),
)


class MobileNetV1(GrowableNet):
    """MobileNetV1 (width multiplier 1 = the paper's 1.0 MobileNet-224 at 224)."""

    family = "MobileNetV1"
    depth_growable = False

    layer_init = staticmethod(init_mobilenet)

    def __init__(self, *, num_classes: int, image_size: int, width: float) -> None:
        super().__init__(num_classes=num_classes, image_size=image_size, width=width)
        self.in_channels = 3
        self.imagenet = image_size >= IMAGENET_STEM_MIN_SIZE
        self.stem = ConvBNAct(3, scale_channels(32, width), 3, stride=2 if self.imagenet else 1, act=nn.ReLU)
        channels = self.stem.conv.out_channels
        for stage in V1_STAGES:
            blocks = []
            for base, stride in stage:
                blocks.append(DepthwiseSeparable(channels, scale_channels(base, width), stride))
                channels = blocks[-1].pw.out_channels
            self.stages.append(nn.Sequential(*blocks))
        self.head = Classifier(channels, num_classes, 0.0)
        init_mobilenet(self)

    @property
    def spec(self) -> str:
        return "MobileNetV1"

    def channel_groups(self) -> list[ChannelGroup]:
        return wired_channel_groups(self)


@register_family("MobileNetV2-a-b-c-d-e", examples=("MobileNetV2-1-1-1-1-1",))
def _build_v2(depths: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> GrowableNet:
    return MobileNetV2(depths, num_classes=num_classes, image_size=image_size, width=width)


@register_family("MobileNetV1", examples=("MobileNetV1",))
def _build_v1(parts: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> GrowableNet:
    return MobileNetV1(num_classes=num_classes, image_size=image_size, width=width)


register_alias("MobileNetV2", "MobileNetV2-" + "-".join(map(str, V2_STANDARD)))
