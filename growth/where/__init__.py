"""Where to grow: locators that pick the stage (sub-network) that grows next."""
from .stages import RoundRobin, Sequential
from .stopping import StoppingRoundRobin

__all__ = ["RoundRobin", "Sequential", "StoppingRoundRobin"]
