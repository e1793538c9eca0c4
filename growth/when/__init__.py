"""When to grow: triggers that fire at the end of an epoch."""
from .periodic import Periodic

__all__ = ["Periodic"]
