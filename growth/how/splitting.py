"""Splitting steepest descent (Liu, Wu, Wang, NeurIPS 2019): split the units whose splitting matrix
has the most negative eigenvalue, into ``w + eps v`` and ``w - eps v`` with the fan-out halved.

For a unit with fan-in ``w`` and activation ``sigma``, splitting it into two copies ``w +/- eps v``,
each with half the fan-out, keeps the function at ``eps = 0`` and changes the loss by
``eps^2 / 2 v^T S v + O(eps^3)`` (their Theorem 2.2), with the *splitting matrix*

    ``S = E[ dL/dsigma * sigma''(z) * a^2 * x x^T ]``,

``x`` the unit's input patch (a weight row's coordinates), ``z`` its pre-activation after the norm,
``a`` the norm's scale ``gamma / sqrt(running_var + eps)`` (1 without a norm; the BatchNorm frozen,
as in the authors' code), summed over a conv's output positions.  The best direction is the
eigenvector of the smallest eigenvalue ``lambda_min``; the units with the smallest ``lambda_min``
split first.

* ``sigma''``: PyTorch's ReLU (and :class:`growth.models.ReLU1`) has none; the authors use the
  second derivative of ``softplus`` with ``beta = 3``, ``3 s (1 - s)``, ``s = sigmoid(3 z)``.  Softplus,
  SiLU and tanh use their exact second derivative.
* Defined on a group with one producer (a conv or a Linear) whose output passes through at most a
  BatchNorm to one of those activations (VGG, CNN4, MLP, MobileNetV1's pointwise convs, a ResNet's
  block-inner groups); elsewhere (residual groups, a linear bottleneck) ``unsupported="error"``
  refuses the model before training and ``"net2net"`` copies random units there.
* Which units: with a schedule of channel counts, the ``added`` units of smallest ``lambda_min`` in
  each group (each splits at most once per growth); :meth:`Splitting.scores` gives every unit's
  ``lambda_min`` for a global pick across groups (:class:`growth.where.GlobalPick`, the authors'
  selection: the lowest fraction of all units).
* Statistics (:mod:`growth.how.width_statistics`): ``batches`` grow batches of ``batch_size`` training
  images, eval mode (the authors accumulate over one epoch).  ``eps``: the authors' ``1e-2``, ``v`` a
  unit vector.  The smallest eigenpairs come from Lanczos on ``S q = x^T (w * (x q))``, no matrix
  formed (``lanczos_steps``, 64: exact for a fan-in ``D <= 64``; a dense ``D x D`` matrix per unit would
  cost ``N D^2`` each, hours on a CPU for VGG's 3x3 convs).  Cost charged to the run: the passes and
  ``2 N D`` per unit per Lanczos step (``N`` the grow batch's positions).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import fx, nn

from ..measure.cost import training_macs_per_sample
from ..models.activations import ReLU1
from ..models.base import ChannelGroup, width_groups
from .adapters import layer_adapter
from .bridges import leaf_graph
from .width_methods import Net2Net, register_width_method, unit_rows
from .width_statistics import StatisticsPass, grow_batches

__all__ = ["SplitMethod", "Splitting", "SplitSite", "lanczos_smallest", "second_derivative", "split_sites", "splitting_eigen",
           "splitting_matrices"]


def _relu_surrogate(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(3 * z)
    return 3 * s * (1 - s)


def second_derivative(activation: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``sigma''`` of an activation module (the authors' softplus surrogate for ReLU), None if unknown."""
    if isinstance(activation, (nn.ReLU, ReLU1)):
        return _relu_surrogate
    if isinstance(activation, nn.Softplus):
        beta = activation.beta

        def softplus(z):
            s = torch.sigmoid(beta * z)
            return beta * s * (1 - s)
        return softplus
    if isinstance(activation, nn.SiLU):
        def silu(z):
            s = torch.sigmoid(z)
            return s * (1 - s) * (2 + z * (1 - 2 * s))
        return silu
    if isinstance(activation, nn.Tanh):
        return lambda z: -2 * torch.tanh(z) * (1 - torch.tanh(z) ** 2)
    return None


@dataclass(frozen=True)
class SplitSite:
    """Where a group's units live: its producer, the BatchNorm after it (or None) and the activation."""

    producer: str
    norm: str | None
    activation: str


def split_sites(model: nn.Module, groups: list[ChannelGroup]) -> tuple[dict[str, SplitSite], dict[str, str]]:
    """Each group's :class:`SplitSite`, and for the others why Splitting is not defined there."""
    graph: fx.Graph = leaf_graph(model)
    modules = dict(model.named_modules())
    calls = {node.target: node for node in graph.nodes if node.op == "call_module"}
    sites, reasons = {}, {}

    def only_user(node: fx.Node) -> fx.Node | None:
        users = list(node.users)
        return users[0] if len(users) == 1 and users[0].op == "call_module" else None

    for g in groups:
        if len(g.producers) != 1 or g.depthwise:
            reasons[g.name] = (f"{len(g.producers)} producers" if len(g.producers) != 1 else
                               f"depthwise conv {g.depthwise[0]}") + " (Splitting splits one layer's units)"
            continue
        producer = g.producers[0]
        if layer_adapter(modules[producer], required=False) is None:
            reasons[g.name] = f"producer {producer} has no layer adapter"
            continue
        node, norm = only_user(calls[producer]), None
        if node is not None and isinstance(modules[node.target], nn.modules.batchnorm._BatchNorm):
            norm, node = node.target, only_user(node)
        if node is None or second_derivative(modules[node.target]) is None:
            reasons[g.name] = f"the output of {producer} does not go to a known activation"
            continue
        sites[g.name] = SplitSite(producer, norm, node.target)
    return sites, reasons


def _norm_scale(model: nn.Module, site: SplitSite) -> torch.Tensor | float:
    if site.norm is None:
        return 1.0
    bn = model.get_submodule(site.norm)
    weight = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
    return (weight / torch.sqrt(bn.running_var + bn.eps)).detach()


def _factors(model: nn.Module, sites: dict[str, SplitSite], batches
             ) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], int, int]:
    """One statistics pass: per group the input patches ``x`` ``(N, D)`` and the per-unit weights
    ``w = dL/dsigma * sigma''(z) * a^2`` ``(N, units)`` over all positions of all batches (model dtype);
    the images passed and the number of batches."""
    producers = [s.producer for s in sites.values()]
    outputs = [s.norm or s.producer for s in sites.values()]
    activations = [s.activation for s in sites.values()]
    stats = StatisticsPass(model, inputs=producers, outputs=outputs, output_grads=activations)
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {g: [] for g in sites}
    count = 0
    for captured in stats.run(batches):
        count += 1
        for group, site in sites.items():
            producer = model.get_submodule(site.producer)
            patches = layer_adapter(producer).patches(producer, captured.inputs[site.producer])
            z = captured.outputs[site.norm or site.producer]
            curvature = second_derivative(model.get_submodule(site.activation))(z)
            scale = _norm_scale(model, site)
            if isinstance(scale, torch.Tensor):
                scale = scale.view(1, -1, *[1] * (z.dim() - 2))
            weights = captured.output_grads[site.activation] * curvature * scale**2
            parts[group].append((patches.movedim(1, -1).reshape(-1, patches.shape[1]),
                                 weights.movedim(1, -1).reshape(-1, weights.shape[1])))
    if count == 0:
        raise ValueError("Splitting: the grow batches were empty (no training data?)")
    return ({g: (torch.cat([x for x, _ in p]), torch.cat([w for _, w in p])) for g, p in parts.items()},
            stats.samples, count)


def _unit_matrix(x: torch.Tensor, w: torch.Tensor, unit: int, count: int) -> torch.Tensor:
    """One unit's splitting matrix (float64, symmetrised): ``x^T diag(w[:, unit]) x`` over the batches."""
    matrix = ((x * w[:, unit:unit + 1]).T @ x).to(torch.float64) / count
    return (matrix + matrix.T) / 2


def splitting_matrices(model: nn.Module, sites: dict[str, SplitSite], batches) -> tuple[dict[str, torch.Tensor], int]:
    """Each group's splitting matrices ``(units, D, D)`` (float64, symmetric), the mean over ``batches``,
    and the images passed.  ``units x D^2`` floats: for small layers (the tests); Splitting itself
    keeps one matrix at a time (:func:`splitting_eigen`)."""
    factors, samples, count = _factors(model, sites, batches)
    return {g: torch.stack([_unit_matrix(x, w, c, count) for c in range(w.shape[1])])
            for g, (x, w) in factors.items()}, samples


def lanczos_smallest(apply, start: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The smallest eigenpair of many symmetric operators at once, by Lanczos with full
    reorthogonalisation: ``apply(q)`` maps ``(operators, D)`` to each operator times its row;
    ``start``: one start vector per operator.  ``steps`` Krylov steps (``min(steps, D)``: exact when
    ``steps >= D``, up to a breakdown, after which an operator's Krylov space is invariant and its
    remaining steps are dropped).  Returns ``(values, unit vectors, steps taken)``."""
    count, dim = start.shape
    steps = min(steps, dim)
    basis = torch.zeros(steps, count, dim, dtype=start.dtype)
    alpha = torch.zeros(steps, count, dtype=start.dtype)
    beta = torch.zeros(steps, count, dtype=start.dtype)
    alive = torch.ones(steps, count, dtype=torch.bool)
    q = start / start.norm(dim=1, keepdim=True)
    for j in range(steps):
        basis[j] = q
        r = apply(q)
        alpha[j] = (q * r).sum(dim=1)
        for _ in range(2):  # full reorthogonalisation, twice is enough
            r = r - torch.einsum("kc,kcd->cd", torch.einsum("kcd,cd->kc", basis[:j + 1], r), basis[:j + 1])
        norm = r.norm(dim=1)
        beta[j] = norm
        if j + 1 < steps:
            done = ~alive[j] | (norm <= 1e-12 * alpha[:j + 1].abs().amax(dim=0).clamp_min(1e-300))
            alive[j + 1] = ~done
            q = torch.where(done[:, None], torch.zeros_like(r), r / norm.clamp_min(1e-300)[:, None])
    tri = torch.diag_embed(alpha.T) + torch.diag_embed(beta.T[:, :-1], 1) + torch.diag_embed(beta.T[:, :-1], -1)
    dead = ~alive.T  # (count, steps): rows past a breakdown leave the problem
    tri = tri.masked_fill(dead[:, :, None] | dead[:, None, :], 0.0)
    big = alpha.abs().amax().clamp_min(1.0) * 1e6 + tri.abs().amax()
    tri = tri + torch.diag_embed(dead.to(tri.dtype) * big)
    values, vectors = torch.linalg.eigh(tri)
    ritz = torch.einsum("ck,kcd->cd", vectors[:, :, 0], basis)
    return values[:, 0], ritz / ritz.norm(dim=1, keepdim=True), steps


def splitting_eigen(model: nn.Module, sites: dict[str, SplitSite], batches, steps: int = 64, seed: int = 0
                    ) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], int, int]:
    """Each group's ``(lambda_min, v)`` per unit (``v``: unit rows ``(units, D)``, float64), without
    forming a matrix: :func:`lanczos_smallest` with ``S_c q = x^T (w_c * (x q))``, all units of a group
    at once (two matrix products per step), from start vectors drawn with ``seed``; exact when the
    fan-in ``D <= steps``.  Also the images passed and the MACs (``2 N D`` per unit per step)."""
    factors, samples, count = _factors(model, sites, batches)
    found, macs = {}, 0
    generator = torch.Generator().manual_seed(seed)
    for group, (x, w) in factors.items():
        x64, w64 = x.to(torch.float64).cpu(), w.to(torch.float64).cpu() / count
        n, d = x64.shape
        start = torch.randn(w64.shape[1], d, generator=generator, dtype=torch.float64)
        values, vectors, taken = lanczos_smallest(lambda q: ((x64 @ q.T) * w64).T @ x64, start, steps)
        found[group] = (values, vectors)
        macs += taken * (2 * n * d + taken * d) * w64.shape[1]
    return found, samples, macs


def _positive_ints(method: Any, *keys: str) -> None:
    for key in keys:
        value = getattr(method, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}={value!r} is not allowed: give a positive integer")


@dataclass(repr=False)
class SplitMethod(Net2Net):
    """Base of the methods that split units (Splitting, Firefly): defined on the groups of
    :func:`split_sites`, Net2Net's random copies elsewhere (``unsupported="net2net"``) or a refusal
    (``"error"``); a copied unit's row and its source's get ``-offset`` and ``+offset``
    (``GroupPlan.split``); fresh units (Firefly's new ones) take ``fan_in`` / ``fan_out``."""

    needs_data: ClassVar[bool] = True
    batch_size: int = 128
    augment: bool = True
    unsupported: str = "error"

    UNSUPPORTED: ClassVar[tuple[str, ...]] = ("error", "net2net")

    def __post_init__(self) -> None:
        _positive_ints(self, "batch_size")
        if self.unsupported not in self.UNSUPPORTED:
            raise ValueError(f"unsupported={self.unsupported!r} is unknown: choose one of {', '.join(self.UNSUPPORTED)}")

    def check(self, model: nn.Module) -> None:
        _, reasons = split_sites(model, width_groups(model))
        if reasons and self.unsupported == "error":
            group, why = next(iter(reasons.items()))
            raise ValueError(f"method {self.name!r} is not defined on group {group} of "
                             f"{getattr(model, 'spec', type(model).__name__)} ({why}): grow another family, or use "
                             f"{type(self).__name__}(unsupported='net2net') to copy random units there")

    def most_added(self, old: int) -> int:
        """The most units one growth can add to a group of ``old`` units: each splits at most once."""
        return old

    def check_schedule(self, model: nn.Module, channels: list[dict[str, int]]) -> None:
        sites, _ = split_sites(model, width_groups(model))
        for before, after in zip(channels, channels[1:]):
            for group in sites:
                old, new = before.get(group), after.get(group)
                if old is not None and new is not None and new - old > self.most_added(old):
                    raise ValueError(f"method {self.name!r}: the schedule grows group {group} from {old} to {new} "
                                     f"units in one growth, more than the {self.most_added(old)} it can add "
                                     f"({type(self).__name__}.most_added): use more stages or a smaller width rate")

    def _search_once(self, context: Any, key: str, search: Callable[[], tuple[dict, int]]
                     ) -> tuple[dict, int, dict]:
        """What the locator's ``scores`` found this epoch (``context.state[key]``, then dropped) or
        ``search()`` anew; its MACs (0 when found before: charged then); the locator's picked units."""
        state = getattr(context, "state", None) or {}
        cached = state.get(key)
        if cached is not None and cached["epoch"] == getattr(context, "epoch", None):
            found, macs = cached["found"], 0
            state.pop(key)
        else:
            found, macs = search()
        return found, macs, state.pop("width_pick", {}) if isinstance(state, dict) else {}

    def _undefined(self, group: str) -> dict[str, Any]:
        """The summary of a group the method is not defined on (copied as Net2Net), or a refusal."""
        if self.unsupported == "error":
            raise ValueError(f"method {self.name!r} is not defined on group {group}: see {type(self).__name__}.check")
        return {"net2net": True}

    def plan(self, plans, ties, generator):
        """The sources of the defined groups were chosen in ``prepare``; the others copy random units as
        Net2Net does (option-A shortcuts included)."""
        super().plan([p for p in plans if p.source is None], ties, generator)

    def layer(self, layer, model, generator):
        weight, bias, scale = super().layer(layer, model, generator)
        split = layer.rows.split if layer.rows is not None and layer.rows.added else None
        if split is not None and layer.name in split:
            offset = split[layer.name]
            if layer.cols is not None and layer.cols.added:  # inputs copied too: spread as Net2Net spreads w
                index = layer.cols.index()
                share = layer.cols.copies()[index].to(offset)
                offset = offset[:, index.to(offset.device)] / share.view(1, -1, *[1] * (offset.dim() - 2))
                if layer.cols.fresh:
                    offset = torch.cat([offset, offset.new_zeros(offset.shape[0], layer.cols.fresh,
                                                                  *offset.shape[2:])], dim=1)
            copied = len(layer.rows.source)
            weight[layer.rows.source.to(weight.device)] += offset
            weight[layer.rows.old:layer.rows.old + copied] -= offset
        return weight, bias, scale


@register_width_method
@dataclass(repr=False)
class Splitting(SplitMethod):
    """Splitting steepest descent; see the module doc.  ``eps`` (1e-2), ``batch_size`` x ``batches``
    grow images (``augment``), ``unsupported``: ``"error"`` or ``"net2net"``, ``lanczos_steps``."""

    name: ClassVar[str] = "splitting"
    eps: float = 1e-2
    batches: int = 1
    lanczos_steps: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or not math.isfinite(self.eps) \
                or self.eps < 0:
            raise ValueError(f"eps={self.eps!r} is not allowed: give a finite number >= 0 (the authors use 1e-2)")
        _positive_ints(self, "batches", "lanczos_steps")

    def eigen(self, model: nn.Module, groups: list[ChannelGroup], context: Any) -> tuple[dict[str, Any], int]:
        """Each defined group's ``(lambda_min, v)`` per unit (``v``: unit rows in the producer's row shape)
        and the MACs spent."""
        sites, _ = split_sites(model, groups)
        if not sites:
            return {}, 0
        batches = grow_batches(context, self.batch_size, self.batches, augment=self.augment)
        pairs, samples, macs = splitting_eigen(model, sites, batches, steps=self.lanczos_steps,
                                               seed=int(getattr(context, "seed", 0)) * 100_003 + int(getattr(context, "epoch", 0)))
        shape = getattr(getattr(context, "cost", None), "input_shape", None) or context.data.input_shape
        macs += samples * training_macs_per_sample(model, shape)
        found = {}
        for group, (values, vectors) in pairs.items():
            producer = model.get_submodule(sites[group].producer)
            row_shape = layer_adapter(producer).weight(producer).shape[1:]
            found[group] = (values, unit_rows(vectors).reshape(-1, *row_shape), sites[group].producer)
        return found, macs

    def scores(self, ctx: Any) -> dict[str, torch.Tensor]:
        """Every unit's ``lambda_min`` by group (lower: split first), for a global pick; charges its cost
        to ``ctx.cost`` and keeps the eigenvectors in ``ctx.state["splitting"]`` for the growth that follows."""
        found, macs = self.eigen(ctx.model, width_groups(ctx.model), ctx)
        if macs and getattr(ctx, "cost", None) is not None:
            ctx.cost.add_extra(macs, "splitting scores")
        ctx.state["splitting"] = {"epoch": ctx.epoch, "found": found}
        return {group: values for group, (values, _, _) in found.items()}

    def prepare(self, model, groups, plans, context, generator):
        growing = [g for g in groups if plans[g.name].added]
        found, macs, picked = self._search_once(context, "splitting", lambda: self.eigen(model, growing, context))
        summary: dict[str, Any] = {"groups": {}}
        for g in growing:
            plan = plans[g.name]
            if g.name not in found:
                summary["groups"][g.name] = self._undefined(g.name)
                continue
            if plan.added > plan.old:
                raise ValueError(f"Splitting: group {g.name} would add {plan.added} units to {plan.old}: each unit "
                                 f"splits at most once per growth, so grow it by at most {plan.old}")
            values, directions, producer = found[g.name]
            chosen = picked.get(g.name)
            if chosen is None or len(chosen) != plan.added:
                chosen = torch.argsort(values, stable=True)[:plan.added]
            plan.source = chosen.cpu()
            plan.split = {producer: directions[plan.source].to(model.get_submodule(producer).weight) * self.eps}
            summary["groups"][g.name] = {"lambda_min": [float(v) for v in values[plan.source]]}
        summary["macs"] = macs
        return summary
