"""MixtureGrowth (Pham et al. WACV 2024): grow a template-mixing net by recombining its trained templates.

A :class:`~growth.models.template.TemplateNet` trains member 0 (network 1), then, with fusion, member 1
(network 2, its own templates; network 1 gets no gradient), then grows (g = 2, Fig. 2): every hidden
layer becomes the tiling ``[[W0, W2], [W3, W1]]`` where ``W0``, ``W1`` are the members' weights and
the new tiles ``W2`` (over set 0's templates) and ``W3`` (set 1's) take new coefficients (Sec. 3.3),
initialised by one of :data:`COEFFICIENT_INITS`:

===================  ============================================================================
``orthogonal``       the paper: every coefficient vector over a template set starts orthogonal to the
                     others over that set (Saxe et al.), here to the member's and to earlier new ones
                     (and across a shared pair), scaled to the member's norm; where the set has fewer
                     templates than vectors, the least-singular direction of the others
``orthogonal-svd``   the authors' code: tile 2 keeps its construction-time row of the orthogonal
                     matrix; tile 3 is the least-singular right vector of ``[c0; c1; c2]`` x ``noise``
``random``           the paper: standard normal x ``noise``
``random-uniform``   the authors' code: U[0, 1) x ``noise``
``copy``             ``c2 = c0 + n``, ``c3 = c1 + n``, ``n = noise u / |u|``, u ~ U[0, 1)^t (the paper's
                     copy: ``noise = 0``)
===================  ============================================================================

``noise=None`` takes each rule's default: 1 (the code's ``coefs_noise_growing``), 0 for ``copy``.
Without fusion (:class:`MixtureGrowth` ``fusion=False``) network 2 never trains: its templates and
coefficients keep their initial values when the tiles are made.

:func:`tile` grows in place; :class:`MixtureGrowth` is the operator the training loop calls, its
:attr:`~MixtureGrowth.where` the locator of the two steps (``"net2"``: switch to network 2;
``"grown"``: tile), to be fired at the phase boundaries (:class:`growth.when.width_schedule.StageBoundaries`).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..models.template import TILE_SETS, MemberNorm, MixingLayer, TemplateNet
from ..protocol import GrowthContext

__all__ = ["COEFFICIENT_INITS", "MixtureGrowth", "new_coefficients", "tile"]

COEFFICIENT_INITS = ("orthogonal", "orthogonal-svd", "random", "random-uniform", "copy")
DEFAULT_NOISE = {"copy": 0.0}
NEW_TILES = (2, 3)


def _check_init(init: Any, noise: Any) -> float:
    if init not in COEFFICIENT_INITS:
        raise ValueError(f"coefficient_init={init!r} is unknown: choose one of {', '.join(COEFFICIENT_INITS)}")
    if noise is None:
        return DEFAULT_NOISE.get(init, 1.0)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not float(noise) >= 0:
        raise ValueError(f"noise={noise!r} is not allowed: use a non-negative number, or None for the rule's default")
    return float(noise)


def _least_singular(vectors: list[torch.Tensor], size: int, generator: torch.Generator) -> torch.Tensor:
    """A unit vector orthogonal to ``vectors`` when they leave room (exactly: projected out), else the
    right-singular vector of their smallest singular value."""
    if not vectors:
        v = torch.randn(size, generator=generator, dtype=torch.float64)
        return v / v.norm()
    stack = torch.stack([v.double() for v in vectors])
    if len(vectors) < size:
        v = torch.randn(size, generator=generator, dtype=torch.float64)
        q, _ = torch.linalg.qr(stack.T)  # orthonormal basis of their span
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to float64 precision
            v = v - q @ (q.T @ v)
        if v.norm() > 1e-12:
            return v / v.norm()
    return torch.linalg.svd(stack, full_matrices=True).Vh[-1]


def new_coefficients(model: TemplateNet, init: str = "orthogonal", *, noise: float | None = None,
                     generator: torch.Generator | None = None) -> None:
    """Set the new tiles' coefficients (tiles 2 and 3 of every hidden layer) by ``init``, in place."""
    noise = _check_init(init, noise)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    layers = [m for _, m in model.mixing_layers() if m.role == "hidden"]
    by_bank: dict[int, list[torch.Tensor]] = {}  # vectors already over each bank (orthogonal)
    if init == "orthogonal":
        for m in layers:
            for member in (0, 1):
                by_bank.setdefault(id(m.banks[member]), []).append(m.coefficients[member].detach())
    with torch.no_grad():
        for m in layers:
            size = m.coefficients[0].numel()
            for tile in NEW_TILES:
                member = TILE_SETS[tile]
                c, own = m.coefficients[tile], m.coefficients[member]
                if init == "orthogonal":
                    taken = by_bank[id(m.banks[member])]
                    v = _least_singular(taken, size, generator) * own.detach().double().norm()
                    sign = 1.0 if torch.rand((), generator=generator) < 0.5 else -1.0
                    c.copy_((sign * v).to(c.dtype))
                    taken.append(c.detach())
                elif init == "orthogonal-svd":
                    if tile == 3:
                        rows = [m.coefficients[i].detach() for i in (0, 1, 2)]
                        c.copy_(torch.linalg.svd(torch.stack(rows), full_matrices=True).Vh[-1] * noise)
                elif init == "random":
                    c.copy_(torch.randn(size, generator=generator) * noise)
                elif init == "random-uniform":
                    c.copy_(torch.rand(size, generator=generator) * noise)
                else:  # copy
                    u = torch.rand(size, generator=generator)
                    c.copy_(own + noise * u / u.norm())


def tile(model: TemplateNet, init: str = "orthogonal", *, noise: float | None = None,
         generator: torch.Generator | None = None) -> TemplateNet:
    """Grow ``model`` in place (g = 2): new coefficients (:func:`new_coefficients`), every mixing layer
    tiled, every BN the concatenation of the members'.  Returns the model."""
    if not isinstance(model, TemplateNet):
        raise ValueError(f"model={getattr(model, 'spec', type(model).__name__)!r} is not a template-mixing net: "
                         "build one with growth.models.template_net(...) or build_model('TemplateWRN-28-5', ...)")
    if model.grown:
        raise ValueError(f"model {model.spec} is grown already: MixtureGrowth grows once (g = 2)")
    _check_init(init, noise)
    new_coefficients(model, init, noise=noise, generator=generator)
    for m in model.modules():
        if isinstance(m, MixingLayer):
            m.mode = "grown"
    for m in list(model.modules()):
        if isinstance(m, MemberNorm):
            m.grow()
    return model


@dataclass
class _Phases:
    """Locator: the steps left, in order (``"net2"`` with fusion, then ``"grown"``)."""

    steps: tuple[str, ...]
    done: int = 0

    def __call__(self, ctx: GrowthContext) -> str | None:
        return self.steps[self.done] if self.done < len(self.steps) else None

    def exhausted(self, ctx: GrowthContext) -> bool:
        return self.done >= len(self.steps)


@dataclass
class MixtureGrowth:
    """Operator: switch to network 2 (``"net2"``) or tile (``"grown"``); ``fusion=False`` tiles straight
    from network 1.  Pair with :attr:`where` and a trigger at the phase boundaries."""

    coefficient_init: str = "orthogonal"
    noise: float | None = None
    fusion: bool = True
    name: str = ""
    _where: _Phases = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_init(self.coefficient_init, self.noise)
        if not isinstance(self.fusion, bool):
            raise ValueError(f"fusion={self.fusion!r} is not allowed: use True or False")
        self._where = _Phases(("net2", "grown") if self.fusion else ("grown",))
        if not self.name:
            self.name = f"mixturegrowth({self.coefficient_init}{'' if self.fusion else ', no fusion'})"

    @property
    def where(self) -> _Phases:
        return self._where

    def check(self, model: nn.Module) -> None:
        if not isinstance(model, TemplateNet) or model.grown or model.mode != 0:
            raise ValueError(f"model={getattr(model, 'spec', type(model).__name__)!r}: MixtureGrowth starts from "
                             "network 1 of an ungrown template-mixing net (growth.models.template_net)")

    @staticmethod
    def event_kind(target: str) -> str:
        """The History event's kind: ``"member"`` for the switch to network 2, ``"grow"`` for the tiling."""
        return "member" if target == "net2" else "grow"

    def __call__(self, ctx: GrowthContext, target: Any) -> nn.Module:
        if target == "net2":
            ctx.model.set_member(1)
        elif target == "grown":
            generator = torch.Generator().manual_seed(ctx.seed * 100_003 + ctx.epoch)
            tile(ctx.model, self.coefficient_init, noise=self.noise, generator=generator)
        else:
            raise ValueError(f"target={target!r} is not allowed: MixtureGrowth's steps are 'net2' and 'grown'")
        self._where.done += 1
        return ctx.model
