"""Where to grow: locators that pick the stage (sub-network) that grows next, or the channel groups
that widen and by how much."""
from .stages import AllStages, RoundRobin, Sequential
from .stopping import StoppingRoundRobin
from .width import ChannelStages, GlobalPick, GroupRoundRobin, WidthSteps

__all__ = ["AllStages", "ChannelStages", "GlobalPick", "GroupRoundRobin", "RoundRobin", "Sequential", "StoppingRoundRobin",
           "WidthSteps"]
