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
from .doubling import DoubleBlocks, double_blocks
from .firefly import Firefly, FireflySimple, FireflySplit
from .gradmax import GradMax, GradMaxRandom
from .splitting import Splitting
from .momentum import MomentumInit, WeightEMA
from .mixture import COEFFICIENT_INITS, MixtureGrowth, tile
from .mup import mup_init
from .width import AddWidth, WidthGrowth, grow_width
from .width_methods import (
    WIDTH_METHODS,
    Net2Net,
    RandomInit,
    VarianceTransfer,
    VTConstraint,
    WidthMethod,
    make_width_method,
)

__all__ = [
    "AddBlock", "AdamInit", "CopyInit", "DEPTH_INITS", "DepthInit", "GauInit", "HeInit", "UniInit", "ZeroInit",
    "depth_families", "grow_depth", "last_bn", "make_depth_init", "DoubleBlocks", "MomentumInit", "WeightEMA",
    "double_blocks",
    "COEFFICIENT_INITS", "MixtureGrowth", "tile",
    "AddWidth", "Firefly", "FireflySimple", "FireflySplit", "GradMax", "GradMaxRandom", "Net2Net", "Splitting", "RandomInit", "VTConstraint", "VarianceTransfer", "WIDTH_METHODS", "WidthGrowth",
    "WidthMethod", "grow_width", "make_width_method", "mup_init",
]
