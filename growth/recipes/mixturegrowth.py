"""MixtureGrowth (Pham, Teterwak, Nelson, Plummer; WACV 2024) as a recipe: grow a template-mixing net once,
from two small networks, at a FLOPs budget.

A short, runnable log of how a MixtureGrowth number is made::

    from growth.recipes.mixturegrowth import mixturegrowth_config, run_mixturegrowth
    config = mixturegrowth_config("paper")              # WRN-28-5 x 2 -> WRN-28-10, CIFAR-100, 0.45X
    run = run_mixturegrowth(config, history_path="mg.json")
    run.history.meta["phases"], run.history.meta["relative_cost"], run.history.last("test_acc")

    python -m growth run mixturegrowth --profile smoke --resume      # the same, on the command line

One run trains up to three phases (Fig. 2): network 1 (a small net, ``epochs`` epochs: "we assume a
trained network is available to grow", so its cost is outside the budget), network 2 (with fusion:
``second_fraction x epochs`` epochs, its own templates, network 1 frozen) and the grown net for what the
budget leaves (:func:`phase_epochs`).  ``method`` chooses the row of Table 1:

==================  ==========================================================================
``mixturegrowth``   template-mixing members, tiled (:mod:`growth.how.mixture`); ``fusion=False``:
                    tiled from network 1 alone ("w/o fusion")
``large``           the target net from scratch, ``epochs`` epochs (1X)
``large-match``     the target net for the budget's epochs (``budget x epochs``)
``small``           the small net, ``epochs`` epochs (0.25X)
``small-match``     the small net for the budget (``budget x epochs x`` large / small MACs)
a width method      network 1 is a plain small net, grown once by that method
                    (:data:`growth.how.WIDTH_METHODS`: Table 1's Random is ``gradmax-random``, its
                    Firefly ``firefly-simple``, both the GradMax authors' code) and trained for
                    ``budget x epochs``
==================  ==========================================================================

Paper setting (profile ``paper``; the authors' code where the text is silent): WRNnoBN-28-10 (BN only
before each block, as GradMax's WRN) on CIFAR-100, members at half width (two WRN-28-5s with an 8-channel
stem), 2 templates per set and layer, no sharing (the released runs); SGD with Nesterov momentum 0.9, LR
0.1, weight decay 5e-4, batch 128; each small network a cosine over its own epochs (200); the grown net
at LR 1e-4 in 4 warm restarts, each peak halved, down to 3e-5, the optimizer state carried; budget 0.45X.

Where we had to choose (each is a parameter): the baselines grow from a small net trained ``epochs``
epochs (like network 1, outside the budget) and then train the grown net for ``budget x epochs`` with a
fresh cosine from ``lr`` (``grown_lr`` to change it); the grown epochs are rounded to the nearest; the
authors' one-epoch warm-up, their weight-decay exemption of the coefficients and Cutout are left out.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any

from ..how import WIDTH_METHODS, AddWidth
from ..how.mixture import COEFFICIENT_INITS, MixtureGrowth
from ..how.width_methods import configured_width_method
from ..measure.cost import forward_macs, training_macs_per_sample
from ..models import build_model, parse_name, relu_one_at_zero
from ..models.template import SHARING, template_net
from ..protocol import Grower
from ..train import Run, TrainConfig
from ..when.width_schedule import StageBoundaries
from .base import (
    Recipe, add_config_arguments, check_choice, check_int, check_number, config_from_cli, jsonable, launch, option,
    profile_config, validate_common,
)

__all__ = ["BASELINES", "METHODS", "MIXTUREGROWTH", "MixtureGrowthConfig", "mixturegrowth_config", "phase_epochs",
           "run_mixturegrowth", "summarize"]

PAPER = ("Pham, Teterwak, Nelson, Plummer. MixtureGrowth: Growing Neural Networks by Recombining Learned "
         "Parameters. WACV 2024.")
#: Rows of Table 1 that do not grow.
BASELINES = ("large", "large-match", "small", "small-match")
METHODS = ("mixturegrowth", *BASELINES, *WIDTH_METHODS)
PROFILES = ("smoke", "bench", "paper")
#: Full-schedule epochs per dataset (Sec. 4.1); others take CIFAR's.
EPOCHS = {"imagenet": 90}


@dataclass
class MixtureGrowthConfig:
    """One MixtureGrowth run (or a Table 1 baseline); the defaults are the paper's CIFAR-100 setting.
    ``None`` means derived: ``epochs`` 200 (90 on ImageNet); ``grown_lr`` 1e-4 for MixtureGrowth (the
    authors' code), ``lr`` for the width methods."""

    method: str = option("mixturegrowth", help="Table 1's row: mixturegrowth, large, large-match, small, small-match, "
                                               "or a width method (gradmax, gradmax-random, net2net, firefly-simple, ...)")
    fusion: bool = option(True, help="train network 2 and fuse it (default), or grow from network 1 alone (--no-fusion)")
    model: str = option("WRNnoBN-28-10", help="the target (grown) net; members are at half its width")
    width: float = 1.0
    dataset: str = "cifar100"
    dataset_options: dict = field(default_factory=dict)
    data_root: str | None = None
    val_fraction: float = 0.0
    epochs: int | None = option(None, help="the full schedule, one network's epochs (paper 200 CIFAR, 90 ImageNet)")
    budget: float = option(0.45, help="training FLOPs after network 1, relative to the target net's full schedule "
                                      "(paper 0.45 CIFAR, 0.35 ImageNet)")
    second_fraction: float = option(1.0, help="network 2's epochs as a fraction of the full schedule (Table 2)")
    grown_epochs: int | None = option(None, help="the grown net's epochs instead of what the budget leaves (Sec. 4.4's "
                                                 "CKA setup: small nets 63 epochs, grown to 100)")
    coefficient_init: str = option("orthogonal", help=f"new coefficients: {', '.join(COEFFICIENT_INITS)} (Table 4)")
    coefficient_noise: float | None = option(None, help="scale of the new coefficients' noise (default per rule)")
    templates: int = option(2, help="templates per set and layer (the authors' 2)")
    sharing: str = option("none", help=f"template sharing between layers: {', '.join(SHARING)}")
    lr: float = 0.1
    grown_lr: float | None = option(None, help="LR of the grown net (default 1e-4 for mixturegrowth, lr otherwise)")
    grown_restarts: int = option(4, help="warm restarts of the grown net's LR (mixturegrowth; the authors' 4)")
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    noise: float = option(1e-3, help="width methods: symmetry-breaking noise relative to the init std")
    width_options: dict = option(factory=dict, help="an option of the width method (repeatable), e.g. steps=10")
    similarity_samples: int = option(0, help="CKA probe (Figs. 4, 5): test examples whose features are compared across "
                                             "epochs and networks; 0: off")
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    profile: str = "paper"

    def resolved(self) -> "MixtureGrowthConfig":
        """A copy with every derived (``None``) value filled in; validates first."""
        self.validate()
        return replace(self, epochs=self.epochs if self.epochs is not None else EPOCHS.get(self.dataset, 200),
                       grown_lr=self.grown_lr if self.grown_lr is not None
                       else 1e-4 if self.method == "mixturegrowth" else self.lr,
                       dataset_options=dict(self.dataset_options), width_options=dict(self.width_options))

    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, its value and what is allowed. Touches no data."""
        check_choice("method", self.method, METHODS)
        check_choice("coefficient_init", self.coefficient_init, COEFFICIENT_INITS)
        check_choice("sharing", self.sharing, SHARING)
        if not isinstance(self.fusion, bool):
            raise ValueError(f"fusion={self.fusion!r} is not allowed: use True or False")
        if not self.fusion and self.method != "mixturegrowth":
            raise ValueError(f"fusion=False is MixtureGrowth's option; method={self.method!r} has no second network")
        try:
            family = parse_name(self.model)[0].name
        except ValueError as err:
            raise ValueError(f"model={self.model!r} is not a model name: {err}") from None
        if family not in ("WRN", "WRNnoBN", "Bottleneck4ResNet"):
            raise ValueError(f"model={self.model!r}: MixtureGrowth tiles WRN, WRNnoBN and Bottleneck4ResNet nets "
                             "(e.g. 'WRNnoBN-28-10', 'ResNet-50')")
        validate_common(self)
        if self.epochs is not None:
            check_int("epochs", self.epochs, minimum=1)
        check_number("budget", self.budget, minimum=0.0, open_low=True)
        check_number("second_fraction", self.second_fraction, minimum=0.0, maximum=1.0)
        if self.grown_epochs is not None:
            check_int("grown_epochs", self.grown_epochs, minimum=1)
            if self.method in BASELINES:
                raise ValueError(f"grown_epochs={self.grown_epochs!r}: method={self.method!r} does not grow; give it "
                                 "epochs (large, small) or a budget (large-match, small-match)")
        check_int("similarity_samples", self.similarity_samples, minimum=0)
        if 0 < self.similarity_samples < 4:
            raise ValueError(f"similarity_samples={self.similarity_samples!r} is not allowed: use 0 (off) or >= 4")
        if self.coefficient_noise is not None:
            check_number("coefficient_noise", self.coefficient_noise, minimum=0.0)
        check_int("templates", self.templates, minimum=1)
        if self.grown_lr is not None:
            check_number("grown_lr", self.grown_lr, minimum=0.0, open_low=True)
        check_int("grown_restarts", self.grown_restarts, minimum=1)
        check_number("noise", self.noise, minimum=0.0)
        if not isinstance(self.width_options, dict):
            raise ValueError(f"width_options={self.width_options!r} is not allowed: use a dict of the width method's "
                             "options")
        if self.width_options:
            if self.method not in WIDTH_METHODS:
                raise ValueError(f"width_options={self.width_options!r}: method={self.method!r} is no width method")
            configured_width_method(self.method, self.width_options)  # unknown options, the method's own checks


PROFILE_OVERRIDES: dict[str, dict[str, Any]] = {
    "paper": {},
    # 2-core CPU, minutes a run. Synthetic data; a WRN-10-4 target without inner BN.
    "bench": {"profile": "bench", "dataset": "synthetic", "model": "WRNnoBN-10-4", "batch_size": 64, "epochs": 20,
              "dataset_options": {"num_train": 4000, "num_test": 2000, "num_classes": 10}},
    # CI on any CPU, seconds.
    "smoke": {"profile": "smoke", "dataset": "synthetic", "model": "WRNnoBN-10-1", "batch_size": 64, "epochs": 4,
              "device": "cpu", "dataset_options": {"num_train": 256, "num_test": 128, "num_classes": 10}},
}


def mixturegrowth_config(profile: str = "paper", **overrides: Any) -> MixtureGrowthConfig:
    """The configuration of ``profile`` (``smoke``, ``bench``, ``paper``) with ``overrides`` (any
    :class:`MixtureGrowthConfig` field) on top.  Overriding ``dataset`` drops the profile's
    ``dataset_options`` unless they are overridden too.  Validated."""
    check_choice("profile", profile, PROFILES)
    return profile_config(MixtureGrowthConfig, PROFILE_OVERRIDES[profile], overrides, what="MixtureGrowth")


# ---------------------------------------------------------------------------- the budget


def _small_width(cfg: MixtureGrowthConfig) -> float:
    return cfg.width / 2


def per_sample_macs(cfg: MixtureGrowthConfig, *, num_classes: int, image_size: int) -> dict[str, int]:
    """Training MACs per sample (fvcore, 3 x forward) of the target net and of the small net the method
    trains (a template member for MixtureGrowth, with its mixing at ``batch_size``; the plain half-width
    net otherwise)."""
    shape = dict(num_classes=num_classes, image_size=image_size)
    large = training_macs_per_sample(build_model(cfg.model, width=cfg.width, **shape))
    if cfg.method == "mixturegrowth":
        member = template_net(cfg.model, width=_small_width(cfg), templates=cfg.templates, sharing=cfg.sharing,
                              **shape)
        small = training_macs_per_sample(member) + 3 * member.batch_macs() / cfg.batch_size
    else:
        small = training_macs_per_sample(build_model(cfg.model, width=_small_width(cfg), **shape))
    return {"large": int(large), "small": int(round(small))}


def phase_epochs(cfg: MixtureGrowthConfig, macs: dict[str, int]) -> dict[str, int]:
    """Epochs per phase: ``net1`` (outside the budget), ``net2``, ``grown`` (0 where a phase is absent).
    The budget ``B`` is in units of the target net's full schedule (``epochs x`` its MACs): MixtureGrowth
    trains network 2 for ``round(second_fraction x epochs)`` and the grown net for what is left,
    ``round((B x epochs x M_large - net2 x M_small) / M_large)``; a width method grows network 1 and trains
    ``round(B x epochs)``; ``large-match`` trains the target ``round(B x epochs)``, ``small-match`` the small
    net ``round(B x epochs x M_large / M_small)``.  ``grown_epochs``, where given, replaces the budget's grown
    epochs.  ``ValueError`` where the budget leaves nothing."""
    E, B = cfg.epochs, cfg.budget
    if cfg.method == "large":
        return {"net1": 0, "net2": 0, "grown": E}
    if cfg.method == "large-match":
        return {"net1": 0, "net2": 0, "grown": max(1, round(B * E))}
    if cfg.method == "small":
        return {"net1": E, "net2": 0, "grown": 0}
    if cfg.method == "small-match":
        return {"net1": max(1, round(B * E * macs["large"] / macs["small"])), "net2": 0, "grown": 0}
    second = round(cfg.second_fraction * E) if cfg.method == "mixturegrowth" and cfg.fusion else 0
    grown = cfg.grown_epochs if cfg.grown_epochs is not None else \
        round((B * E * macs["large"] - second * macs["small"]) / macs["large"])
    if grown < 1:
        raise ValueError(f"budget={B!r}: network 2's {second} epochs (second_fraction={cfg.second_fraction!r}) leave "
                         f"no epoch of the grown net; raise budget or lower second_fraction")
    return {"net1": E, "net2": second, "grown": grown}


# ---------------------------------------------------------------------------- the run


def _schedule(cfg: MixtureGrowthConfig, epochs: dict[str, int]) -> dict[str, Any]:
    """One schedule per phase, each starting afresh: cosine from ``lr`` for each small net; the grown
    net's warm restarts at ``grown_lr`` (MixtureGrowth) or a cosine from ``grown_lr``."""
    parts = [{"epochs": epochs[p], "schedule": "cosine"} for p in ("net1", "net2") if epochs[p]]
    if epochs["grown"]:
        if cfg.method == "mixturegrowth":
            period = max(1, epochs["grown"] // cfg.grown_restarts)
            grown = {"schedule": "warm-restarts", "lr": cfg.grown_lr,
                     "options": {"period": period, "decay": 0.5, "min_lr": min(3e-5, cfg.grown_lr)}}
        else:
            grown = {"schedule": "cosine", "lr": cfg.grown_lr}
        parts.append({"epochs": epochs["grown"], **grown})
    return {"phases": parts}


def similarity_options(cfg: MixtureGrowthConfig, epochs: dict[str, int], *, num_classes: int,
                       image_size: int) -> dict[str, Any] | None:
    """The CKA probe's options (:class:`growth.measure.similarity.SimilarityProbe`; None when
    ``similarity_samples`` is 0): Fig. 4's layer is the last block's output, the features the head reads;
    the layer x layer snapshots (Fig. 5) are taken right before growth and after the last epoch."""
    if not cfg.similarity_samples:
        return None
    stages = build_model(cfg.model, width=cfg.width, num_classes=num_classes, image_size=image_size).stages
    small = epochs["net1"] + epochs["net2"]
    total = small + epochs["grown"]
    return {"layer": f"stages.{len(stages) - 1}.{len(stages[-1]) - 1}", "samples": cfg.similarity_samples,
            "snapshots": sorted({e for e in (small, total) if e})}


def build_grower(cfg: MixtureGrowthConfig, epochs: dict[str, int]) -> Grower | None:
    """when / where / how: at the phase boundaries, switch to network 2 and tile (MixtureGrowth) or grow
    network 1 by the width method; None for the rows that do not grow."""
    lengths = [epochs[p] for p in ("net1", "net2", "grown") if epochs[p]]
    if cfg.method == "mixturegrowth":  # no epoch of network 2 (second_fraction 0): no fusion, Table 2's first column
        how = MixtureGrowth(cfg.coefficient_init, noise=cfg.coefficient_noise, fusion=epochs["net2"] > 0)
        return Grower(StageBoundaries(lengths), how.where, how, name=how.name)
    if cfg.method in BASELINES:
        return None
    how = AddWidth(width=[cfg.width], method=configured_width_method(cfg.method, cfg.width_options), noise=cfg.noise)
    return Grower(StageBoundaries(lengths), how.where, how, name=f"one growth ({cfg.method})")


def run_mixturegrowth(config: MixtureGrowthConfig, *, history_path: str | None = None,
                      meta: dict[str, Any] | None = None, progress: bool | None = None, resume: bool = False) -> Run:
    """Run ``config``; returns the :class:`growth.Run`.  Every parameter is checked before any data is
    read.  The History's meta carries the resolved configuration, ``phases`` (epochs of net1, net2,
    grown), ``macs_per_sample`` (large, small), and once finished ``budget_macs`` (training MACs after
    network 1, growth steps included) and ``relative_cost`` (those over the target net's full schedule).
    The phases are planned before the data is read, with the class count the dataset is known to have (CIFAR-100,
    ImageNet, else its ``num_classes`` option or 10); ``relative_cost`` is measured with the data's own."""
    if not isinstance(config, MixtureGrowthConfig):
        raise ValueError(f"config={config!r} is not a MixtureGrowthConfig: build one with mixturegrowth_config(...)")
    cfg = config.resolved()
    image_size = 224 if cfg.dataset == "imagenet" else 32
    num_classes = {"cifar100": 100, "imagenet": 1000}.get(cfg.dataset, cfg.dataset_options.get("num_classes", 10))
    planned = dict(num_classes=num_classes, image_size=image_size)
    macs = per_sample_macs(cfg, **planned)
    epochs = phase_epochs(cfg, macs)
    grower = build_grower(cfg, epochs)
    train_config = TrainConfig(
        epochs=sum(epochs.values()), batch_size=cfg.batch_size, optimizer="sgd", lr=cfg.lr, momentum=cfg.momentum,
        nesterov=True, weight_decay=cfg.weight_decay, schedule="phases", schedule_options=_schedule(cfg, epochs),
        seed=cfg.seed, device=cfg.device, augment=cfg.augment,
        similarity=similarity_options(cfg, epochs, **planned))

    def make_model(data):
        shape = dict(num_classes=data.num_classes, image_size=data.input_shape[-1])
        if cfg.method == "mixturegrowth":
            return template_net(cfg.model, width=_small_width(cfg), templates=cfg.templates, sharing=cfg.sharing,
                                **shape)
        large = cfg.method in ("large", "large-match")
        model = build_model(cfg.model, width=cfg.width if large else _small_width(cfg), **shape)
        if cfg.method in WIDTH_METHODS and WIDTH_METHODS[cfg.method].zero_fan_in:
            relu_one_at_zero(model)  # GradMax's zero-fan-in units learn only where ReLU'(0) = 1 (its authors' ReLU)
        return model

    def finalize(run: Run, data) -> None:
        h = run.history
        first = epochs["net1"] if cfg.method not in ("small", "small-match") else 0
        before = h.epochs[first - 1]["macs"] if first else 0
        shape = dict(num_classes=data.num_classes, image_size=data.input_shape[-1])
        large = macs["large"] if shape == planned else per_sample_macs(cfg, **shape)["large"]
        full = cfg.epochs * data.num_train * large
        h.meta["budget_macs"] = h.epochs[-1]["macs"] - before
        h.meta["relative_cost"] = h.meta["budget_macs"] / full
        h.meta["forward_macs"] = int(forward_macs(run.model, tuple(data.input_shape)))
        h.meta["num_classes"] = data.num_classes

    label = {"method": cfg.method, "fusion": cfg.fusion}
    return launch("mixturegrowth", PAPER, cfg, train_config, make_model, grower=grower, label=label,
                  facts=jsonable({"phases": epochs, "macs_per_sample": macs}), finalize=finalize,
                  history_path=history_path, meta=meta, progress=progress, resume=resume)


# ---------------------------------------------------------------------------- what the CLI prints


def summarize(run: Run) -> dict[str, Any]:
    """The facts of a finished run: phases, accuracy, cost (JSON-able)."""
    h = run.history
    return {
        "recipe": "mixturegrowth", "method": h.meta.get("method"), "fusion": h.meta.get("fusion"),
        "profile": h.meta.get("profile"), "dataset": h.meta.get("dataset"), "device": h.meta.get("device"),
        "seed": h.meta.get("seed"), "model": h.meta.get("recipe_config", {}).get("model"),
        "phases": h.meta.get("phases"), "relative_cost": h.meta.get("relative_cost"),
        "budget": h.meta.get("recipe_config", {}).get("budget"),
        "params": h.last("params"), "test_acc": h.last("test_acc"), "training_macs": h.last("macs"),
        "wall_seconds": h.last("wall"), "epochs_run": len(h.epochs),
    }


def format_summary(s: dict[str, Any]) -> str:
    from ..measure.cost import format_macs

    acc = "n/a" if s["test_acc"] is None else f"{s['test_acc']:.2f}%"
    fusion = "" if s["method"] != "mixturegrowth" else (" with fusion" if s["fusion"] else " without fusion")
    return "\n".join([
        f"MixtureGrowth recipe: {s['method']}{fusion} ({s['model']}) | profile {s['profile']} | dataset "
        f"{s['dataset']} | device {s['device']} | seed {s['seed']}",
        f"  phases (epochs): network 1 {s['phases']['net1']}, network 2 {s['phases']['net2']}, grown "
        f"{s['phases']['grown']}",
        f"  final model:     {s['params']:,} params",
        f"  test accuracy:   {acc} (last epoch)",
        f"  training cost:   {format_macs(s['training_macs'])} MACs in all (FLOPs as fvcore counts, 1 MAC = 1); "
        f"after network 1 {s['relative_cost']:.3f}X of the target's full schedule (budget {s['budget']}X); "
        f"wall {s['wall_seconds']:.1f} s, {s['epochs_run']} epochs",
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m growth run mixturegrowth``; unset ones come from the profile."""
    add_config_arguments(parser, MixtureGrowthConfig, profiles=PROFILES)


def config_from_args(args: argparse.Namespace) -> MixtureGrowthConfig:
    return config_from_cli(args, mixturegrowth_config, MixtureGrowthConfig)


MIXTUREGROWTH = Recipe(
    name="mixturegrowth",
    description="MixtureGrowth (WACV 2024): grow a template-mixing net once, from two small networks",
    config_class=MixtureGrowthConfig,
    profiles=PROFILES,
    make_config=mixturegrowth_config,
    run=run_mixturegrowth,
    add_arguments=add_arguments,
    config_from_args=config_from_args,
    summary=summarize,
    format_summary=format_summary,
)
