"""What lies between a channel group's producers and its consumers, read off the model's ``torch.fx`` graph.

A *bridge* (GradMax, Evci et al. 2022, Sec. 3: the zero auxiliary layer from layer ``l``'s input to
layer ``l+1``'s pre-activation) joins a producer whose output channels are the group to a consumer
that reads them, through layers that act channel by channel: norms, activations, residual
additions, dropout, a flatten, and at most a global average pool (a conv producer read by a Linear
behind the pool: ``pooled``).  A new channel with zero fan-in is exactly 0 on every such path (given
fresh norms), so the gradient of its fan-in is linear in its fan-out, bridge by bridge.

:func:`group_bridges` walks back from each consumer's input; a path through anything else (a max-
or strided pool, a depthwise conv, a function it does not know) is a *problem*: the bridge is not a
linear map of the new channel there.  Paths that end at a layer outside the group (a shortcut conv
of another group, the image) carry nothing of the group.  ``dead`` names the activations on the way
whose derivative at 0 is 0 in PyTorch (``nn.ReLU``, ``nn.ReLU6``, ``F.relu``): zero-fan-in units
behind them never receive a gradient.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..models.activations import ReLU1
from ..models.base import ChannelGroup

__all__ = ["Bridge", "GroupBridges", "group_bridges", "leaf_graph"]


class _LeafTracer(fx.Tracer):
    """Records every module without children (conv, BN, the option-A shortcut, ...) as one call."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        """A module is one call of the graph when it has no children."""
        return next(module.children(), None) is None


def leaf_graph(model: nn.Module) -> fx.Graph:
    """``model``'s graph with every childless module as one node (symbolic: no tensors, a few ms)."""
    return _LeafTracer().trace(model)


@dataclass(frozen=True)
class Bridge:
    """Producer ``producer``'s output reaches consumer ``consumer``'s input (``pooled``: through a
    global average pool, conv to Linear)."""

    producer: str
    consumer: str
    pooled: bool = False


@dataclass
class GroupBridges:
    """The bridges of one group, the problems found (consumer -> what is in the way) and ``dead``
    activations (derivative 0 at 0) on the paths."""

    bridges: list[Bridge] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)


_PASS_MODULES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.Identity, nn.Dropout, nn.Flatten,
                 nn.ReLU, nn.ReLU6, ReLU1, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid)
_DEAD_MODULES = (nn.ReLU, nn.ReLU6)
_ADD = (operator.add, operator.iadd, torch.add)
_PASS_FUNCTIONS = (torch.flatten, F.dropout, F.relu, torch.relu)
_DEAD_FUNCTIONS = (F.relu, torch.relu)


def _global_pool(module: nn.Module) -> bool:
    size = getattr(module, "output_size", None)
    return isinstance(module, nn.AdaptiveAvgPool2d) and size in (1, (1, 1))


def group_bridges(model: nn.Module, group: ChannelGroup, graph: fx.Graph | None = None) -> GroupBridges:
    """The bridges from ``group``'s producers to its (conv / linear) consumers; see the module doc."""
    graph = graph if graph is not None else leaf_graph(model)
    modules = dict(model.named_modules())
    calls = {node.target: node for node in graph.nodes if node.op == "call_module"}
    producers = set(group.producers)
    found = GroupBridges()
    for consumer in group.consumers:
        if not isinstance(modules[consumer], (nn.Conv2d, nn.Linear)):
            continue  # a parameter-free shortcut: it carries the channel into another group
        seen: set[tuple[fx.Node, bool]] = set()
        todo = [(arg, False) for arg in calls[consumer].args if isinstance(arg, fx.Node)]
        while todo:
            node, pooled = todo.pop()
            if (node, pooled) in seen:
                continue
            seen.add((node, pooled))
            inputs = [arg for arg in node.args if isinstance(arg, fx.Node)]
            if node.op == "placeholder":
                continue
            if node.op == "call_module":
                module = modules[node.target]
                if node.target in producers:
                    found.bridges.append(Bridge(node.target, consumer, pooled))
                elif isinstance(module, (nn.Conv2d, nn.Linear)) and node.target not in group.depthwise:
                    continue  # a layer of another group: nothing of this group passes
                elif isinstance(module, _PASS_MODULES):
                    if type(module) in _DEAD_MODULES:
                        found.dead.add(node.target)
                    todo.extend((arg, pooled) for arg in inputs[:1])
                elif _global_pool(module):
                    todo.extend((arg, True) for arg in inputs[:1])
                elif type(module).__name__ == "ZeroPadShortcut":
                    continue  # option A: another group's channels placed among this one's
                else:
                    found.problems.setdefault(consumer, f"{type(module).__name__} {node.target}")
            elif node.op == "call_function" and node.target in _ADD:
                todo.extend((arg, pooled) for arg in inputs)
            elif node.op == "call_function" and node.target in _PASS_FUNCTIONS:
                if node.target in _DEAD_FUNCTIONS:
                    found.dead.add(f"{node.target.__name__} at {node.name}")
                todo.extend((arg, pooled) for arg in inputs[:1])
            elif node.op == "call_method" and node.target in ("flatten", "relu"):
                todo.extend((arg, pooled) for arg in inputs[:1])
            else:
                found.problems.setdefault(consumer, f"{node.op} {getattr(node.target, '__name__', node.target)}")
    return found
