"""Where to grow: locators that pick the stage (sub-network) that grows next."""
from .stages import AllStages, RoundRobin, Sequential
from .stopping import StoppingRoundRobin

__all__ = ["AllStages", "RoundRobin", "Sequential", "StoppingRoundRobin"]
