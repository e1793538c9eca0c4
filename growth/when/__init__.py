"""When to grow: triggers that fire at the end of an epoch."""
from .convergent import Convergent
from .deadline import Deadline
from .periodic import Periodic

__all__ = ["Convergent", "Deadline", "Periodic"]
