"""How to grow: operators that add depth or width to a model."""
from .depth import AddBlock, grow_depth

__all__ = ["AddBlock", "grow_depth"]
