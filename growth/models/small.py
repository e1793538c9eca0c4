"""The Variance Transfer paper's two small nets (Yuan, Savarese, Maire 2023).

``CNN4`` (Fig. 3, "justification for variance transfer"): four resolution-preserving 3x3
conv-BN-ReLU layers of 64, 128, 256 and 512 channels, each followed by max-pooling by 4, 2, 2 and 2,
then a linear classifier on the flattened features.  At 32x32 the features are 512 x 1 x 1; at a
larger ``image_size`` s they are 512 x (s // 32)^2 (the classifier's ``spatial``).  Needs s >= 32.
Convs have no bias (BN follows).  One stage per layer.

``MLP`` (App. F): the image flattened to 3 * s^2 values, 8 hidden layers of 500 units with ReLU, a
linear classifier; any ``image_size``.  One stage of 8 hidden layers.

Neither grows in depth (the paper grows their width); their ``spec`` is the fixed name.
Initialisation: PyTorch's defaults (the paper's "standard" parameterisation).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ChannelGroup, GrowableNet, Wiring, wired_channel_groups
from .registry import register_family, scale_channels

CNN4_WIDTHS = (64, 128, 256, 512)
CNN4_POOLS = (4, 2, 2, 2)
MLP_HIDDEN = 500
MLP_LAYERS = 8


class ConvPoolUnit(nn.Module):
    """conv3x3 - BN - ReLU - max-pool by ``pool``."""

    def __init__(self, in_channels: int, out_channels: int, pool: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(pool, pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))

    def wiring(self) -> Wiring:
        return Wiring(reads=("conv",), writes=("conv",), write_norms=("bn",))


class FlattenLinearHead(nn.Module):
    """Flatten, then one linear layer ``fc`` (the logits); ``spatial`` features per channel."""

    def __init__(self, in_channels: int, num_classes: int, spatial: int = 1) -> None:
        super().__init__()
        self.spatial = spatial
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(in_channels * spatial, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(x))

    def wiring(self) -> Wiring:
        return Wiring(reads=("fc",), spatial=self.spatial)


class DenseUnit(nn.Module):
    """Linear - ReLU: one hidden layer of the MLP."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.fc(x))

    def wiring(self) -> Wiring:
        return Wiring(reads=("fc",), writes=("fc",))


class CNN4(GrowableNet):
    """The VT paper's 4-layer CNN."""

    family = "CNN4"
    depth_growable = False

    def __init__(self, *, num_classes: int, image_size: int, width: float) -> None:
        super().__init__(num_classes=num_classes, image_size=image_size, width=width)
        if image_size < 32:
            raise ValueError(f"image_size={image_size!r}: CNN4 pools by 32 in all, give image_size >= 32")
        self.in_channels = 3
        channels = 3
        for base, pool in zip(CNN4_WIDTHS, CNN4_POOLS):
            unit = ConvPoolUnit(channels, scale_channels(base, width), pool)
            self.stages.append(nn.Sequential(unit))
            channels = unit.conv.out_channels
        self.head = FlattenLinearHead(channels, num_classes, spatial=(image_size // 32) ** 2)

    @property
    def spec(self) -> str:
        return "CNN4"

    def channel_groups(self) -> list[ChannelGroup]:
        return wired_channel_groups(self)


class MLP(GrowableNet):
    """The VT paper's 8-hidden-layer MLP (500 units each)."""

    family = "MLP"
    depth_growable = False

    def __init__(self, *, num_classes: int, image_size: int, width: float) -> None:
        super().__init__(num_classes=num_classes, image_size=image_size, width=width)
        self.in_channels = 3
        self.stem = nn.Flatten(1)
        features = 3 * image_size * image_size
        units = []
        for _ in range(MLP_LAYERS):
            units.append(DenseUnit(features, scale_channels(MLP_HIDDEN, width)))
            features = units[-1].fc.out_features
        self.stages.append(nn.Sequential(*units))
        self.head = FlattenLinearHead(features, num_classes)

    @property
    def spec(self) -> str:
        return "MLP"

    def channel_groups(self) -> list[ChannelGroup]:
        return wired_channel_groups(self)


@register_family("CNN4", examples=("CNN4",), min_image_size=32)
def _build_cnn4(parts: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> GrowableNet:
    return CNN4(num_classes=num_classes, image_size=image_size, width=width)


@register_family("MLP", examples=("MLP",))
def _build_mlp(parts: tuple[int, ...], *, num_classes: int, image_size: int, width: float) -> GrowableNet:
    return MLP(num_classes=num_classes, image_size=image_size, width=width)
