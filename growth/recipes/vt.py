"""Variance Transfer + LR adaptation (Yuan, Savarese, Maire; NeurIPS 2023) as a recipe: grow width in stages.

A short, runnable log of how a VT number is made::

    from growth.recipes.vt import vt_config, run_vt
    config = vt_config("paper", variant="full")             # ResNet-20, CIFAR-10, VT + RA, 9 stages
    run = run_vt(config, history_path="vt.json")
    run.history.meta["stages"], run.history.meta["relative_cost"], run.history.last("test_acc")

    python -m growth run vt --profile smoke                  # the same, on the command line

The method (Sec. 3, Algorithm 1): start from a seed whose every channel group has a quarter of the
full model's channels, widen all groups at once at the end of each stage (Eq. 6, rounded to even
counts), train stage k for T_k epochs (Eq. 7), optionally with a larger batch in thin stages (Eq. 8);
:mod:`growth.when.width_schedule` computes the schedule, :class:`growth.how.AddWidth` grows.

The ablation rows (Sec. 4, the ablation table) are ``variant``:

==============  ===============================================  ===============
``variant``     new units                                         learning rate
==============  ===============================================  ===============
``large``       no growth: the full model for all epochs         global
``net2net``     Net2Net (copies of units, fan-out split)         global
``growing``     random (muP variances, no rescaling)             global
``growing+vt``  Variance Transfer                                global
``growing+ra``  random                                           stage-wise (RA)
``full``        Variance Transfer                                stage-wise (RA)
==============  ===============================================  ===============

``width_method`` replaces a growing variant's way of filling new units by any of
:data:`growth.how.WIDTH_METHODS` (App. A: ``growing+vt`` with ``width_method="vt-constraint"`` is
VT-constraint, with ``"random"`` the standard initialisation; ``"gradmax"``, ``"splitting"``,
``"firefly-simple"``: the VT paper's comparison methods, run on its scheduler as the paper does, with
their authors' fallback where they are not defined and ``ReLU1`` for zero-fan-in units); ``None``
keeps the variant's.
``rescale_without_bn`` (VT, VT-constraint): rescale the old weights of layers no BatchNorm reads,
as the paper writes (True, the default), or keep them and the network's function (False;
:class:`growth.how.VarianceTransfer`).

A growing data stream (App. H, Table 14): ``stream="class"`` or ``"data"`` trains each stage on the
stage's part of the training set (:mod:`growth.data.stream`; the first stage ``stream_first`` of the
classes or samples, all of them in the last), changing at the growth schedule's stage boundaries,
the ``large`` variant included; ``osgd=True`` adds the dynamic orthogonalised SGD of App. H
(:mod:`growth.optim.osgd`) to a growing variant.

Paper setting (profile ``paper``): SGD, LR 0.1, momentum 0.9, weight decay 5e-4 (the values lost in
our copy; the usual CIFAR ones [secondary]), batch 128, cosine LR over the whole budget, 160 epochs
on CIFAR-10 (200 CIFAR-100, 90 ImageNet), ``c0 = 1/4``, ``p = 0.2``, 9 stages, ``T0 = 8`` (10, 4),
symmetry-breaking noise 1e-3 of the init std (Sec. 4), SGD momentum re-initialised at every growth
and Adam/AvaGrad buffers kept (Sec. 4).

ImageNet (Sec. 4, Sec. 4.2, Table 4)::

    vt_config("paper", model="ResNet-50", dataset="imagenet", data_root="/data/imagenet")   # batch 256
    vt_config("paper", model="MobileNetV1", dataset="imagenet", data_root="/data/imagenet") # batch 512

90 epochs in 9 stages from ``T0 = 4``, SGD LR 0.1 with one cosine, the 224 px ImageNet layout of the
model (its 224 crops, :mod:`growth.data.torchvision_sets`), and the batch of :data:`BATCH_SIZES` where
neither the profile nor the caller sets ``batch_size``; the ImageNet weight decay and momentum were
lost in our copy too, and the recipe keeps 5e-4 and 0.9 [open].

Where we had to choose (each is a parameter):

* the epoch rate ``q = epoch_rate = 0.2`` (= ``p``) and rounding of Eq. 7 [open]; the LR schedule is
  one cosine over the total budget, not restarted at growth [open];
* the batch size of Eq. 8: ``B (1/c_k)^a``, a multiple of 8, off by default [open]; LR unchanged;
* Adam's and AvaGrad's LR (Table 10's values are lost): 1e-3 and 0.1 [open]; LARS's (Table 11, the
  searched value is lost): 5 with trust coefficient 1e-3, so a step moves a tensor by about 0.5% of its
  norm [open]; LARS has no stage-wise version, so it goes with the global-LR variants only;
* the seed: ``build_model(model, width=c0 * width)`` (the family's own init), widened where the
  even rounding gives more channels (:func:`growth.how.width.build_stage_model`);
* no validation split (the paper reports test accuracy) [secondary].

Training cost (fvcore MACs, :mod:`growth.measure.cost`) of the paper's schedule for ResNet-20 on CIFAR-10, relative to
the full model for 160 epochs: 50.24% (even rounding), 50.68% (nearest), 53.80% (ceil-even) with
Eq. 7 rounded to the nearest epoch, 53.11 / 53.51 / 56.49% with floored epochs; the paper's Table 10
says 54.90%, which none of these readings gives exactly (tests/test_width_schedule.py prints them).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ..measure.cost import forward_macs
from ..how import WIDTH_METHODS, AddWidth, WidthMethod
from ..how.width import build_stage_model, stage_models
from ..how.width_methods import configured_width_method
from ..data.stream import KINDS as STREAMS
from ..data.stream import StagedSplits, stream_indices
from ..models import build_model, channel_counts, parse_name, relu_one_at_zero, width_families
from ..measure.probe import StageNormProbe
from ..protocol import Grower
from ..optim.osgd import PROJECTIONS, DynamicOSGD
from ..optim.rate_adaptation import RULES
from ..optim.schedules import SCHEDULES
from ..train import Run, TrainConfig
from ..when.width_schedule import (
    EPOCH_KINDS, EPOCH_ROUNDINGS, GROW_GROUPS, ROUNDINGS, WIDTH_KINDS, StageBoundaries, schedule_cost, stage_batch_sizes, stage_channels,
    stage_epochs, width_fractions,
)
from .base import (
    Recipe, add_config_arguments, check_choice, check_int, check_number, config_from_cli, jsonable, launch, option,
    profile_config, validate_common,
)

__all__ = ["BATCH_SIZES", "PROFILES", "VARIANTS", "VT", "VTConfig", "build_grower", "paper_batch_size", "plan", "run_vt",
           "summarize", "vt_config", "width_method", "width_operator"]

PAPER = ("Yuan, Savarese, Maire. Accelerated Training via Incrementally Growing Neural Networks using Variance "
         "Transfer and Learning Rate Adaptation. NeurIPS 2023.")
#: variant -> (width method, stage-wise LR adaptation); ``large`` does not grow.
VARIANTS = {"large": (None, False), "net2net": ("net2net", False), "growing": ("random", False),
            "growing+vt": ("vt", False), "growing+ra": ("random", True), "full": ("vt", True)}
#: name -> (global-LR optimizer, its RA version, default LR); LARS (Table 11) is layer-wise only.
OPTIMIZERS = {"sgd": ("sgd", "ra-sgd", 0.1), "adam": ("adam", "ra-adam", 1e-3),
              "avagrad": ("avagrad", "ra-avagrad", 0.1), "lars": ("lars", None, 5.0)}
PROFILES = ("smoke", "bench", "paper")
#: Total epochs and T0 per dataset (Sec. 4); other datasets take CIFAR-10's.
BUDGETS = {"cifar10": (160, 8), "cifar100": (200, 10), "imagenet": (90, 4)}
#: The full model's batch where the paper's is not 128, per (dataset, model): Sec. 4, "we train the baseline
#: ResNet-50 and MobileNetV1 using SGD with batch sizes of 256 and 512"; :func:`vt_config` applies it.
BATCH_SIZES = {("imagenet", "ResNet-50"): 256, ("imagenet", "MobileNetV1"): 512}


@dataclass
class VTConfig:
    """One VT run; the defaults are the paper's full method on ResNet-20, CIFAR-10.  ``None`` means
    derived (:meth:`resolved`): ``lr`` 0.1 (SGD, AvaGrad), 1e-3 (Adam) or 5 (LARS); ``epochs`` and ``T0``
    from :data:`BUDGETS`; ``reset_momentum`` True for SGD and LARS, False for Adam / AvaGrad (Sec. 4).
    ``probe``: parameter names whose sub-components' gradient and update norms are logged every step
    (:mod:`growth.measure.probe`, Fig. 4(b, c)).  ``width_options``: keyword options of the width method's
    class (e.g. ``{"steps": 10}`` for ``firefly-simple``).  ``width_kind="linear"`` with ``grow_groups="inner"`` is
    GradMax's schedule (App. G, Table 13): only the blocks' inner width grows, from ``c0`` to 1 in
    equal steps, the seed a freshly initialised net of those channels."""

    variant: str = option("full", help=f"ablation row: {', '.join(VARIANTS)} (default full)")
    width_method: str | None = option(
        None, help=f"fill new units by one of {', '.join(WIDTH_METHODS)} instead of the variant's way (App. A)")
    width_options: dict = option(factory=dict, help="an option of the width method (repeatable), e.g. steps=10")
    rescale_without_bn: bool = option(
        True, help="VT: rescale the old weights of layers no BatchNorm reads, as the paper (default), or keep them and "
                   "the function (--no-rescale-without-bn)")
    model: str = option("ResNet-20", help="full model: ResNet-20, ResNet-18, VGG-11, VGG-19, MobileNetV1, CNN4, MLP, ...")
    width: float = 1.0
    dataset: str = "cifar10"
    dataset_options: dict = field(default_factory=dict)
    data_root: str | None = None
    val_fraction: float = 0.0
    optimizer: str = option("sgd", help="sgd (paper), adam, avagrad or lars; RA variants use their stage-wise versions")
    lr: float | None = option(None, help="initial learning rate (paper 0.1 with SGD)")
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = option(128, help="batch size of the full model (paper 128; ImageNet: 256 ResNet-50, 512 "
                                       "MobileNetV1)")
    epochs: int | None = option(None, help="total epochs (paper 160 CIFAR-10, 200 CIFAR-100)")
    schedule: str = "cosine"
    c0: float = option(0.25, help="seed's width fraction (paper 0.25)")
    p: float = option(0.2, help="width growth rate per stage, Eq. 6 (paper 0.2)")
    width_kind: str = option("exponential", help=f"Eq. 6's form: {', '.join(WIDTH_KINDS)} (equal steps, GradMax's)")
    grow_groups: str = option("all", help=f"groups that grow: {', '.join(GROW_GROUPS)} (inner: GradMax's WRN)")
    stages: int = option(9, help="growth stages (paper 9)")
    T0: float | None = option(None, help="epochs of the first stage, Eq. 7 (paper 8 CIFAR-10, 10 CIFAR-100)")
    epoch_kind: str = option("exponential", help=f"Eq. 7's form: {', '.join(EPOCH_KINDS)}")
    epoch_rate: float = option(0.2, help="Eq. 7's rate q (exponential) or step (linear)")
    epoch_rounding: str = "nearest"
    rounding: str = option("even", help=f"channel rounding of Eq. 6: {', '.join(ROUNDINGS)}")
    batch_adapt: bool = option(False, help="Eq. 8: larger batches early")
    batch_exponent: float = 1.0
    batch_cap: int | None = None
    noise: float = option(1e-3, help="symmetry-breaking noise relative to the init std (paper 1e-3)")
    reset_momentum: bool | None = None
    ra_rule: str = option("norm-ratio", help=f"rate adaptation's rule: {', '.join(RULES)} (App. D)")
    probe: list = option(factory=list, help="log the per-stage gradient / update norms of this parameter every step "
                                            "(repeatable), e.g. stages.2.1.conv2.weight (Fig. 4(b, c))")
    stream: str = option("none", help="a growing data stream (App. H): none, class (progressive class) or data "
                                      "(progressive data)")
    stream_first: float = option(0.2, help="the stream's first stage: this share of the classes or samples (paper: 20 "
                                           "of 100 classes)")
    osgd: bool = option(False, help="App. H's dynamic orthogonalised SGD across the stream's growths")
    osgd_projection: str = option("global", help="OSGD's projection: global (all parameters at once) or tensor")
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    profile: str = "paper"

    def resolved(self) -> "VTConfig":
        """A copy with every derived (``None``) value filled in; validates first."""
        self.validate()
        epochs, T0 = BUDGETS.get(self.dataset, BUDGETS["cifar10"])
        return replace(
            self, lr=self.lr if self.lr is not None else OPTIMIZERS[self.optimizer][2],
            epochs=self.epochs if self.epochs is not None else epochs, T0=self.T0 if self.T0 is not None else T0,
            reset_momentum=(self.reset_momentum if self.reset_momentum is not None
                            else self.optimizer in ("sgd", "lars")),
            dataset_options=dict(self.dataset_options), width_options=dict(self.width_options), probe=list(self.probe))

    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, its value and what is allowed. Touches no data."""
        check_choice("variant", self.variant, tuple(VARIANTS))
        if self.width_method is not None:
            check_choice("width_method", self.width_method, tuple(WIDTH_METHODS))
        if not isinstance(self.width_options, dict):
            raise ValueError(f"width_options={self.width_options!r} is not allowed: use a dict of the width method's "
                             "options")
        if self.width_options:
            method = width_method(self)
            if method is None:
                raise ValueError(f"width_options={self.width_options!r}: variant={self.variant!r} does not grow")
            width_operator(self)  # unknown options and the method's own checks of the values
        try:
            family = parse_name(self.model)[0].name
        except ValueError as err:
            raise ValueError(f"model={self.model!r} is not a model name: {err}") from None
        if family not in width_families():
            raise ValueError(f"model={self.model!r} does not grow in width: choose a model of "
                             f"{', '.join(width_families())}, e.g. 'ResNet-20'")
        validate_common(self)
        check_choice("optimizer", self.optimizer, tuple(OPTIMIZERS))
        if VARIANTS[self.variant][1] and OPTIMIZERS[self.optimizer][1] is None:
            raise ValueError(f"optimizer={self.optimizer!r} has no stage-wise version, so variant={self.variant!r} "
                             f"(rate adaptation) cannot use it: choose a variant of "
                             f"{', '.join(v for v, (_, ra) in VARIANTS.items() if not ra)}")
        StageNormProbe(self.probe)  # raises on anything but a list of names
        if self.T0 is not None:
            check_number("T0", self.T0, minimum=0.0, open_low=True)
        check_number("c0", self.c0, minimum=0.0, maximum=1.0, open_low=True)
        for name in ("p", "noise", "batch_exponent"):
            check_number(name, getattr(self, name), minimum=0.0)
        check_number("epoch_rate", self.epoch_rate, minimum=0.0 if self.epoch_kind == "exponential" else None)
        check_int("stages", self.stages, minimum=1)
        for name in ("epochs", "batch_cap"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), minimum=1)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("epoch_kind", self.epoch_kind, EPOCH_KINDS)
        check_choice("width_kind", self.width_kind, WIDTH_KINDS)
        check_choice("grow_groups", self.grow_groups, GROW_GROUPS)
        check_choice("epoch_rounding", self.epoch_rounding, tuple(EPOCH_ROUNDINGS))
        check_choice("rounding", self.rounding, ROUNDINGS)
        check_choice("ra_rule", self.ra_rule, RULES)
        check_choice("stream", self.stream, ("none", *STREAMS))
        check_number("stream_first", self.stream_first, minimum=0.0, maximum=1.0, open_low=True)
        check_choice("osgd_projection", self.osgd_projection, PROJECTIONS)
        if self.osgd and (self.stream == "none" or VARIANTS[self.variant][0] is None or self.stages < 2):
            raise ValueError(f"osgd=True needs a growing variant on a data stream with at least 2 stages, not "
                             f"variant={self.variant!r} with stream={self.stream!r} and stages={self.stages!r}: set "
                             "stream to class or data, a growing variant and stages >= 2")
        flags = ("batch_adapt", "rescale_without_bn", "osgd")
        for name in flags + (("reset_momentum",) if self.reset_momentum is not None else ()):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed: use True or False")


# ---------------------------------------------------------------------------- profiles

#: Overrides of the paper's setting per profile (AutoGrow's data sizes; a thinner full model; fewer stages
#: with a larger width rate p, so that the seed is still a quarter of the full width).
PROFILE_OVERRIDES: dict[str, dict[str, Any]] = {
    "paper": {},
    # 2-core CPU, minutes; or a GPU. Bench data: synthetic, 5000 / 2000 samples.
    "bench": {"profile": "bench", "dataset": "synthetic", "width": 0.5, "batch_size": 64,
              "dataset_options": {"num_train": 5000, "num_test": 2000, "num_classes": 10},
              "stages": 5, "p": 0.4, "T0": 2, "epochs": 20},
    # CI on any CPU, seconds.
    "smoke": {"profile": "smoke", "dataset": "synthetic", "width": 0.5, "batch_size": 64, "device": "cpu",
              "dataset_options": {"num_train": 512, "num_test": 256, "num_classes": 10},
              "stages": 3, "p": 1.0, "T0": 1, "epochs": 4},
}


def vt_config(profile: str = "paper", **overrides: Any) -> VTConfig:
    """The configuration of ``profile`` (``smoke``, ``bench``, ``paper``) with ``overrides`` (any
    :class:`VTConfig` field) on top.  Overriding ``dataset`` drops the profile's ``dataset_options``
    unless they are overridden too.  Where neither the profile nor ``overrides`` set ``batch_size``, a
    (dataset, model) of :data:`BATCH_SIZES` takes the paper's batch (ImageNet, Sec. 4).  Validated."""
    check_choice("profile", profile, PROFILES)
    values = PROFILE_OVERRIDES[profile]
    if "batch_size" not in values and "batch_size" not in overrides:
        batch = paper_batch_size(overrides.get("dataset", values.get("dataset", VTConfig.dataset)),
                                 overrides.get("model", values.get("model", VTConfig.model)))
        if batch is not None:
            overrides = {**overrides, "batch_size": batch}
    return profile_config(VTConfig, values, overrides, what="VT")


def paper_batch_size(dataset: str, model: str) -> int | None:
    """The paper's batch for ``model`` on ``dataset`` from :data:`BATCH_SIZES` (``model`` in any spelling
    of the zoo, e.g. ``"resnet-50"`` or ``"Bottleneck4ResNet-3-4-6-3"``), or None (128, the default)."""
    try:
        name = parse_name(model)
    except ValueError:
        return None  # not a model name: VTConfig.validate says so
    for (d, m), batch in BATCH_SIZES.items():
        if d == dataset and parse_name(m) == name:
            return batch
    return None


# ---------------------------------------------------------------------------- the schedule and the run


def plan(config: VTConfig, *, num_classes: int = 10, image_size: int = 32) -> dict[str, Any]:
    """The stages of ``config`` (resolved): per stage its width fraction, channel counts, epochs and
    batch size, and the schedule's training cost relative to the full model (:func:`schedule_cost`).
    ``large`` is one stage.  Builds one small model per stage on the CPU: a schedule that cannot be
    grown raises ``ValueError`` here, before any data is read."""
    cfg = config.resolved()
    shape = dict(width=cfg.width, num_classes=num_classes, image_size=image_size)
    if cfg.variant == "large":
        fractions, epochs = (1.0,), (cfg.epochs,)
    else:
        fractions = width_fractions(cfg.stages, cfg.c0, cfg.p, kind=cfg.width_kind)
        epochs = stage_epochs(cfg.epochs, cfg.stages, cfg.T0, kind=cfg.epoch_kind, rate=cfg.epoch_rate,
                              rounding=cfg.epoch_rounding)
    channels = stage_channels(cfg.model, fractions, rounding=cfg.rounding, groups=cfg.grow_groups, **shape)
    batches = (stage_batch_sizes(fractions, cfg.batch_size, exponent=cfg.batch_exponent, cap=cfg.batch_cap)
               if cfg.batch_adapt else (cfg.batch_size,) * len(fractions))
    models = stage_models(cfg.model, channels, fractions[0], **shape)
    if cfg.probe:
        StageNormProbe(cfg.probe).check(models[0])
    cost = schedule_cost(models, epochs, models[-1], (3, image_size, image_size))
    return {"stages": [{"fraction": f, "channels": c, "epochs": e, "batch_size": b}
                       for f, c, e, b in zip(fractions, channels, epochs, batches)],
            "relative_cost": cost}


def width_method(config: VTConfig) -> str | None:
    """How ``config``'s new units are filled: its ``width_method``, else its variant's (None: ``large``)."""
    if VARIANTS[config.variant][0] is None:
        return None
    return config.width_method or VARIANTS[config.variant][0]


def width_operator(config: VTConfig) -> WidthMethod | None:
    """The :class:`growth.how.WidthMethod` that fills ``config``'s new units (None: ``large``), with
    ``rescale_without_bn`` where the method has it, and, for a method not defined on every group
    (GradMax, Splitting), its authors' fallback there (``unsupported``: the second of its choices)."""
    method = width_method(config)
    if method is None:
        return None
    return configured_width_method(method, config.width_options, rescale_without_bn=config.rescale_without_bn)


def build_grower(config: VTConfig, stages: list[dict[str, Any]]) -> Grower | None:
    """when / where / how: grow at the stage boundaries to the next stage's channel counts with the
    variant's method or ``width_method`` (None for ``large``)."""
    cfg = config.resolved()
    method = width_method(cfg)
    if method is None:
        return None
    how = AddWidth(channels=[s["channels"] for s in stages], method=width_operator(cfg), noise=cfg.noise)
    operator = how
    if cfg.osgd:  # its annealing lengths are set once the stream's stages are drawn (run_vt)
        operator = DynamicOSGD(how, anneal_steps=[1] * (len(stages) - 1), batch_size=cfg.batch_size,
                               projection=cfg.osgd_projection)
    return Grower(StageBoundaries([s["epochs"] for s in stages]), how.where, operator,
                  name=f"VT-schedule({cfg.variant}, {len(stages)} stages, {method}{', dynamic OSGD' if cfg.osgd else ''})")


def run_vt(config: VTConfig, *, history_path: str | None = None, meta: dict[str, Any] | None = None,
           progress: bool | None = None, resume: bool = False) -> Run:
    """Run ``config``; returns the :class:`growth.Run`.  Every parameter (the schedule included) is
    checked before any data is read.  ``resume``: continue from the checkpoint beside ``history_path``
    (:func:`growth.train`).  The History's meta carries the resolved configuration, the
    stages (``stages``: fraction, channels, epochs, batch size), the schedule's ``relative_cost``,
    the final model's ``channels``, ``input_shape`` and ``num_classes``; its events the growths (``target``: the stage's channels); each
    epoch its ``batch_size`` and, with RA, ``stage_lrs``."""
    if not isinstance(config, VTConfig):
        raise ValueError(f"config={config!r} is not a VTConfig: build one with vt_config(...)")
    cfg = config.resolved()
    image_size = 224 if cfg.dataset == "imagenet" else 32
    schedule = plan(cfg, image_size=image_size)
    stages = schedule["stages"]
    grower = build_grower(cfg, stages)
    name_global, name_ra, _ = OPTIMIZERS[cfg.optimizer]
    ra = VARIANTS[cfg.variant][1]
    train_config = TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=name_ra if ra else name_global, lr=cfg.lr,
        momentum=cfg.momentum, weight_decay=cfg.weight_decay, schedule=cfg.schedule, seed=cfg.seed,
        device=cfg.device, augment=cfg.augment, reset_optimizer=cfg.reset_momentum,
        optimizer_options={"rule": cfg.ra_rule} if ra else {},
        batch_sizes=[s["batch_size"] for s in stages for _ in range(s["epochs"])] if cfg.batch_adapt else None,
        probe=cfg.probe or None,
    )
    operator = width_operator(cfg)

    def stream(data):
        """The stages of the data stream, at the growing schedule's stage lengths (the ``large`` run's too)."""
        epochs = [s["epochs"] for s in plan(replace(cfg, variant="full"))["stages"]]
        indices = stream_indices(data.tensors("train")[1], len(epochs), kind=cfg.stream, first=cfg.stream_first,
                                 seed=cfg.seed)
        staged = StagedSplits(data, indices, epochs, kind=cfg.stream, info={"first": cfg.stream_first})
        if cfg.osgd:  # lambda falls over the optimizer steps of the stage after each growth
            batches = [s["batch_size"] for s in stages]
            grower.how.anneal_steps = [e * -(-len(i) // b) for e, i, b in zip(epochs[1:], indices[1:], batches[1:])]
        return staged

    def make_model(data):
        shape = dict(width=cfg.width, num_classes=data.num_classes, image_size=data.input_shape[-1])
        if cfg.variant == "large":
            return build_model(cfg.model, **shape)
        # a method that looks at data has none yet: the seed's rounding is filled as the family draws units
        model = build_stage_model(cfg.model, stages[0]["channels"], stages[0]["fraction"],
                                  method="random" if operator.needs_data else operator, noise=cfg.noise,
                                  generator=torch.Generator().manual_seed(cfg.seed), fresh=cfg.grow_groups != "all",
                                  **shape)
        if operator.zero_fan_in:
            relu_one_at_zero(model)
        return model

    def finalize(run: Run, data) -> None:
        run.history.meta["channels"] = channel_counts(run.model)
        run.history.meta["num_classes"] = data.num_classes
        run.history.meta["forward_macs"] = int(forward_macs(run.model, tuple(data.input_shape)))

    return launch("vt", PAPER, cfg, train_config, make_model, grower=grower, label={"variant": cfg.variant},
                  facts=jsonable(schedule), finalize=finalize, history_path=history_path, meta=meta,
                  progress=progress, resume=resume, prepare_data=stream if cfg.stream != "none" else None)


# ---------------------------------------------------------------------------- what the CLI prints


def summarize(run: Run) -> dict[str, Any]:
    """The facts of a finished run: schedule, accuracies, cost (JSON-able)."""
    h = run.history
    return {
        "recipe": "vt", "variant": h.meta.get("variant"), "profile": h.meta.get("profile"),
        "dataset": h.meta.get("dataset"), "device": h.meta.get("device"), "seed": h.meta.get("seed"),
        "model": h.meta.get("recipe_config", {}).get("model"), "optimizer": h.meta.get("config", {}).get("optimizer"),
        "stage_epochs": [s["epochs"] for s in h.meta["stages"]],
        "stage_fractions": [round(s["fraction"], 4) for s in h.meta["stages"]],
        "stage_batch_sizes": [s["batch_size"] for s in h.meta["stages"]],
        "relative_cost": h.meta.get("relative_cost"),
        "growths": sum(e.get("kind") == "grow" for e in h.events),
        "params": h.last("params"),
        "forward_macs": h.meta.get("forward_macs"),
        "test_acc": h.last("test_acc"), "training_macs": h.last("macs"), "wall_seconds": h.last("wall"),
        "epochs_run": len(h.epochs),
    }


def format_summary(s: dict[str, Any]) -> str:
    from ..measure.cost import format_macs

    acc = "n/a" if s["test_acc"] is None else f"{s['test_acc']:.2f}%"
    return "\n".join([
        f"VT {s['variant']} ({s['model']}, {s['optimizer']}) | profile {s['profile']} | dataset {s['dataset']} | "
        f"device {s['device']} | seed {s['seed']}",
        f"  stages:          {len(s['stage_epochs'])}, width fractions {s['stage_fractions']}",
        f"  epochs:          {s['stage_epochs']}; batch sizes {s['stage_batch_sizes']}",
        f"  final model:     {s['params']:,} params, {format_macs(s['forward_macs'])} forward MACs per sample",
        f"  test accuracy:   {acc} (last epoch)",
        f"  training cost:   {format_macs(s['training_macs'])} MACs (FLOPs as fvcore counts, 1 MAC = 1), "
        f"{100 * s['relative_cost']:.2f}% of the full model's; wall {s['wall_seconds']:.1f} s, "
        f"{s['epochs_run']} epochs, {s['growths']} growths",
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m growth run vt`` (:func:`~growth.recipes.base.add_config_arguments`);
    unset ones come from the profile."""
    add_config_arguments(parser, VTConfig, profiles=PROFILES)


def config_from_args(args: argparse.Namespace) -> VTConfig:
    return config_from_cli(args, vt_config, VTConfig)


VT = Recipe(
    name="vt",
    description="Variance Transfer + LR adaptation (NeurIPS 2023): grow width in scheduled stages",
    config_class=VTConfig,
    profiles=PROFILES,
    make_config=vt_config,
    run=run_vt,
    add_arguments=add_arguments,
    config_from_args=config_from_args,
    summary=summarize,
    format_summary=format_summary,
)
