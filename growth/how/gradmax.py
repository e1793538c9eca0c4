"""GradMax (Evci, van Merrienboer, Unterthiner, Pedregosa, Vladymyrov, ICLR 2022): grow units whose
fan-in is zero (the function is kept) and whose fan-out maximises the gradient of that fan-in.

For a new channel of a group, with fan-in ``w`` (zero) in every producer and fan-out ``u`` in every
consumer, the gradient of the loss with respect to ``w`` is linear in ``u``: ``dL/dw = G u``, with
``G`` the *grow matrix*: the gradient of a zero bridge from each producer's input to each consumer's
output (Sec. 3, the authors' auxiliary layer), summed over the producers that reach the consumer
(:mod:`growth.how.bridges`).  ``max ||G u||`` over unit ``u`` (Eq. 8-10) gives the top right singular
vectors of ``G``; ``k`` new units take the top ``k``.

* Linear to Linear: ``G = E[x h^T]`` (``x`` the producer's input, ``h = dL/dz`` the consumer's output
  gradient).  Conv to conv: rows are the producer's input patches ``(C_in, k1, k1)``, columns the
  consumer's kernel column ``(C_out, k2, k2)``: ``G[(i, a), (j, e)] = E[sum_r P_i,a(r s + e - p) h_j(r)]``
  over the consumer's output positions ``r``, with the consumer's stride ``s``, padding ``p`` and
  dilation, zero outside the producer's output grid.  This is the exact gradient; the authors' 5x5
  auxiliary conv equals it away from the border.  Conv to a Linear behind a global average pool: the
  patches averaged over positions.
* The layers between (norms, activations, additions) count as identity, as the authors' auxiliary
  layer does.  Exact with a ReLU whose derivative at 0 is 1 (:func:`growth.models.relu_one_at_zero`;
  :meth:`GradMax.check` refuses PyTorch's ReLU, behind which a zero-fan-in unit never learns) and
  no norm on the path; a fresh eval-mode BatchNorm scales it by ``1/sqrt(1 + eps)``; a train-mode
  BatchNorm does not pass a zero channel's gradient as identity (the authors' WRN has no norm inside
  the grown blocks).
* ``G`` is the mean over ``batches`` grow batches of ``batch_size`` training images (the authors: one
  batch of 128), drawn from the run's training loader with augmentation, the model in eval mode
  (:mod:`growth.how.width_statistics`).
* Scale (the authors' code): singular values dropped; each new fan-out is the unit singular vector
  times ``scale`` x the mean norm of the group's existing fan-outs (``scale_method="mean_norm"``,
  ``scale=0.5``, their CIFAR WRN config) or times ``scale`` (``"fixed"``, their VGG config).  The
  norm is taken over all of a channel's consumer columns together.
* More new units than the rank of ``G`` (the authors' code raises there, growneuron issue #10): the
  units beyond the numerical rank take random unit directions, drawn as :class:`GradMaxRandom` does.
* Where no bridge is linear in the new channel (a max-pool, a depthwise conv or a flatten between:
  VGG's stage ends, CNN4, MobileNets), ``unsupported="error"`` refuses the model before training;
  ``"random"`` grows those groups as :class:`GradMaxRandom` (the authors' fallback for conv -> dense
  pairs).  A depthwise conv's new channels get an identity kernel (centre tap 1), as theirs.
* Cost: the forward/backward passes (training MACs per sample x images), the grow-matrix products
  and the top-``k`` singular vectors (:func:`top_singular`), charged to the run by the operator.  Sign
  of a singular vector: its largest entry is made positive (the same result on every LAPACK).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import scipy.linalg
import torch
from torch import nn
from torch.nn.grad import conv2d_weight

from ..measure.cost import training_macs_per_sample
from ..models.base import ChannelGroup, width_groups
from .bridges import Bridge, group_bridges, leaf_graph
from .adapters import conv_output_size, layer_adapter
from .width_methods import GroupPlan, WidthMethod, _grown_bias, random_directions, register_width_method, unit_rows
from .width_statistics import StatisticsPass, grow_batches

__all__ = ["GradMax", "GradMaxRandom", "GrowMatrix", "fan_out_blocks", "grow_matrices", "install_fan_out"]


@dataclass
class GrowMatrix:
    """A group's grow matrix ``G`` (float64): rows are fan-in coordinates in blocks ``rows`` (producer,
    fan-in size), columns fan-out coordinates in blocks ``cols`` (every conv / linear consumer, its
    column size; zero where no bridge reaches it)."""

    matrix: torch.Tensor
    rows: list[tuple[str, int]]
    cols: list[tuple[str, int]]


def _conv_bridge(patches: torch.Tensor, grad: torch.Tensor, consumer: nn.Conv2d) -> torch.Tensor:
    """``G`` of a conv -> conv bridge (module doc): ``(C_in k1 k1, C_out k2 k2)``.  It is the weight
    gradient of the consumer's conv run on the patches as channels, so PyTorch's conv backward computes it."""
    weight = conv2d_weight(patches, (grad.shape[1], patches.shape[1], *consumer.kernel_size), grad,
                           stride=consumer.stride, padding=consumer.padding, dilation=consumer.dilation)
    return weight.transpose(0, 1).reshape(patches.shape[1], -1)


def _bridge_kind(model: nn.Module, bridge: Bridge) -> str | None:
    """``"linear"``, ``"conv"``, ``"pooled"``, or None where no linear bridge is defined."""
    p, q = model.get_submodule(bridge.producer), model.get_submodule(bridge.consumer)
    plain = [isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1 and m.padding_mode == "zeros"
                                          and not isinstance(m.padding, str)) for m in (p, q)]
    if not all(plain):
        return None
    if isinstance(p, nn.Linear) and isinstance(q, nn.Linear) and not bridge.pooled:
        return "linear"
    if isinstance(p, nn.Conv2d) and isinstance(q, nn.Conv2d) and not bridge.pooled:
        return "conv"
    if isinstance(p, nn.Conv2d) and isinstance(q, nn.Linear) and bridge.pooled:
        return "pooled"
    return None


def unsupported_reason(model: nn.Module, group: ChannelGroup, found) -> str | None:
    """Why GradMax's bridge is not defined on ``group`` (None: it is)."""
    if group.depthwise:
        return f"depthwise conv {group.depthwise[0]} in the group"
    if found.problems:
        consumer, what = next(iter(found.problems.items()))
        return f"{what} between the producers and {consumer}"
    for bridge in found.bridges:
        if _bridge_kind(model, bridge) is None:
            return f"no linear bridge from {bridge.producer} to {bridge.consumer}"
    if not found.bridges:
        return "no consumer reads the producers through a bridge"
    return None


def grow_matrices(model: nn.Module, groups: list[ChannelGroup], batches, bridges: dict[str, list[Bridge]]
                  ) -> tuple[dict[str, GrowMatrix], int, int]:
    """Each group's :class:`GrowMatrix`, the mean over ``batches`` (one statistics pass for all), the
    images passed and the MACs of the grow-matrix products."""
    producers = sorted({b.producer for g in groups for b in bridges[g.name]})
    consumers = sorted({b.consumer for g in groups for b in bridges[g.name]})
    stats = StatisticsPass(model, inputs=producers, output_grads=consumers)
    blocks: dict[tuple[str, str], torch.Tensor] = {}
    macs, count = 0, 0
    for captured in stats.run(batches):
        count += 1
        patches = {p: layer_adapter(model.get_submodule(p)).patches(model.get_submodule(p), x)
                   for p, x in captured.inputs.items()}
        for g in groups:
            for bridge in bridges[g.name]:
                kind = _bridge_kind(model, bridge)
                x, grad = patches[bridge.producer], captured.output_grads[bridge.consumer]
                if kind == "conv":
                    consumer = model.get_submodule(bridge.consumer)
                    if conv_output_size(consumer, x.shape[2:]) != grad.shape[2:]:
                        raise ValueError(f"GradMax: {bridge.consumer} writes a {tuple(grad.shape[2:])} grid, not the one "
                                         f"it would from the {tuple(x.shape[2:])} grid {bridge.producer} writes: the "
                                         "bridge is not a conv")
                    block = _conv_bridge(x, grad, consumer)
                    macs += block.numel() * grad.shape[0] * grad.shape[2] * grad.shape[3]
                else:
                    if kind == "pooled":
                        macs += x.numel()
                        x = x.mean(dim=(2, 3))
                    block = x.T @ grad
                    macs += block.numel() * x.shape[0]
                key = (bridge.producer, bridge.consumer)
                blocks[key] = blocks[key] + block if key in blocks else block
    if count == 0:
        raise ValueError("GradMax: the grow batches were empty (no training data?)")
    result = {}
    for g in groups:
        rows = sorted({b.producer for b in bridges[g.name]}, key=g.producers.index)
        rows_sized = [(p, math.prod(model.get_submodule(p).weight.shape[1:])) for p in rows]
        cols_sized = fan_out_blocks(model, g)
        matrix = torch.zeros(sum(n for _, n in rows_sized), sum(n for _, n in cols_sized), dtype=torch.float64)
        r0 = 0
        for p, n in rows_sized:
            c0 = 0
            for q, m in cols_sized:
                if (p, q) in blocks:
                    matrix[r0:r0 + n, c0:c0 + m] = blocks[(p, q)].detach().to("cpu", torch.float64) / count
                c0 += m
            r0 += n
        result[g.name] = GrowMatrix(matrix, rows_sized, cols_sized)
    return result, stats.samples, macs


def top_singular(matrix: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The ``k`` largest singular values (descending) and right singular vectors (rows) of ``matrix``
    (float64), at most ``min(m, n)``, and the MACs spent.

    From the Gram matrix of the smaller side, whose top ``k`` eigenpairs LAPACK's ``syevr`` computes
    alone (``scipy.linalg.eigh(subset_by_index=...)``: 2-3 times faster than a full SVD or ARPACK on
    ResNet-18's grow matrices); with rows the smaller side, ``v = G^T u / sigma``.  Singular values
    below ``sqrt(eps) sigma_1`` are not resolved this way; GradMax replaces the directions below its
    rank tolerance, far above that, by random ones.  MACs: ``max(m, n) min(m, n)^2`` for the Gram
    matrix and ``min(m, n)^3`` for the eigensolver.
    """
    m, n = matrix.shape
    small = min(m, n)
    k = min(k, small)
    if k == 0:
        return matrix.new_zeros(0), matrix.new_zeros(0, n), 0
    gram = (matrix.T @ matrix) if n <= m else (matrix @ matrix.T)
    values, vectors = scipy.linalg.eigh(gram.numpy(), subset_by_index=[small - k, small - 1], driver="evr")
    values = torch.from_numpy(values[::-1].copy()).clamp_min(0).sqrt()
    vectors = torch.from_numpy(vectors[:, ::-1].copy())
    if n > m:  # left vectors u: v = G^T u / sigma
        vectors = (matrix.T @ vectors) / values.clamp_min(torch.finfo(values.dtype).tiny)
    return values, vectors.T.contiguous(), max(m, n) * small * small + small ** 3


def _existing_fan_out_norm(model: nn.Module, group: ChannelGroup, plan: GroupPlan) -> float:
    """Mean over the group's old channels of the norm of all its consumer columns together."""
    total = None
    for name, _ in fan_out_blocks(model, group):
        weight = _consumer_weight(model, group, name)
        squares = weight.to(torch.float64).pow(2).transpose(0, 1).reshape(plan.old, -1).sum(dim=1)
        total = squares if total is None else total + squares
    return float(total.sqrt().mean()) if total is not None else 0.0


def install_fan_out(model: nn.Module, group: ChannelGroup, plan: GroupPlan, vectors: torch.Tensor,
             cols: list[tuple[str, int]]) -> None:
    """Set ``plan.fan_out``: joint fan-out ``vectors`` (``added`` x the sum of :func:`fan_out_blocks`'
    sizes) split into each consumer's new columns, in channel view ``(rows, added, *rest)``."""
    plan.fan_out = {}
    start = 0
    for name, size in cols:
        weight = _consumer_weight(model, group, name)
        part = vectors[:, start:start + size].reshape(plan.added, weight.shape[0], *weight.shape[2:])
        plan.fan_out[name] = part.transpose(0, 1).to(weight)
        start += size


def fan_out_blocks(model: nn.Module, group: ChannelGroup) -> list[tuple[str, int]]:
    """The group's conv / linear consumers with the size of one channel's column in each (``rows x
    kernel``): the blocks of a joint fan-out vector, in ``group.consumers`` order."""
    sizes = []
    for name in group.consumers:
        if layer_adapter(model.get_submodule(name), required=False) is not None:
            weight = _consumer_weight(model, group, name)
            sizes.append((name, weight.shape[0] * math.prod(weight.shape[2:])))
    return sizes


def _consumer_weight(model: nn.Module, group: ChannelGroup, name: str) -> torch.Tensor:
    """A consumer's weight in channel view, detached."""
    layer = model.get_submodule(name)
    adapter = layer_adapter(layer)
    return adapter.weight(layer, group.spatial if adapter.flattened else 1).detach()


@register_width_method
@dataclass(repr=False)
class GradMaxRandom(WidthMethod):
    """The GradMax authors' Random baseline: zero fan-in, fan-out uniform in [0, 1) per entry, unit
    norm, times ``scale`` x the mean existing fan-out norm (``"mean_norm"``) or ``scale`` (``"fixed"``).
    Keeps the function; needs no data."""

    name: ClassVar[str] = "gradmax-random"
    zero_fan_in: ClassVar[bool] = True
    scale: float = 0.5
    scale_method: str = "mean_norm"

    SCALE_METHODS: ClassVar[tuple[str, ...]] = ("mean_norm", "fixed")

    def __post_init__(self) -> None:
        if self.scale_method not in self.SCALE_METHODS:
            raise ValueError(f"scale_method={self.scale_method!r} is unknown: choose one of "
                             f"{', '.join(self.SCALE_METHODS)}")
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or not math.isfinite(
                self.scale) or self.scale <= 0:
            raise ValueError(f"scale={self.scale!r} is not allowed: give a finite number > 0 (the authors use 0.5)")

    def _norm(self, model: nn.Module, group: ChannelGroup, plan: GroupPlan) -> float:
        if self.scale_method == "fixed":
            return float(self.scale)
        return self.scale * _existing_fan_out_norm(model, group, plan)

    def prepare(self, model, groups, plans, context, generator):
        for g in groups:
            plan = plans[g.name]
            if plan.added:
                cols = fan_out_blocks(model, g)
                directions = random_directions(plan.added, sum(n for _, n in cols), generator)
                install_fan_out(model, g, plan, directions * self._norm(model, g, plan), cols)
        return {}

    def layer(self, layer, model, generator):
        old = layer.weight()
        grown = old.new_zeros(layer.grown_shape())
        rows, cols = old.shape[:2]
        grown[:rows, :cols] = old
        if layer.depthwise and layer.rows is not None and layer.rows.added:
            grown[rows:, :, grown.shape[2] // 2, grown.shape[3] // 2] = 1.0  # identity: the centre tap
        if layer.cols is not None and layer.cols.added:
            grown[:rows, cols:] = layer.cols.fan_out[layer.name]
        return grown, _grown_bias(layer, 1.0), 1.0


@register_width_method
@dataclass(repr=False)
class GradMax(GradMaxRandom):
    """GradMax; see the module doc.  ``batch_size`` x ``batches`` grow images (``augment``: the training
    augmentation), ``scale`` / ``scale_method`` (the authors' 0.5 x mean norm), ``unsupported``:
    ``"error"`` or ``"random"`` for groups without a linear bridge."""

    name: ClassVar[str] = "gradmax"
    needs_data: ClassVar[bool] = True
    batch_size: int = 128
    batches: int = 1
    augment: bool = True
    unsupported: str = "error"

    UNSUPPORTED: ClassVar[tuple[str, ...]] = ("error", "random")

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("batch_size", "batches"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key}={value!r} is not allowed: give a positive integer")
        if self.unsupported not in self.UNSUPPORTED:
            raise ValueError(f"unsupported={self.unsupported!r} is unknown: choose one of {', '.join(self.UNSUPPORTED)}")

    @staticmethod
    def _analyse(model: nn.Module, groups: list[ChannelGroup]) -> dict[str, Any]:
        graph = leaf_graph(model)
        return {g.name: group_bridges(model, g, graph) for g in groups}

    def check(self, model: nn.Module) -> None:
        groups = width_groups(model)
        analysed = self._analyse(model, groups)
        for g in groups:
            found = analysed[g.name]
            if found.dead:
                raise ValueError(f"method 'gradmax': {', '.join(sorted(found.dead))} (PyTorch's ReLU, derivative 0 at 0) "
                                 f"lies between the producers and consumers of group {g.name}: its zero-fan-in units "
                                 "would never learn; call growth.models.relu_one_at_zero(model) first")
            reason = unsupported_reason(model, g, found)
            if reason and self.unsupported == "error":
                raise ValueError(f"method 'gradmax' is not defined on group {g.name} of "
                                 f"{getattr(model, 'spec', type(model).__name__)} ({reason}): grow another family, "
                                 "or use GradMax(unsupported='random'), the authors' fallback")

    def prepare(self, model, groups, plans, context, generator):
        growing = [g for g in groups if plans[g.name].added]
        found = self._analyse(model, growing)
        defined = [g for g in growing if unsupported_reason(model, g, found[g.name]) is None]
        summary: dict[str, Any] = {"groups": {}}
        macs = 0
        if defined:
            batches = grow_batches(context, self.batch_size, self.batches, augment=self.augment)
            matrices, samples, macs = grow_matrices(model, defined, batches,
                                                    {g.name: found[g.name].bridges for g in defined})
            shape = getattr(getattr(context, "cost", None), "input_shape", None) or context.data.input_shape
            macs += samples * training_macs_per_sample(model, shape)
            for g in defined:
                grow = matrices[g.name]
                plan = plans[g.name]
                m, n = grow.matrix.shape
                values, vh, svd_macs = top_singular(grow.matrix, plan.added)
                macs += svd_macs
                tolerance = values[0] * max(m, n) * torch.finfo(torch.float32).eps if len(values) else 0.0
                rank = int((values > tolerance).sum()) if len(values) and values[0] > 0 else 0
                taken = min(plan.added, rank)
                directions = torch.cat([unit_rows(vh[:taken]),
                                        random_directions(plan.added - taken, n, generator)])
                install_fan_out(model, g, plan, directions * self._norm(model, g, plan), grow.cols)
                summary["groups"][g.name] = {"shape": (m, n), "rank": rank, "from_svd": taken,
                                             "singular_values": [float(v) for v in values[:taken]]}
        for g in growing:
            if g not in defined:
                plan = plans[g.name]
                cols = fan_out_blocks(model, g)
                directions = random_directions(plan.added, sum(n for _, n in cols), generator)
                install_fan_out(model, g, plan, directions * self._norm(model, g, plan), cols)
                summary["groups"][g.name] = {"random": unsupported_reason(model, g, found[g.name])}
        summary["macs"] = macs
        return summary
