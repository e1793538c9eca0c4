"""AutoGrow's residual and plain families, and the ResNets of He et al. as their aliases.

=====================  ======  ==========================  ==========================================
family                 stages  widths (stem; stages)       block (AutoGrow's sub-module)
=====================  ======  ==========================  ==========================================
Basic3ResNet-a-b-c     3       16; 16, 32, 64              basic block, option-A shortcut (He et al.)
Plain3Net-a-b-c        3       16; 16, 32, 64              one conv3x3-BN-ReLU
Basic4ResNet-a-b-c-d   4       64; 64, 128, 256, 512       basic block, projection shortcut
Bottleneck4ResNet-...  4       64; 256, 512, 1024, 2048    bottleneck (stride on the 3x3, torchvision)
Plain4Net-a-b-c-d      4       64; 64, 128, 256, 512       one conv3x3-BN-ReLU
=====================  ======  ==========================  ==========================================

The first block of every stage but the first halves the resolution (stride 2).  Aliases:
``ResNet-20/32/56/110`` = ``Basic3ResNet-n-n-n`` (n = 3, 5, 9, 18; He et al.'s CIFAR nets, 0.27M /
0.46M / 0.85M / 1.7M parameters), ``ResNet-18`` = ``Basic4ResNet-2-2-2-2``, ``ResNet-34`` =
``Basic4ResNet-3-4-6-3``, ``ResNet-50`` = ``Bottleneck4ResNet-3-4-6-3``.

Layouts.  The 3-stage families are CIFAR nets: a 3x3 stem conv, any image size.  The 4-stage families
take torchvision's ImageNet stem (7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max-pool) for
``image_size >= 128`` and the CIFAR stem (3x3 stride-1 conv, BN, ReLU, no max-pool; AutoGrow's and
kuangliu's layout) below it.  Every net ends in global average pooling and one linear layer.

Shortcuts.  Basic3ResNet uses He et al.'s option A (parameter-free: subsample, then place the input
channels among zero channels: :class:`ZeroPadShortcut`), which is what gives ResNet-20 its 269,722
parameters; the 4-stage families use torchvision's projection (1x1 conv + BN) where the shape changes.

Initialisation (torchvision's ResNet): convs ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``,
BN weight 1 and bias 0, the linear layer PyTorch's default.  :meth:`new_block` blocks get the same.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ChannelGroup, GrowableNet, Wiring, wired_channel_groups
from .registry import IMAGENET_STEM_MIN_SIZE, register_alias, register_family, scale_channels


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def init_resnet(module: nn.Module) -> None:
    """torchvision's ResNet initialisation, applied to every conv and BN inside ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- building blocks


class ZeroPadShortcut(nn.Module):
    """He et al.'s option-A shortcut: subsample by ``stride``, then zero-pad the channels.

    Input channel ``i`` lands in output channel ``index[i]``; the default is the original's centred
    layout ``index = arange(in) + (out - in) // 2`` (``F.pad`` of ``(out - in) // 2`` zero channels on
    each side).  ``index`` is a buffer so that width growth can extend it for new input channels and
    raise ``out_channels`` for new output channels.  No parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"out_channels={out_channels} < in_channels={in_channels}: option A only pads")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.register_buffer("index", torch.arange(in_channels) + (out_channels - in_channels) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        out = x.new_zeros((x.shape[0], self.out_channels, *x.shape[2:]))
        return out.index_copy(1, self.index, x)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU (He et al.).

    ``shortcut``: ``"A"`` (zero padding, :class:`ZeroPadShortcut`) or ``"B"`` (1x1 conv + BN) where
    the shape changes; the identity otherwise.
    """

    last_norm = "bn2"  # AutoGrow's "last BN": the one its initialisers set

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, shortcut: str = "B") -> None:
        super().__init__()
        self.shortcut_type = shortcut
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))

    @property
    def out_channels(self) -> int:
        return self.conv2.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))

    def continuation(self) -> "BasicBlock":
        """A new block that can follow this one: same width, stride 1, identity shortcut."""
        return BasicBlock(self.out_channels, self.out_channels, 1, self.shortcut_type)

    def wiring(self) -> Wiring:
        internal = (ChannelGroup("conv1", producers=("conv1",), norms=("bn1",), consumers=("conv2",)),)
        if isinstance(self.shortcut, nn.Identity):
            return Wiring(reads=("conv1",), internal=internal, writes=("conv2",), write_norms=("bn2",), residual=True)
        if isinstance(self.shortcut, ZeroPadShortcut):
            return Wiring(reads=("conv1", "shortcut"), internal=internal, writes=("conv2",), write_norms=("bn2",))
        return Wiring(
            reads=("conv1", "shortcut.0"),
            internal=internal,
            writes=("conv2", "shortcut.0"),
            write_norms=("bn2", "shortcut.1"),
        )


class Bottleneck(nn.Module):
    """1x1 (in -> mid), 3x3 (mid, carries the stride), 1x1 (mid -> out), each with BN; projection
    shortcut (1x1 conv + BN) where the shape changes.  torchvision's (ResNet v1.5) layout."""

    last_norm = "bn3"  # AutoGrow's "last BN": the one its initialisers set

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv1x1(in_channels, mid_channels)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = conv3x3(mid_channels, mid_channels, stride)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = conv1x1(mid_channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))

    @property
    def out_channels(self) -> int:
        return self.conv3.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))

    def continuation(self) -> "Bottleneck":
        return Bottleneck(self.out_channels, self.conv2.out_channels, self.out_channels, 1)

    def wiring(self) -> Wiring:
        internal = (
            ChannelGroup("conv1", producers=("conv1",), norms=("bn1",), consumers=("conv2",)),
            ChannelGroup("conv2", producers=("conv2",), norms=("bn2",), consumers=("conv3",)),
        )
        if isinstance(self.shortcut, nn.Identity):
            return Wiring(reads=("conv1",), internal=internal, writes=("conv3",), write_norms=("bn3",), residual=True)
        return Wiring(
            reads=("conv1", "shortcut.0"),
            internal=internal,
            writes=("conv3", "shortcut.0"),
            write_norms=("bn3", "shortcut.1"),
        )


class PlainBlock(nn.Module):
    """One conv3x3-BN-ReLU: the sub-module of AutoGrow's plain nets (its code's ``PlainBlock``)."""

    last_norm = "bn"  # AutoGrow's "last BN": the one its initialisers set

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = conv3x3(in_channels, out_channels, stride)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))

    def continuation(self) -> "PlainBlock":
        return PlainBlock(self.out_channels, self.out_channels, 1)

    def wiring(self) -> Wiring:
        return Wiring(reads=("conv",), writes=("conv",), write_norms=("bn",))


class ConvStem(nn.Module):
    """conv-BN-ReLU stem: CIFAR (3x3, stride 1) or ImageNet (7x7 stride 2, then 3x3 stride-2 max-pool)."""

    def __init__(self, in_channels: int, out_channels: int, *, imagenet: bool) -> None:
        super().__init__()
        if imagenet:
            self.conv = nn.Conv2d(in_channels, out_channels, 7, stride=2, padding=3, bias=False)
        else:
            self.conv = conv3x3(in_channels, out_channels)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1) if imagenet else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))

    def wiring(self) -> Wiring:
        return Wiring(reads=("conv",), writes=("conv",), write_norms=("bn",))


class PoolLinearHead(nn.Module):
    """Global average pooling, optional dropout, one linear layer ``fc`` (the logits)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.flatten(self.pool(x))))

    def wiring(self) -> Wiring:
        return Wiring(reads=("fc",))


# --------------------------------------------------------------------------- the families


class _StagedResNet(GrowableNet):
    """stem -> stages of blocks (the first of stages 2.. has stride 2) -> pool + linear."""

    depth_growable = True
    layer_init = staticmethod(init_resnet)
    stem_width: int = 64
    stage_widths: tuple[int, ...] = ()
    imagenet_layout: bool = False  # has an ImageNet stem (the 4-stage families)

    def __init__(self, depths: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> None:
        super().__init__(num_classes=num_classes, image_size=image_size, width=width)
        if len(depths) != len(self.stage_widths) or min(depths) < 1:
            raise ValueError(f"depths={depths!r}: {self.family} takes {len(self.stage_widths)} positive depths")
        self.in_channels = 3
        self.imagenet = self.imagenet_layout and image_size >= IMAGENET_STEM_MIN_SIZE
        channels = scale_channels(self.stem_width, width)
        self.stem = ConvStem(3, channels, imagenet=self.imagenet)
        for s, (depth, base) in enumerate(zip(depths, self.stage_widths)):
            first = self._block(channels, base, 1 if s == 0 else 2)
            blocks = [first] + [first.continuation() for _ in range(depth - 1)]
            self.stages.append(nn.Sequential(*blocks))
            channels = first.out_channels
        self.head = PoolLinearHead(channels, num_classes)
        init_resnet(self)

    def _block(self, in_channels: int, base: int, stride: int) -> nn.Module:
        raise NotImplementedError

    def new_block(self, stage: int) -> nn.Module:
        self._check_stage(stage)
        block = self.stages[stage][-1].continuation()
        init_resnet(block)
        return self._like_model(block)

    def channel_groups(self) -> list[ChannelGroup]:
        return wired_channel_groups(self)


class Basic3ResNet(_StagedResNet):
    """AutoGrow's Basic3ResNet-a-b-c: He et al.'s CIFAR ResNet (option-A shortcuts), a-b-c blocks."""

    family = "Basic3ResNet"
    stem_width = 16
    stage_widths = (16, 32, 64)

    def _block(self, in_channels: int, base: int, stride: int) -> nn.Module:
        return BasicBlock(in_channels, scale_channels(base, self.width), stride, shortcut="A")


class Plain3Net(_StagedResNet):
    """AutoGrow's Plain3Net-a-b-c: Basic3ResNet's skeleton, each sub-module one conv3x3-BN-ReLU."""

    family = "Plain3Net"
    stem_width = 16
    stage_widths = (16, 32, 64)

    def _block(self, in_channels: int, base: int, stride: int) -> nn.Module:
        return PlainBlock(in_channels, scale_channels(base, self.width), stride)


class Basic4ResNet(_StagedResNet):
    """AutoGrow's Basic4ResNet-a-b-c-d: ResNet-18/34's family (projection shortcuts)."""

    family = "Basic4ResNet"
    stage_widths = (64, 128, 256, 512)
    imagenet_layout = True

    def _block(self, in_channels: int, base: int, stride: int) -> nn.Module:
        return BasicBlock(in_channels, scale_channels(base, self.width), stride, shortcut="B")


class Bottleneck4ResNet(_StagedResNet):
    """AutoGrow's Bottleneck4ResNet-a-b-c-d: ResNet-50's family (expansion 4)."""

    family = "Bottleneck4ResNet"
    stage_widths = (64, 128, 256, 512)  # the bottleneck (mid) widths; outputs are 4x
    imagenet_layout = True

    def _block(self, in_channels: int, base: int, stride: int) -> nn.Module:
        mid, out = scale_channels(base, self.width), scale_channels(4 * base, self.width)
        return Bottleneck(in_channels, mid, out, stride)


class Plain4Net(_StagedResNet):
    """AutoGrow's Plain4Net-a-b-c-d: Basic4ResNet's skeleton, each sub-module one conv3x3-BN-ReLU."""

    family = "Plain4Net"
    stage_widths = (64, 128, 256, 512)
    imagenet_layout = True

    def _block(self, in_channels: int, base: int, stride: int) -> nn.Module:
        return PlainBlock(in_channels, scale_channels(base, self.width), stride)


def _register(cls: type[_StagedResNet], placeholders: str, examples: tuple[str, ...]) -> None:
    @register_family(f"{cls.family}-{placeholders}", examples=examples)
    def build(depths: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> GrowableNet:
        return cls(depths, num_classes=num_classes, image_size=image_size, width=width)


# The papers' seed nets: AutoGrow starts from one block per stage; FRAGrow's ResNet seed is 2-2-2-2.
_register(Basic3ResNet, "a-b-c", ("Basic3ResNet-1-1-1",))
_register(Basic4ResNet, "a-b-c-d", ("Basic4ResNet-1-1-1-1", "Basic4ResNet-2-2-2-2"))
_register(Bottleneck4ResNet, "a-b-c-d", ("Bottleneck4ResNet-1-1-1-1",))
_register(Plain3Net, "a-b-c", ("Plain3Net-1-1-1",))
_register(Plain4Net, "a-b-c-d", ("Plain4Net-1-1-1-1",))

for _n, _depth in ((3, 20), (5, 32), (9, 56), (18, 110)):
    register_alias(f"ResNet-{_depth}", f"Basic3ResNet-{_n}-{_n}-{_n}")
register_alias("ResNet-18", "Basic4ResNet-2-2-2-2")
register_alias("ResNet-34", "Basic4ResNet-3-4-6-3")
register_alias("ResNet-50", "Bottleneck4ResNet-3-4-6-3")
