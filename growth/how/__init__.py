"""How to grow: operators that add depth or width to a model."""
from .depth import AddBlock, depth_families, grow_depth
from .depth_init import (
    DEPTH_INITS,
    AdamInit,
    CopyInit,
    DepthInit,
    GauInit,
    HeInit,
    UniInit,
    ZeroInit,
    last_bn,
    make_depth_init,
)

__all__ = [
    "AddBlock", "AdamInit", "CopyInit", "DEPTH_INITS", "DepthInit", "GauInit", "HeInit", "UniInit", "ZeroInit",
    "depth_families", "grow_depth", "last_bn", "make_depth_init",
]
