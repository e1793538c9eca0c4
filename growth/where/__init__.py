"""Where to grow: locators that pick the stage (sub-network) that grows next."""
from .stages import RoundRobin, Sequential

__all__ = ["RoundRobin", "Sequential"]
