"""What every model of the zoo shares: stages of blocks (depth growth) and channel groups (width growth).

A network is a stem, a cascade of *stages* (AutoGrow's sub-networks: blocks sharing one output
resolution, the first of which may downsample) and a head.  A *block* (AutoGrow's sub-module) is the
unit of depth growth.  A *channel group* is a set of channels that must grow together: the outputs of
its producers, normalised by its norms and read by its consumers (VT paper, App. B "residual
connections": layers tied by a skip connection grow at the same rate).

A model's channel counts (:func:`channel_counts`) and the families that grow in width
(:func:`width_families`) are here too, below the width operator (:mod:`growth.how.width`) that changes
the counts and the width schedule (:mod:`growth.when.width_schedule`) that plans them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn


@dataclass(frozen=True)
class ChannelGroup:
    """Channels that width growth must widen together.

    Names are qualified module names (``model.get_submodule(name)``):

    - ``producers``: Conv2d / Linear layers whose output channels are this group;
    - ``norms``: BatchNorm layers over this group (parameters and running statistics grow with it);
    - ``consumers``: Conv2d / Linear layers (and parameter-free shortcuts) whose input channels read it;
    - ``depthwise``: depthwise convolutions (``groups == channels``), which read and write the group;
    - ``spatial``: for a Linear consumer behind a flatten, how many input features each channel feeds;
    - ``inner``: a block's internal group (its inner width, e.g. between a basic block's two convs):
      the only groups GradMax grows on its WRN;
    - ``unit``: channels come and go in runs of ``unit`` (an attention head's ``head_dim``): the group's
      count and every growth of it are multiples of ``unit``, and a method copying or pairing units
      keeps each run whole.
    """

    name: str
    producers: tuple[str, ...]
    norms: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    depthwise: tuple[str, ...] = ()
    spatial: int = 1
    inner: bool = False
    unit: int = 1


class GrowableNet(nn.Module):
    """Base of every model in :mod:`growth.models`: ``stem -> stages -> head``.

    Subclasses set ``family``, build ``stem``, ``stages`` (an ``nn.ModuleList`` of ``nn.Sequential``
    of blocks) and ``head``, and implement :meth:`new_block` (if depth-growable) and
    :meth:`channel_groups`.
    """

    family: str = ""
    depth_growable: bool = False
    #: the family's initialisation, applied to a fresh layer (width growth's ``random`` method draws
    #: new units with it); None: PyTorch's defaults
    layer_init: Callable[[nn.Module], None] | None = None

    def __init__(self, *, num_classes: int, image_size: int, width: float) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.image_size = image_size
        self.width = width
        self.stem: nn.Module = nn.Identity()
        self.stages = nn.ModuleList()
        self.head: nn.Module = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(x)

    @property
    def depths(self) -> tuple[int, ...]:
        """Number of blocks in each stage."""
        return tuple(len(stage) for stage in self.stages)

    @property
    def spec(self) -> str:
        """The model's current name in the papers' notation, e.g. ``Basic3ResNet-2-1-1``.

        ``build_model(model.spec, ...)`` rebuilds the same architecture.
        """
        return "-".join([self.family, *map(str, self.depths)])

    def new_block(self, stage: int) -> nn.Module:
        """A freshly (default-)initialised block that can be appended to ``stage``.

        It keeps the stage's resolution and channel count (it never downsamples) and lives on the
        model's device and dtype.  Raises ``ValueError`` for a model that does not grow in depth.
        """
        raise ValueError(f"model {self.spec!r} does not grow in depth (family {self.family!r})")

    def channel_groups(self) -> list[ChannelGroup]:
        """The hidden channel groups, in forward order (image channels and logits are not listed)."""
        raise NotImplementedError

    def _check_stage(self, stage: int) -> None:
        if not isinstance(stage, int) or not 0 <= stage < len(self.stages):
            raise ValueError(
                f"stage={stage!r} does not exist in {self.spec}: valid stages are 0..{len(self.stages) - 1}"
            )

    def _like_model(self, module: nn.Module) -> nn.Module:
        """Move a new module to this model's device and dtype, in this model's train/eval mode."""
        ref = next(self.parameters())
        return module.to(device=ref.device, dtype=ref.dtype).train(self.training)


# --------------------------------------------------------------------------- wiring -> channel groups
# Added by the model-zoo engineer: every family describes, per stem part, block and head, which of
# its layers read, make and normalise its input and output channels; one walk over the model then
# yields all channel groups, so no family hand-writes its group list.


@dataclass(frozen=True)
class Wiring:
    """How one module (a stem part, a block, a head part) plugs into channel groups.

    Names are relative to the module.  ``reads``, ``read_norms``, ``read_depthwise``: its layers that
    consume its input channels, normalise them (pre-activation BN, the BN after a depthwise conv) or
    apply a depthwise conv to them; ``spatial``: features per channel of a flattened Linear reader.
    ``internal``: groups wholly inside the module.  ``writes`` / ``write_norms``: its layers that
    produce / normalise its output channels (none for the last head part).  ``residual``: the output
    is added to the input through an identity shortcut, so input and output are one group.
    """

    reads: tuple[str, ...] = ()
    read_norms: tuple[str, ...] = ()
    read_depthwise: tuple[str, ...] = ()
    spatial: int = 1
    internal: tuple[ChannelGroup, ...] = ()
    writes: tuple[str, ...] = ()
    write_norms: tuple[str, ...] = ()
    residual: bool = False


def wired_channel_groups(model: GrowableNet) -> list[ChannelGroup]:
    """The channel groups of ``model``, from the :class:`Wiring` of its modules, in forward order.

    Walks ``stem``, ``stages``, ``head`` depth first in registration order (which must be forward
    order); a module with a ``wiring()`` method is a leaf of the walk, any other module is descended
    into.  The image read by the first layer and the logits written by the last are no groups.
    """
    groups: list[dict] = []
    current: dict | None = None

    def qualify(prefix: str, names: tuple[str, ...]) -> list[str]:
        return [f"{prefix}.{n}" for n in names]

    def visit(prefix: str, module: nn.Module) -> None:
        nonlocal current
        wiring = getattr(module, "wiring", None)
        if wiring is None:
            for name, child in module.named_children():
                visit(f"{prefix}.{name}", child)
            return
        w: Wiring = wiring()
        if current is not None:
            current["consumers"] += qualify(prefix, w.reads)
            current["norms"] += qualify(prefix, w.read_norms)
            current["depthwise"] += qualify(prefix, w.read_depthwise)
            if w.spatial != 1:
                current["spatial"] = w.spatial
        for g in w.internal:
            groups.append(
                {
                    "name": f"{prefix}.{g.name}",
                    "producers": qualify(prefix, g.producers),
                    "norms": qualify(prefix, g.norms),
                    "consumers": qualify(prefix, g.consumers),
                    "depthwise": qualify(prefix, g.depthwise),
                    "spatial": g.spatial,
                    "inner": True,
                }
            )
        if w.residual:
            if current is None:
                raise ValueError(f"{prefix}: a residual module cannot read the image")
            current["producers"] += qualify(prefix, w.writes)
            current["norms"] += qualify(prefix, w.write_norms)
        elif w.writes:
            current = {
                "name": prefix,
                "producers": qualify(prefix, w.writes),
                "norms": qualify(prefix, w.write_norms),
                "consumers": [],
                "depthwise": [],
                "spatial": 1,
                "inner": False,
            }
            groups.append(current)
        else:
            current = None

    for part in ("stem", "stages", "head"):
        visit(part, getattr(model, part))
    return [
        ChannelGroup(
            name=g["name"],
            producers=tuple(g["producers"]),
            norms=tuple(g["norms"]),
            consumers=tuple(g["consumers"]),
            depthwise=tuple(g["depthwise"]),
            spatial=g["spatial"],
            inner=g["inner"],
        )
        for g in groups
    ]


# --------------------------------------------------------------------------- channel counts


def width_families() -> list[str]:
    """The families of the zoo that grow in width (those that list their channel groups)."""
    found, todo = set(), [GrowableNet]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.family and cls.channel_groups is not GrowableNet.channel_groups:
            found.add(cls.family)
    return sorted(found)


def width_groups(model: Any) -> list[ChannelGroup]:
    """``model.channel_groups()``; ``ValueError`` naming the width-growable families if it has none."""
    if isinstance(model, GrowableNet):
        try:
            return model.channel_groups()
        except NotImplementedError:
            pass
    name = getattr(model, "spec", type(model).__name__)
    raise ValueError(f"model={name!r} does not grow in width: width-growable families are "
                     f"{', '.join(width_families())}")


def channel_count(model: nn.Module, group: ChannelGroup) -> int:
    """``group``'s current channel count: its first producer's output units (its weight's first dimension;
    an embedding's dimension)."""
    producer = model.get_submodule(group.producers[0])
    return producer.embedding_dim if isinstance(producer, nn.Embedding) else producer.weight.shape[0]


def channel_counts(model: nn.Module) -> dict[str, int]:
    """Each channel group's current channel count, by group name (``model.channel_groups()`` order)."""
    return {g.name: channel_count(model, g) for g in width_groups(model)}
