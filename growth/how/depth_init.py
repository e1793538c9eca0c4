"""Initialisers of a new block for depth growth, selectable by name (:data:`DEPTH_INITS`).

=========  ==========================================================================================
name       the new block
=========  ==========================================================================================
zero       AutoGrow's ZeroInit: last BN weight and bias 0 (a residual block computes the identity)
uniform    AutoGrow's UniInit: last BN weight and bias ~ U(0, 1)
gaussian   AutoGrow's GauInit (AutoGrow's best, Tables 6/7 of the review): last BN ~ N(0, 1)
adam       AutoGrow's AdamInit: last BN trained alone with Adam until the training accuracy is back
he         the block as the family makes it (Kaiming-normal convs, BN weight 1, bias 0)
copy       FRAGrow's default: a deep copy of the preceding block of the stage (``he`` if it cannot be)
mogrow     MoGrow: ``copy`` with the preceding block's moving-average weights (:mod:`growth.how.momentum`)
=========  ==========================================================================================

AutoGrow's four (Wen et al. 2020; the review's Tables 6 and 7) treat only the new block's *last* BN
(``bn2`` of a BasicBlock, ``bn3`` of a Bottleneck or an InvertedResidual, ``bn`` of a plain / VGG
unit: :func:`last_bn`); every other layer keeps the family's default initialisation (``he``).  The
values follow the authors' code (``wenwei202/autogrow``, ``load_all``): it matches the last BN's
``weight`` *and* ``bias`` and fills both with ``uniform_(0, init_meta)`` or
``normal_(0, std=init_meta)``, ``init_meta = 1`` (the review's "uniform with standard deviation 1.0"
is U(0, 1) there, standard deviation 0.29).  ``bias=False`` touches the weight (gamma) only.

Plain nets and VGG have no residual: there ``zero`` zeroes the unit's only BN, so the unit outputs
``ReLU(0) = 0`` everywhere: *not* function preserving, and every later layer sees zeros.

An initialiser is a :class:`DepthInit`: ``prepare`` runs on the shallower model (AdamInit measures
its accuracy there), ``make`` returns the block to insert, ``finish`` runs on the deeper model.
"""
from __future__ import annotations

import dataclasses

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..measure.cost import forward_macs, training_macs_per_sample
from ..epoch import evaluate, train_epoch

__all__ = [
    "DEPTH_INITS", "DepthInit", "ZeroInit", "UniInit", "GauInit", "AdamInit", "HeInit", "CopyInit",
    "interchangeable", "last_bn", "make_depth_init", "template_block",
]

def last_bn(block: nn.Module) -> nn.BatchNorm2d:
    """The BN whose output the block adds to its shortcut (AutoGrow's "last BN"): the one the block
    names in ``last_norm`` (every block of the zoo does), else its last BN outside a shortcut."""
    name = getattr(block, "last_norm", None)
    if name is not None:
        return getattr(block, name)
    norms = [m for n, m in block.named_modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and not n.startswith(("shortcut", "downsample"))]
    if not norms:
        raise ValueError(f"block={type(block).__name__} has no batch norm: AutoGrow's initialisers need one")
    return norms[-1]


def template_block(model: nn.Module, stage: int) -> nn.Module:
    """A stand-in for the block ``new_block(stage)`` makes, on the meta device (no memory, no draws).

    Used to compare shapes, strides and shortcuts with the blocks already in the stage.
    """
    last = model.stages[stage][-1]
    if hasattr(last, "continuation"):
        with torch.device("meta"):
            return last.continuation()
    with torch.random.fork_rng(devices=[]):  # a family without `continuation`: a real block, RNG untouched
        return model.new_block(stage)


def interchangeable(a: nn.Module, b: nn.Module) -> bool:
    """Same class, same layers and hyper-parameters (strides, pools, shortcut), same tensor shapes."""
    if type(a) is not type(b) or repr(a) != repr(b):
        return False
    sa, sb = a.state_dict(keep_vars=True), b.state_dict(keep_vars=True)
    return list(sa) == list(sb) and all(sa[k].shape == sb[k].shape for k in sa)


class DepthInit:
    """Base of the initialisers: by default the family's new block (``model.new_block(stage)``)."""

    name: ClassVar[str] = ""

    def check(self, model: nn.Module, ctx: Any) -> None:
        """Raise ``ValueError`` before anything changes when this initialiser cannot run."""

    def prepare(self, model: nn.Module, stage: int, position: int, ctx: Any) -> Any:
        """Runs on the shallower model, before the block is inserted."""
        return None

    def make(self, model: nn.Module, stage: int, position: int) -> nn.Module:
        """The block to insert at ``position`` of ``stage``."""
        return model.new_block(stage)

    def finish(self, model: nn.Module, block: nn.Module, stage: int, position: int, ctx: Any, prepared: Any) -> None:
        """Runs on the deeper model, after the block is inserted."""

    def __repr__(self) -> str:
        args = (f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)) if dataclasses.is_dataclass(self) else ()
        return f"{type(self).__name__}({', '.join(args)})"


@dataclass(repr=False)
class HeInit(DepthInit):
    """Every weight fresh, as the family initialises it: Kaiming-normal convs, BN weight 1, bias 0."""

    name: ClassVar[str] = "he"


class _LastBNInit(DepthInit):
    bias: bool = True

    def make(self, model: nn.Module, stage: int, position: int) -> nn.Module:
        block = model.new_block(stage)
        bn = last_bn(block)
        with torch.no_grad():
            for p in (bn.weight, bn.bias) if self.bias else (bn.weight,):
                self.fill(p)
        return block

    def fill(self, p: torch.Tensor) -> None:
        raise NotImplementedError


@dataclass(repr=False)
class ZeroInit(_LastBNInit):
    """AutoGrow's ZeroInit: last BN weight (and bias) 0; function preserving in a residual block."""

    name: ClassVar[str] = "zero"
    bias: bool = True

    def fill(self, p: torch.Tensor) -> None:
        p.zero_()


@dataclass(repr=False)
class UniInit(_LastBNInit):
    """AutoGrow's UniInit: last BN weight and bias ~ U(0, high), ``high = 1`` (authors' code)."""

    name: ClassVar[str] = "uniform"
    high: float = 1.0
    bias: bool = True

    def fill(self, p: torch.Tensor) -> None:
        p.uniform_(0.0, self.high)


@dataclass(repr=False)
class GauInit(_LastBNInit):
    """AutoGrow's GauInit: last BN weight and bias ~ N(0, std^2), ``std = 1`` (authors' code)."""

    name: ClassVar[str] = "gaussian"
    std: float = 1.0
    bias: bool = True

    def fill(self, p: torch.Tensor) -> None:
        p.normal_(0.0, self.std)


@dataclass(repr=False)
class CopyInit(DepthInit):
    """FRAGrow's default: a deep copy (weights, BN statistics) of the block just before ``position``.

    When that block cannot be copied, because it is the stage's first block and downsamples or changes
    the channels (every first block of MobileNetV2's stages), or there is none (``position=0``), the
    new block is ``he``: FRAGrow's Kaiming initialisation after a downsampling block (as a secondary
    account of the authors' setting gives it).
    """

    name: ClassVar[str] = "copy"

    def make(self, model: nn.Module, stage: int, position: int) -> nn.Module:
        blocks = model.stages[stage]
        if position > 0:
            previous = blocks[position - 1]
            if interchangeable(previous, template_block(model, stage)):
                block = copy.deepcopy(previous).train(model.training)
                for p in block.parameters():
                    p.grad = None
                return block
        return model.new_block(stage)


@dataclass(repr=False)
class AdamInit(DepthInit):
    """AutoGrow's AdamInit: train only the new block's last BN with Adam until accuracy is back.

    1. The shallower net's training accuracy: eval mode, over the whole training split, no
       augmentation (``data.eval_loader("train")``), before the block is inserted.
    2. The new block's last BN starts at weight = bias = 0 (``start="zero"``; ``"default"`` keeps
       the family's 1 / 0, which is where the authors' code starts); every other parameter is frozen.
    3. Epochs of Adam (``lr`` 1e-3, ``weight_decay`` 5e-4, as the authors' code) over the training
       loader (train mode, augmented, seeded from ``ctx.seed`` and ``ctx.epoch``); after each one the
       deeper net's accuracy is measured as in 1.  Stop at the first epoch where it is within
       ``tolerance`` (0.5) points of the shallower net's, or after ``max_epochs`` (10).  At least one
       epoch runs, as in the authors' code.  Train mode also updates the running statistics of every
       BN of the net, as in the authors' code.

    Cost, charged to ``ctx.cost.add_extra(macs, "AdamInit")``: samples trained x training MACs per
    sample of the deeper net, plus the forward MACs of the accuracy measurements (one pass of the
    shallower net, one of the deeper net per epoch, over the training split).  Each call appends
    ``{"epochs", "reached", "baseline_acc", "target_acc", "accs", "macs", ...}`` to
    ``ctx.state["adam_init"]``.  Needs ``ctx`` with ``data``.
    """

    name: ClassVar[str] = "adam"
    lr: float = 1e-3
    weight_decay: float = 5e-4
    max_epochs: int = 10
    tolerance: float = 0.5
    batch_size: int = 128
    eval_batch_size: int = 512
    augment: bool = True
    start: str = "zero"

    def __post_init__(self) -> None:
        if not isinstance(self.max_epochs, int) or isinstance(self.max_epochs, bool) or self.max_epochs < 1:
            raise ValueError(f"max_epochs={self.max_epochs!r} is not allowed: use a positive integer")
        if self.start not in ("zero", "default"):
            raise ValueError(f"start={self.start!r} is unknown: choose one of zero, default")
        for key in ("batch_size", "eval_batch_size"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key}={value!r} is not allowed: use a positive integer")

    def check(self, model: nn.Module, ctx: Any) -> None:
        if ctx is None or getattr(ctx, "data", None) is None:
            raise ValueError(
                f"ctx={ctx!r}: init='adam' trains on the training split, so it needs a GrowthContext with "
                "data (and cost, to be charged): grow_depth(model, stage, init='adam', ctx=ctx)"
            )

    def _shape(self, ctx: Any) -> Any:
        return getattr(ctx.cost, "input_shape", None) or getattr(ctx.data, "input_shape", None)

    def prepare(self, model: nn.Module, stage: int, position: int, ctx: Any) -> dict:
        _, acc = evaluate(model, ctx.data.eval_loader("train", self.eval_batch_size))
        return {"baseline_acc": acc, "shallow_forward": forward_macs(model, self._shape(ctx))}

    def make(self, model: nn.Module, stage: int, position: int) -> nn.Module:
        block = model.new_block(stage)
        if self.start == "zero":
            bn = last_bn(block)
            with torch.no_grad():
                bn.weight.zero_()
                bn.bias.zero_()
        return block

    def finish(self, model: nn.Module, block: nn.Module, stage: int, position: int, ctx: Any, prepared: dict) -> None:
        data = ctx.data
        bn = last_bn(block)
        trained = [bn.weight, bn.bias]
        frozen = {p: p.requires_grad for p in model.parameters()}
        was_training = model.training
        target = prepared["baseline_acc"] - self.tolerance
        loader = data.train_loader(self.batch_size, seed=ctx.seed * 100_003 + ctx.epoch, augment=self.augment)
        criterion = nn.CrossEntropyLoss()
        accs: list[float] = []
        samples = 0
        try:
            for p in model.parameters():
                p.requires_grad_(any(p is q for q in trained))
            optimizer = torch.optim.Adam(trained, lr=self.lr, weight_decay=self.weight_decay,
                                         fused=True)  # exact square roots: the same on every CPU
            for _ in range(self.max_epochs):
                samples += train_epoch(model, loader, optimizer, criterion, None, False)[2]
                accs.append(evaluate(model, data.eval_loader("train", self.eval_batch_size))[1])
                if accs[-1] >= target:
                    break
        finally:
            for p, flag in frozen.items():
                p.requires_grad_(flag)
            for p in trained:
                p.grad = None
            model.train(was_training)
        shape = self._shape(ctx)
        deep_forward = forward_macs(model, shape)
        macs = (samples * training_macs_per_sample(model, shape)
                + data.num_train * (prepared["shallow_forward"] + len(accs) * deep_forward))
        if getattr(ctx, "cost", None) is not None:
            ctx.cost.add_extra(macs, "AdamInit")
        record = {"epoch": getattr(ctx, "epoch", None), "stage": stage, "position": position,
                  "epochs": len(accs), "reached": accs[-1] >= target, "baseline_acc": prepared["baseline_acc"],
                  "target_acc": target, "accs": accs, "samples": samples, "macs": macs}
        if isinstance(getattr(ctx, "state", None), dict):
            ctx.state.setdefault("adam_init", []).append(record)


#: The initialisers by name: ``grow_depth(..., init=name)``.
DEPTH_INITS: dict[str, type[DepthInit]] = {
    cls.name: cls for cls in (ZeroInit, UniInit, GauInit, AdamInit, HeInit, CopyInit)
}


def make_depth_init(init: str | DepthInit) -> DepthInit:
    """An initialiser from its name (:data:`DEPTH_INITS`) or as given; ``ValueError`` for an unknown name."""
    if isinstance(init, DepthInit):
        return init
    if isinstance(init, str) and init in DEPTH_INITS:
        return DEPTH_INITS[init]()
    raise ValueError(f"init={init!r} is unknown: choose one of {', '.join(sorted(DEPTH_INITS))} "
                     "(or pass a growth.how.DepthInit)")
