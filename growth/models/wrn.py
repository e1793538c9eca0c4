"""Wide residual networks (Zagoruyko & Komodakis 2016): ``WRN-d-k``, e.g. MixtureGrowth's WRN-28-10.

d = 6n + 4 layers: a 3x3 stem conv (16 channels), three stages of n pre-activation blocks
(BN-ReLU-conv3x3-BN-ReLU-conv3x3) of 16k, 32k and 64k channels (strides 1, 2, 2), a final BN-ReLU,
global average pooling and a linear layer.  Where a block changes the shape its shortcut is a 1x1
conv (no BN) applied to the block's pre-activated input, as in the reference code; elsewhere the
identity.  ``WRN-28-10`` has 36.5M parameters at 10 classes (the paper's Table), 36,479,194 exactly.
No dropout (the paper's main CIFAR nets).  A CIFAR net: one layout, any image size.

``WRNnoBN-d-k`` is the same net without the BN inside each block (BN-ReLU-conv3x3-ReLU-conv3x3): the
WRN-28-1 that GradMax grows (its authors' ``normalization_type='none'``; BN only before each block),
which Variance Transfer's App. G (Table 13) compares "w/ and w/o BN".

The depth ``d`` and factor ``k`` are the net's name, so WRN does not grow in depth here (its
``spec`` is ``WRN-d-k``); it grows in width (MixtureGrowth: WRN-28-5 -> WRN-28-10, which is
``width=0.5`` -> ``width=1``).

Initialisation (as the widely used PyTorch port xternalz/WideResNet-pytorch): convs
``kaiming_normal_(fan_out, relu)``, BN 1/0, linear bias 0 (weight PyTorch's default).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ChannelGroup, GrowableNet, Wiring, wired_channel_groups
from .registry import register_family, scale_channels


def init_wrn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3, plus the identity or a 1x1-conv shortcut; with
    ``inner_norm=False`` the inner BN is left out (BN-ReLU-conv3x3-ReLU-conv3x3)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *, inner_norm: bool = True) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels) if inner_norm else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=False)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.relu(self.bn1(x))
        y = self.conv2(self.relu(self.bn2(self.conv1(o))))
        return y + (x if isinstance(self.shortcut, nn.Identity) else self.shortcut(o))

    def wiring(self) -> Wiring:
        norms = ("bn2",) if isinstance(self.bn2, nn.BatchNorm2d) else ()
        internal = (ChannelGroup("conv1", producers=("conv1",), norms=norms, consumers=("conv2",)),)
        if isinstance(self.shortcut, nn.Identity):
            return Wiring(reads=("conv1",), read_norms=("bn1",), internal=internal, writes=("conv2",), residual=True)
        return Wiring(
            reads=("conv1", "shortcut"), read_norms=("bn1",), internal=internal, writes=("conv2", "shortcut")
        )


class StemConv(nn.Module):
    """A bare 3x3 conv (the following pre-activation block normalises it)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def wiring(self) -> Wiring:
        return Wiring(reads=("conv",), writes=("conv",))


class PreActHead(nn.Module):
    """BN-ReLU, global average pooling, linear layer ``fc``."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.relu(self.bn(x)))))

    def wiring(self) -> Wiring:
        return Wiring(reads=("fc",), read_norms=("bn",))


class WideResNet(GrowableNet):
    """``WRN-d-k`` (``inner_norm=False``: ``WRNnoBN-d-k``)."""

    family = "WRN"
    depth_growable = False

    layer_init = staticmethod(init_wrn)

    def __init__(self, depth: int, widen_factor: int, *, num_classes: int, image_size: int, width: float,
                 inner_norm: bool = True) -> None:
        super().__init__(num_classes=num_classes, image_size=image_size, width=width)
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"depth={depth!r}: a WRN has depth 6n + 4 (10, 16, 22, 28, ...)")
        self.in_channels = 3
        self.depth = depth
        self.widen_factor = widen_factor
        self.inner_norm = inner_norm
        n = (depth - 4) // 6
        channels = scale_channels(16, width)
        self.stem = StemConv(3, channels)
        for s, base in enumerate((16, 32, 64)):
            out = scale_channels(base * widen_factor, width)
            blocks = [PreActBlock(channels, out, 1 if s == 0 else 2, inner_norm=inner_norm)]
            blocks += [PreActBlock(out, out, inner_norm=inner_norm) for _ in range(n - 1)]
            self.stages.append(nn.Sequential(*blocks))
            channels = out
        self.head = PreActHead(channels, num_classes)
        init_wrn(self)

    @property
    def spec(self) -> str:
        return f"{self.family}-{self.depth}-{self.widen_factor}"

    def channel_groups(self) -> list[ChannelGroup]:
        return wired_channel_groups(self)


class WideResNetNoBN(WideResNet):
    """``WRNnoBN-d-k``: a WRN whose blocks have no inner BN (GradMax's WRN-28-1)."""

    family = "WRNnoBN"

    def __init__(self, depth: int, widen_factor: int, *, num_classes: int, image_size: int, width: float) -> None:
        super().__init__(depth, widen_factor, num_classes=num_classes, image_size=image_size, width=width,
                         inner_norm=False)


def _check_wrn(parts: tuple[int, ...]) -> str | None:
    depth, _ = parts
    if depth < 10 or (depth - 4) % 6:
        return f"depth d={depth} is not 6n + 4 with n >= 1 (10, 16, 22, 28, 34, 40, ...)"
    return None


@register_family("WRN-d-k", examples=("WRN-28-10",), check=_check_wrn)
def _build_wrn(parts: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> GrowableNet:
    depth, k = parts
    return WideResNet(depth, k, num_classes=num_classes, image_size=image_size, width=width)


@register_family("WRNnoBN-d-k", examples=("WRNnoBN-28-1",), check=_check_wrn)
def _build_wrn_no_bn(parts: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> GrowableNet:
    depth, k = parts
    return WideResNetNoBN(depth, k, num_classes=num_classes, image_size=image_size, width=width)
