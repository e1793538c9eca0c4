"""FRAGrow (Wu et al., "When to Grow? A Fitting Risk-Aware Policy for Layer Growing in Deep Neural
Networks") as a recipe, with every when-to-grow baseline of its tables on the same footing.

A short, runnable log of how a FRAGrow number is made::

    from growth.recipes.fragrow import fragrow_config, run_fragrow
    config = fragrow_config("paper", family="resnet")        # Basic4ResNet-2-2-2-2 -> 8-8-8-8, CIFAR-10
    run = run_fragrow(config, history_path="fragrow.json")
    run.history.meta["mean_training_epochs"], run.history.last("test_acc")

    python -m growth run fragrow --profile smoke --policy lipgrow

Algorithm 1 with Eq. 2-4 (:mod:`growth.when.fragrow`): train the seed; after every epoch compute
``ORL`` (train minus validation accuracy) and ``I = I_max / (1 + exp(alpha - ORL))``; add one block
once ``I`` epochs have passed since the last growth, where the locator says (``where``: stages
front to back, or ``circulation``: round-robin, Table 9), initialised by ``init`` (``copy`` of the
preceding block, FRAGrow's; ``mogrow``, Table 10); once the target is reached, fine-tune it for the
epochs left (at least ``E_F^min``) with a cosine decay; before that the LR is constant.

``policy`` (the rows of Tables 1 and 5-7):

============== ===================================================================================
``fragrow``    Eq. 3 (``alpha``), with every growth done by ``E_T - E_F^min``
``periodic``   one block every ``I_max`` epochs (after epochs ``round(k I_max)``)
``convergent`` one block once the validation accuracy has not risen by ``convergent_delta`` for
               ``convergent_patience`` epochs; growths forced as for FRAGrow where it stalls
``lipgrow``    LipGrow: the Lipschitz bound's rise (:class:`growth.when.LipGrow`) doubles every
               block (:class:`growth.how.DoubleBlocks`); forced growths keep ``E_F^min`` epochs for
               the target and ``lipgrow_window`` for each net before it, as the authors' code
``speed``      Table 1's slow / fast growth: evenly spaced growths with average training epochs
               ``mean_epochs`` (``E-bar``; larger = faster growth, weaker regularisation)
``vanilla``    the target trained from scratch for ``E_T`` epochs ("large")
``small``      the seed trained from scratch for ``E_T`` epochs
============== ===================================================================================

``vanilla`` and ``small`` take the growth runs' LR shape at fixed epochs: constant for
``E_T - E_F^min`` epochs, then the cosine (``hold-cosine``) [open: the paper's Table 4 says "cosine
decay" for all].

Paper setting (profile ``paper``): CIFAR-10, ``E_T = 180``, ``E_F^min = 30``, ``alpha = 4``, 1% of
the training set held out for validation (500 images), SGD momentum 0.9, batch 128, LR 0.5 / 0.1 /
0.1 and weight decay 1e-4 / 5e-4 / 1e-4 for ResNet / VGG / MobileNetV2 (Table 4); ImageNet: 120
epochs, batch 256, LR 0.1, weight decay 1e-4 / 1e-4 / 4e-5.  Where we had to choose (each a
parameter): the convergent baseline's patience (``ceil(I_max / 2)``) and threshold (0.05 points)
[open]; LipGrow's window 10, tolerance 1.4 kept after each growth, 100 power iterations,
residual branches scaled by ``1/sqrt(2)`` at each doubling, as the authors' final code (their first
commit halved the excess tolerance after each growth: ``lipgrow_tolerance_decay=0.5``); MoGrow's decay
0.999 [code].
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field, replace
from typing import Any

from ..how import AddBlock, DoubleBlocks
from ..how.momentum import MomentumInit
from ..models import build_model, parse_name
from ..protocol import FineTune, Grower
from ..train import Run, TrainConfig
from ..when import AtEpochs, AtLatest, Convergent, FRAGrow, LipGrow
from ..when.fragrow import blocks_to_add, history_mean_training_epochs, max_interval, speed_schedule
from ..when.lipgrow import POWER_ITERATIONS
from ..where import AllStages, RoundRobin, Sequential
from .base import (
    Recipe, add_config_arguments, check_choice, check_int, check_number, config_from_cli, launch, option,
    profile_config, validate_common,
)

__all__ = ["FAMILIES", "FRAGROW", "FRAGrowConfig", "POLICIES", "PROFILES", "REGIMES", "doublings", "fragrow_config",
           "run_fragrow", "summarize"]

PAPER = ("Wu, Wang, Malepathirana, Senanayake, Oetomo, Halgamuge. When to Grow? A Fitting Risk-Aware Policy for "
         "Layer Growing in Deep Neural Networks.")
POLICIES = ("fragrow", "periodic", "convergent", "lipgrow", "speed", "vanilla", "small")
GROWING = ("fragrow", "periodic", "convergent", "lipgrow", "speed")
WHERES = ("sequential", "circulation")
INITS = ("copy", "mogrow")
PROFILES = ("smoke", "bench", "paper")
#: The paper's seed and target nets, and Table 4's LR and weight decay (CIFAR; ImageNet in the last two).
FAMILIES: dict[str, dict[str, Any]] = {
    "resnet": {"seed_net": "Basic4ResNet-2-2-2-2", "target_net": "Basic4ResNet-8-8-8-8", "lr": 0.5,
               "weight_decay": 1e-4, "imagenet_lr": 0.1, "imagenet_weight_decay": 1e-4},
    "vgg": {"seed_net": "VGG-1-1-1-1-2", "target_net": "VGG-2-2-4-4-4", "lr": 0.1, "weight_decay": 5e-4,
            "imagenet_lr": 0.1, "imagenet_weight_decay": 1e-4},
    "mobilenet": {"seed_net": "MobileNetV2-1-1-1-1-1", "target_net": "MobileNetV2-2-3-4-3-3", "lr": 0.1,
                  "weight_decay": 1e-4, "imagenet_lr": 0.1, "imagenet_weight_decay": 4e-5},
}


@dataclass
class FRAGrowConfig:
    """One run of FRAGrow or a baseline.  Defaults: the paper's FRAGrow on CIFAR-10 with ResNet.

    ``None`` means derived (:meth:`resolved`): ``seed_net`` / ``target_net`` / ``lr`` /
    ``weight_decay`` from ``family`` (``FAMILIES``, Table 4), ``convergent_patience`` =
    ``ceil(I_max / 2)``; ``epochs`` is ``E_T`` and ``min_finetune_epochs`` is ``E_F^min``.
    """

    policy: str = option("fragrow", help=f"when to grow: {', '.join(POLICIES)} (default fragrow)")
    family: str = "resnet"
    seed_net: str | None = option(None, help="seed net (default: the family's, e.g. Basic4ResNet-2-2-2-2)")
    target_net: str | None = option(None, help="target net (default: the family's, e.g. Basic4ResNet-8-8-8-8)")
    where: str = option("sequential", help="sequential (FRAGrow's) or circulation (round-robin, Table 9)")
    init: str = option("copy", help="copy (FRAGrow's) or mogrow (EMA of the preceding block, Table 10)")
    alpha: float = option(4.0, help="Eq. 3's alpha (paper 4)")
    epochs: int = option(180, help="E_T, the run's epochs (paper 180 on CIFAR)")
    min_finetune_epochs: int = option(30, help="E_F^min (paper 30)")
    mean_epochs: float | None = option(None, help="E-bar for --policy speed (larger = faster growth)")
    convergent_patience: int | None = None
    convergent_delta: float = 0.05
    lipgrow_window: int = 10
    lipgrow_tolerance: float = 1.4
    lipgrow_tolerance_decay: float = 1.0
    lipgrow_iterations: int = POWER_ITERATIONS
    lipgrow_scale: float = 1 / math.sqrt(2)
    mogrow_decay: float = 0.999
    width: float = 1.0
    dataset: str = "cifar10"
    dataset_options: dict = field(default_factory=dict)
    data_root: str | None = None
    val_fraction: float = option(0.01, help="held-out fraction of the training set (paper 0.01)")
    subsample: float = 1.0
    lr: float | None = option(None, help="learning rate (paper 0.5 ResNet, 0.1 VGG and MobileNetV2)")
    momentum: float = 0.9
    weight_decay: float | None = None
    batch_size: int = option(128, help="batch size (paper 128)")
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    profile: str = "paper"

    # ------------------------------------------------------------------ derived values

    @property
    def blocks(self) -> int:
        """``n`` of Eq. 4."""
        c = self.resolved()
        return blocks_to_add(parse_name(c.seed_net)[1], parse_name(c.target_net)[1])

    @property
    def i_max(self) -> float:
        """``I_max`` of Eq. 4."""
        c = self.resolved()
        return max_interval(c.epochs, c.min_finetune_epochs, c.blocks)

    def resolved(self) -> "FRAGrowConfig":
        """A copy with every derived (``None``) value filled in; validates first."""
        self.validate()
        fam = FAMILIES[self.family]
        imagenet = self.dataset == "imagenet"
        seed_net = self.seed_net or fam["seed_net"]
        target_net = self.target_net or fam["target_net"]
        lr = self.lr if self.lr is not None else fam["imagenet_lr" if imagenet else "lr"]
        wd = self.weight_decay if self.weight_decay is not None else fam[
            "imagenet_weight_decay" if imagenet else "weight_decay"]
        n = blocks_to_add(parse_name(seed_net)[1], parse_name(target_net)[1])
        i_max = max_interval(self.epochs, self.min_finetune_epochs, n)
        patience = self.convergent_patience if self.convergent_patience is not None else max(1, math.ceil(i_max / 2))
        return replace(self, seed_net=seed_net, target_net=target_net, lr=lr, weight_decay=wd,
                       convergent_patience=patience, dataset_options=dict(self.dataset_options))

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, its value and what is allowed. Touches no data."""
        check_choice("policy", self.policy, POLICIES)
        check_choice("family", self.family, tuple(FAMILIES))
        check_choice("where", self.where, WHERES)
        check_choice("init", self.init, INITS)
        check_number("alpha", self.alpha)
        check_int("epochs", self.epochs, minimum=1)
        check_int("min_finetune_epochs", self.min_finetune_epochs, minimum=0)
        if self.min_finetune_epochs >= self.epochs:
            raise ValueError(f"min_finetune_epochs={self.min_finetune_epochs} is not allowed with epochs={self.epochs}: "
                             "E_F^min must be smaller than E_T, leaving epochs to grow in")
        seed = self._depths("seed_net", self.seed_net or FAMILIES[self.family]["seed_net"])
        target = self._depths("target_net", self.target_net or FAMILIES[self.family]["target_net"])
        if seed[0] != target[0]:
            raise ValueError(f"target_net={self.target_net!r} is a {target[0]} net, the seed {self.seed_net!r} a "
                             f"{seed[0]}: both must be of one family")
        try:
            n = blocks_to_add(seed[1], target[1])
        except ValueError as err:
            raise ValueError(f"target_net={self.target_net or FAMILIES[self.family]['target_net']!r}: {err}") from None
        if n == 0 and self.policy in GROWING:
            raise ValueError(f"target_net equals seed_net ({self.seed_net!r}): policy={self.policy!r} has nothing "
                             "to grow; use policy='vanilla' or a deeper target")
        if self.policy == "speed":
            if self.mean_epochs is None:
                raise ValueError("mean_epochs=None is not allowed with policy='speed': give the average training "
                                 "epochs E-bar of the added blocks (larger = faster growth)")
            times = speed_schedule(self.mean_epochs, self.epochs, n)
            if times[-1] > self.epochs - self.min_finetune_epochs:
                raise ValueError(f"mean_epochs={self.mean_epochs!r} puts the last growth at epoch {times[-1]}, after "
                                 f"E_T - E_F^min = {self.epochs - self.min_finetune_epochs}: use a larger value")
        if self.convergent_patience is not None:
            check_int("convergent_patience", self.convergent_patience, minimum=1)
        check_number("convergent_delta", self.convergent_delta, minimum=0.0)
        check_int("lipgrow_window", self.lipgrow_window, minimum=1)
        check_number("lipgrow_tolerance", self.lipgrow_tolerance, minimum=1.0, open_low=True)
        check_number("lipgrow_tolerance_decay", self.lipgrow_tolerance_decay, minimum=0.0, maximum=1.0,
                     open_low=True)
        check_int("lipgrow_iterations", self.lipgrow_iterations, minimum=1)
        check_number("lipgrow_scale", self.lipgrow_scale, minimum=0.0, open_low=True)
        check_number("mogrow_decay", self.mogrow_decay, minimum=0.0, maximum=1.0, open_high=True)
        validate_common(self)
        if self.val_fraction == 0 and self.policy in ("fragrow", "convergent"):
            raise ValueError(f"val_fraction=0 leaves no validation split, but policy={self.policy!r} watches the "
                             "validation accuracy: use val_fraction > 0 (the paper holds out 0.01)")
        check_number("subsample", self.subsample, minimum=0.0, maximum=1.0, open_low=True)

    @staticmethod
    def _depths(key: str, name: str) -> tuple[str, tuple[int, ...]]:
        try:
            family, depths = parse_name(name)
        except ValueError as err:
            raise ValueError(f"{key}={name!r} is not a model name: {err}") from None
        if family.name not in ("Basic4ResNet", "Bottleneck4ResNet", "Basic3ResNet", "VGG", "MobileNetV2",
                               "Plain3Net", "Plain4Net"):
            raise ValueError(f"{key}={name!r} is not depth-growable: use a ResNet, VGG or MobileNetV2 name")
        return family.name, depths


# ---------------------------------------------------------------------------- profiles

#: Overrides of the paper's setting per profile, then per family.
PROFILE_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"common": {}, "resnet": {}, "vgg": {}, "mobilenet": {}},
    # 2-core CPU, under a minute a run: offline data in the overfitting regime, 20 epochs, narrow nets, and targets
    # of n = 4 blocks so that I_max = (20 - 4) / 4 = 4 epochs for every family. ResNet's and VGG's targets add two
    # blocks to each of two stages, so that circulation (Table 9) adds them in another order than sequential growth.
    # The data: 500 images of which 20% validation, noise 1.0, augmented. Calibrated with
    # benchmarks/fragrow_bench_sizing.py: the vanilla target ends 11-13 points above its validation accuracy and
    # FRAGrow's ORL moves through 0-18 points while it grows, the band where alpha = 4 acts. Without augmentation
    # (noise 1.5) ORL jumped past 20 within a few epochs and Eq. 3 acted as a switch. REGIMES below adds the
    # chapter's underfitting regime.
    "bench": {
        "common": {"profile": "bench", "dataset": "synthetic",
                   "dataset_options": {"num_train": 500, "num_test": 500, "num_classes": 10, "difficulty": 1.0},
                   "augment": True, "val_fraction": 0.2, "epochs": 20, "min_finetune_epochs": 4, "batch_size": 32,
                   "lr": 0.05, "lipgrow_window": 3, "mogrow_decay": 0.98},
        "resnet": {"width": 0.125, "target_net": "Basic4ResNet-4-4-2-2"},
        "vgg": {"width": 0.25, "target_net": "VGG-3-3-1-1-2"},
        "mobilenet": {"width": 0.25, "target_net": "MobileNetV2-2-2-2-2-1"},
    },
    # CI on any CPU, seconds.
    "smoke": {
        "common": {"profile": "smoke", "dataset": "synthetic",
                   "dataset_options": {"num_train": 256, "num_test": 128, "num_classes": 10},
                   "val_fraction": 0.25, "epochs": 6, "min_finetune_epochs": 2, "batch_size": 64, "device": "cpu",
                   "lipgrow_window": 1, "lipgrow_iterations": 3, "mogrow_decay": 0.9},
        "resnet": {"width": 0.125, "target_net": "Basic4ResNet-3-3-2-2", "lr": 0.1},
        "vgg": {"width": 0.125, "target_net": "VGG-1-2-2-1-2"},
        "mobilenet": {"width": 0.25, "target_net": "MobileNetV2-1-2-2-1-1"},
    },
}


#: The two data regimes of Table 1 and the chapter, per profile: where the target overfits (CIFAR-100 in the paper)
#: and where it underfits (ImageNet: 120 epochs, batch 256, 10,000 of its training images held out for validation).
#: Applied on top of the profile, under explicit overrides; at bench the profile's own data is the overfitting regime
#: (the vanilla target's train accuracy ends 11-13 points above its validation accuracy), and the underfitting one
#: has 40 classes of 2 patterns on 1200 augmented images (the gap stays within a few points, both still rise at the
#: last epoch).
REGIMES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"overfit": {"dataset": "cifar100"},
              "underfit": {"dataset": "imagenet", "epochs": 120, "batch_size": 256, "val_fraction": 10_000 / 1_281_167}},
    "bench": {"overfit": {},
              "underfit": {"dataset_options": {"num_train": 1200, "num_test": 500, "num_classes": 40,
                                               "prototypes_per_class": 2, "difficulty": 1.0},
                           "augment": True, "val_fraction": 0.1}},
    "smoke": {"overfit": {"augment": False},
              "underfit": {"dataset_options": {"num_train": 256, "num_test": 128, "num_classes": 20,
                                               "prototypes_per_class": 2}}},
}


def fragrow_config(profile: str = "paper", *, family: str = "resnet", regime: str | None = None,
                   **overrides: Any) -> FRAGrowConfig:
    """The configuration of ``profile`` (``smoke``, ``bench``, ``paper``) for ``family``, in the data
    ``regime`` (``overfit`` or ``underfit``, :data:`REGIMES`; ``None``: the profile's own data), with
    ``overrides`` (any :class:`FRAGrowConfig` field) on top.  Overriding ``dataset`` drops the
    profile's ``dataset_options`` unless they are overridden too.  Validated."""
    check_choice("profile", profile, PROFILES)
    check_choice("family", family, tuple(FAMILIES))
    if regime is not None:
        check_choice("regime", regime, tuple(REGIMES[profile]))
        overrides = {**REGIMES[profile][regime], **overrides}
    table = PROFILE_OVERRIDES[profile]
    values = {**table["common"], **table[family], "family": family}
    if "seed_net" in overrides and "target_net" not in overrides:
        values.pop("target_net", None)
    return profile_config(FRAGrowConfig, values, overrides, what="FRAGrow")


# ---------------------------------------------------------------------------- building and running


def doublings(seed_depths: tuple[int, ...], target_depths: tuple[int, ...]) -> int:
    """LipGrow's growths from the seed to the target, each doubling every stage up to its target."""
    depths, count = list(seed_depths), 0
    while any(d < t for d, t in zip(depths, target_depths)):
        depths = [min(2 * d, t) for d, t in zip(depths, target_depths)]
        count += 1
    return count


def build_grower(config: FRAGrowConfig) -> Grower | None:
    """when / where / how of ``config`` (``None`` for ``vanilla`` and ``small``), with the fine-tuning:
    a cosine over the epochs left once the target is reached."""
    c = config.resolved()
    if c.policy not in GROWING:
        return None
    target = parse_name(c.target_net)[1]
    seed = parse_name(c.seed_net)[1]
    n, i_max = c.blocks, c.i_max
    by = c.epochs - c.min_finetune_epochs
    finetune = FineTune(epochs=None, schedule="cosine", lr=c.lr)
    if c.policy == "lipgrow":
        trigger = AtLatest(LipGrow(window=c.lipgrow_window, tolerance=c.lipgrow_tolerance,
                                   tolerance_decay=c.lipgrow_tolerance_decay, iterations=c.lipgrow_iterations),
                           growths=doublings(seed, target), by=by,
                           gap=c.lipgrow_window)
        return Grower(trigger, AllStages(target), DoubleBlocks(target, scale=c.lipgrow_scale), finetune=finetune,
                      name=f"LipGrow(window={c.lipgrow_window}, tolerance={c.lipgrow_tolerance:g})")
    if c.policy == "fragrow":
        trigger: Any = AtLatest(FRAGrow(i_max, alpha=c.alpha), growths=n, by=by, gap=i_max)
        label = f"FRAGrow(alpha={c.alpha:g}, I_max={i_max:.3g})"
    elif c.policy == "periodic":
        trigger = AtEpochs([math.floor(k * i_max + 0.5) for k in range(1, n + 1)])
        label = f"periodic(I_max={i_max:.3g})"
    elif c.policy == "convergent":
        # an improvement of exactly convergent_delta counts as converged (<=), as this baseline always has
        converged = Convergent(patience=c.convergent_patience, min_delta=c.convergent_delta, strict=False)
        trigger = AtLatest(converged, growths=n, by=by, gap=i_max)
        label = f"convergent(patience={c.convergent_patience}, delta={c.convergent_delta:g})"
    else:
        trigger = AtEpochs(speed_schedule(c.mean_epochs, c.epochs, n))
        label = f"speed(E-bar={c.mean_epochs:g})"
    where: Any = Sequential(target) if c.where == "sequential" else RoundRobin(target)
    init: Any = MomentumInit(decay=c.mogrow_decay) if c.init == "mogrow" else "copy"
    return Grower(trigger, where, AddBlock(init=init), finetune=finetune,
                  name=f"{label}/{c.where}/{c.init}")


def run_fragrow(config: FRAGrowConfig, *, history_path: str | None = None, meta: dict[str, Any] | None = None,
                progress: bool | None = None, resume: bool = False) -> Run:
    """Run ``config``; returns the :class:`growth.Run`.  Every parameter is checked before any data is read.
    ``resume``: continue from the checkpoint beside ``history_path`` (:func:`growth.train`).

    The History's meta carries the recipe, profile, policy, the resolved configuration, ``n`` and
    ``I_max``, the growth epochs and ``E-bar`` (``mean_training_epochs``), the forced growths, the
    training seconds (training passes, growth operations and LipGrow's estimates; no evaluation) and,
    for MoGrow, the moving average's memory and element updates (``ema``).
    """
    if not isinstance(config, FRAGrowConfig):
        raise ValueError(f"config={config!r} is not a FRAGrowConfig: build one with fragrow_config(...)")
    c = config.resolved()
    grower = build_grower(c)
    hold = c.epochs - c.min_finetune_epochs
    schedule = ("constant", {}) if grower is not None else ("hold-cosine", {"hold": hold})
    train_config = TrainConfig(epochs=c.epochs, batch_size=c.batch_size, optimizer="sgd", lr=c.lr,
                               momentum=c.momentum, weight_decay=c.weight_decay, schedule=schedule[0],
                               schedule_options=schedule[1], seed=c.seed, device=c.device, augment=c.augment)
    start = c.seed_net if c.policy not in ("vanilla",) else c.target_net

    def make_model(data):
        return build_model(start, num_classes=data.num_classes, image_size=data.input_shape[-1], width=c.width)

    return launch("fragrow", PAPER, c, train_config, make_model, grower=grower,
                  label={"policy": c.policy, "family": c.family}, facts={"blocks_to_add": c.blocks, "i_max": c.i_max},
                  finalize=lambda run, data: _finalize(run, c, grower), history_path=history_path, meta=meta,
                  progress=progress, resume=resume)


def _finalize(run: Run, c: FRAGrowConfig, grower: Grower | None) -> None:
    """The facts of the module docstring, into the History's meta before its last write."""
    h = run.history
    grows = [e for e in h.events if e.get("kind", "grow") == "grow"]
    h.meta["growth_epochs"] = [e["epoch"] for e in grows]
    h.meta["mean_training_epochs"] = history_mean_training_epochs(h) if grows else None
    h.meta["forced"] = list(grower.state.get("forced", [])) if grower is not None else []
    h.meta["reached_target"] = parse_name(h.meta["end_spec"])[1] == parse_name(c.target_net)[1]
    h.meta["training_seconds"] = (sum(r["train_seconds"] for r in h.epochs) + sum(e["seconds"] for e in grows)
                                  + sum(r.get("lipschitz_seconds", 0.0) for r in h.epochs))
    if grower is not None and isinstance(grower.how, AddBlock) and isinstance(grower.how.initializer, MomentumInit):
        ema = grower.how.initializer.ema
        h.meta["ema"] = {"decay": ema.decay, "peak_bytes": ema.peak_bytes, "updates": ema.updates, "steps": ema.steps,
                         "seconds": sum(r.get("observer_seconds", 0.0) for r in h.epochs)}


# ---------------------------------------------------------------------------- what the CLI prints


def summarize(run: Run) -> dict[str, Any]:
    """The facts of a finished run (JSON-able)."""
    h = run.history
    last = h.epochs[-1]
    return {
        "recipe": "fragrow", "policy": h.meta.get("policy"), "family": h.meta.get("family"),
        "profile": h.meta.get("profile"), "dataset": h.meta.get("dataset"), "device": h.meta.get("device"),
        "seed": h.meta.get("seed"), "epochs": len(h.epochs), "start_net": h.meta.get("start_spec"),
        "end_net": h.meta.get("end_spec"), "reached_target": h.meta.get("reached_target"),
        "test_error": 100.0 - last["test_acc"], "train_error": 100.0 - last["train_acc"],
        "growth_epochs": h.meta.get("growth_epochs"), "mean_training_epochs": h.meta.get("mean_training_epochs"),
        "forced": h.meta.get("forced"), "training_macs": h.meta.get("cost", {}).get("total_macs", last.get("macs")),
        "training_seconds": h.meta.get("training_seconds"), "i_max": h.meta.get("i_max"),
    }


def format_summary(s: dict[str, Any]) -> str:
    from ..measure.cost import format_macs

    ebar = "n/a (no growth)" if s["mean_training_epochs"] is None else f"{s['mean_training_epochs']:.2f} epochs"
    return "\n".join([
        f"{s['policy']} ({s['family']}) | profile {s['profile']} | dataset {s['dataset']} | device {s['device']} | "
        f"seed {s['seed']} | {s['epochs']} epochs",
        f"  net:             {s['start_net']} -> {s['end_net']} (target reached: {s['reached_target']})",
        f"  test error:      {s['test_error']:.2f}%  (train error {s['train_error']:.2f}%, last epoch)",
        f"  growth:          after epochs {s['growth_epochs']}; forced {s['forced']}; I_max {s['i_max']:.3g}; "
        f"E-bar {ebar}",
        f"  training cost:   {format_macs(s['training_macs'])} MACs (fvcore, 1 MAC = 1 FLOP), "
        f"{s['training_seconds']:.1f} s of training",
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m growth run fragrow`` (:func:`~growth.recipes.base.add_config_arguments`,
    and ``--family`` / ``--regime``, which pick the profile's setting); unset ones come from the profile."""
    add_config_arguments(parser, FRAGrowConfig, profiles=PROFILES)
    parser.add_argument("--family", choices=tuple(FAMILIES), default="resnet",
                        help="the paper's seed and target nets of this family")
    parser.add_argument("--regime", choices=("overfit", "underfit"),
                        help="data regime (the profile's: CIFAR-100 or ImageNet at paper, offline synthetic at "
                             "smoke/bench)")


def config_from_args(args: argparse.Namespace) -> FRAGrowConfig:
    return config_from_cli(args, fragrow_config, FRAGrowConfig, family=args.family, regime=args.regime)


FRAGROW = Recipe(
    name="fragrow",
    description="FRAGrow: grow depth when the overfitting risk allows (Eq. 2-4), with its when-to-grow baselines",
    config_class=FRAGrowConfig,
    profiles=PROFILES,
    make_config=fragrow_config,
    run=run_fragrow,
    add_arguments=add_arguments,
    config_from_args=config_from_args,
    summary=summarize,
    format_summary=format_summary,
)
