"""AutoGrow (Wen, Yan, Chen, Li; KDD 2020) as a recipe: p-AutoGrow and c-AutoGrow.

A short, runnable log of how an AutoGrow number is made::

    from growth.recipes.autogrow import autogrow_config, run_autogrow
    config = autogrow_config("paper")                      # p-AutoGrow, Basic3ResNet-1-1-1, CIFAR-10
    run = run_autogrow(config, history_path="autogrow.json")
    run.history.meta["found_net"], run.history.last("test_acc")

    python -m growth run autogrow --profile smoke           # the same, on the command line

The algorithm (Wen et al., KDD 2020, Sec. 3; the book's AutoGrow chapter): start from the shallowest seed, one
block per stage.  Every ``K`` epochs (p-AutoGrow, :class:`growth.when.Periodic`), or once the net
has converged (c-AutoGrow, :class:`growth.when.Convergent` checked every ``K`` epochs), first apply
the stopping policy, then append one block, initialised by ``init`` (GauInit by default, the
paper's best), to the next stage of the circular list (:class:`growth.where.StoppingRoundRobin`).
Growth runs at the constant LR; when every stage is frozen (or the growth budget ``growth_epochs``
is spent) the found net is fine-tuned with a staircase LR (200 epochs, decays at 100 and 150).

Paper setting (profile ``paper``, the defaults of :class:`AutoGrowConfig`): CIFAR-10, SGD momentum
0.9, weight decay 5e-4, batch 128, LR 0.1 (0.01 for plain nets), K = 3, J = 100, tau = 0.05
(percent points), GauInit.  Profiles ``bench`` and ``smoke`` run the same code on offline data at
the scales of the book's "Reproducing" page; :func:`scaled`, :func:`for_budget` and :func:`for_subsample` derive
configurations at other scales.

Where we had to choose (each is a parameter):

* validation split: the authors' code measures its "validation" accuracy on the test set [code];
  we hold out ``val_fraction`` (default 0.1) of the training set [open] (``metric="test_acc"``
  reproduces the code's choice);
* c-AutoGrow: ``K = 200`` (the review: "in practice K=200") [secondary], converged = the best
  validation accuracy rose by less than tau over the last K epochs, checked every K epochs, as the
  authors' convergent code does (with a moving average, we use the running maximum) [code]; its
  stopping policy measures what the last growth gained within ``J`` epochs after it
  (``anchor="growth"``), with ``J = K`` by default as in that code [code] (``J`` a parameter);
* growth budget ``growth_epochs = 4000`` (the code's ``--epochs`` default), spent in whole periods
  of ``K`` epochs as the code does (``ceil(growth_epochs / K)`` checks); p-AutoGrow's last check,
  at the budget, still grows and the fine-tuning trains that net; c-AutoGrow's code checks nothing
  at the budget [code];
* plain nets (``Plain3Net`` / ``Plain4Net`` seeds): LR 0.01 (review) and ``init="he"``, the
  family's default initialisation: the authors' code re-initialises no BN of a plain sub-module [code];
* the fine-tuning restarts at the growth LR and decays at half and three quarters of it [code];
* ImageNet: K = 2 (Table 9), J = 30, fine-tune 90 epochs with decays at 30 and 60 [secondary].
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any

from ..measure.cost import forward_macs
from ..how import DEPTH_INITS, AddBlock, depth_families
from ..models import build_model, parse_name
from ..protocol import FineTune, Grower
from ..train import Run, TrainConfig
from ..when import Convergent, Deadline, Periodic
from ..where import StoppingRoundRobin
from .base import Recipe, add_config_arguments, config_from_cli, launch, option, profile_config, validate_common
from .base import check_choice as _choice, check_int as _int, check_number as _number

__all__ = [
    "AutoGrowConfig", "METRICS", "PROFILES", "VARIANTS", "AUTOGROW", "at_profile", "autogrow_config", "build_grower",
    "for_budget", "for_subsample", "run_autogrow", "scaled", "summarize",
]

VARIANTS = ("p", "c")
METRICS = ("val_acc", "test_acc", "train_acc", "val_loss", "test_loss", "train_loss")
PROFILES = ("smoke", "bench", "paper")
#: AutoGrow's shortcut-free families: LR 0.01 and no re-initialised BN (review; authors' code).
PLAIN_FAMILIES = ("Plain3Net", "Plain4Net")
PAPER = "Wen, Yan, Chen, Li. AutoGrow: Automatic Layer Growing in Deep Convolutional Networks. KDD 2020."


@dataclass
class AutoGrowConfig:
    """One AutoGrow run. The defaults are the paper's p-AutoGrow on CIFAR-10 (Basic3ResNet, GauInit).

    ``None`` means "derived" (:meth:`resolved` fills it in):

    ========================  ==========================================================================
    ``K``                     p: 3 (2 on ImageNet), the growth period; c: 200, the convergence window
                              and check period
    ``J``                     p: 100 (30 on ImageNet), the stopping window; c: ``K``, as the
                              authors' convergent code
    ``init``                  ``"gaussian"`` (GauInit, the paper's best); ``"he"`` (the family's default
                              initialisation) for plain nets, whose sub-modules the authors' code never
                              re-initialises whatever ``--initializer`` says [code]
    ``lr``                    0.1; 0.01 for plain nets (``Plain3Net`` / ``Plain4Net`` seeds)
    ``finetune_epochs``       200 (90 on ImageNet)
    ``finetune_milestones``   half and three quarters of the fine-tuning (100, 150 of 200), as the
                              authors' code; thirds on ImageNet (30, 60 of 90)
    ========================  ==========================================================================

    ``tau`` is in percent points (accuracies are in percent), ``growth_epochs`` is a budget (growth
    usually stops earlier), ``max_depth`` caps the blocks of every stage (an int) or of each stage.
    """

    variant: str = "p"
    K: int | None = option(None, help="growth period (p) or convergence window and check period (c), in epochs")
    J: int | None = option(None, help="stopping window in epochs (paper: 100 on CIFAR)")
    tau: float = option(0.05, help="least rise of the best validation accuracy over J epochs, percent points "
                                   "(paper 0.05)")
    init: str | None = option(None, help="initialiser of new blocks: zero, uniform, gaussian (paper's best), adam, "
                                         "he, copy")
    seed_net: str = option("Basic3ResNet-1-1-1",
                           help="seed network, e.g. Basic3ResNet-1-1-1, Basic4ResNet-1-1-1-1, Plain3Net-1-1-1")
    width: float = option(1.0, help="width multiplier of the seed net (1.0 is the paper's)")
    max_depth: int | tuple[int, ...] | None = option(None, help="at most this many blocks per stage", cli_type=int)
    metric: str = option("val_acc", help=f"what the policies watch: {', '.join(METRICS)} (default val_acc)")
    dataset: str = "cifar10"
    dataset_options: dict = field(default_factory=dict)
    data_root: str | None = None
    val_fraction: float = 0.1
    subsample: float = option(1.0, help="fraction of the training set used (applied before the validation split)")
    growth_epochs: int = option(4000, flag="epochs",
                                help="budget of growth epochs (growth usually stops earlier)")
    finetune_epochs: int | None = option(None, help="fine-tuning epochs after growth (paper 200)")
    finetune_milestones: tuple[int, ...] | None = None
    finetune_gamma: float = 0.1
    lr: float | None = option(None, help="learning rate while growing and at the start of fine-tuning (paper 0.1; "
                                         "0.01 plain nets)")
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = option(128, help="mini-batch size (paper 128)")
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    profile: str = "paper"

    # ------------------------------------------------------------------ derived values

    @property
    def imagenet(self) -> bool:
        return self.dataset == "imagenet"

    def resolved(self) -> "AutoGrowConfig":
        """A copy with every derived (``None``) value filled in; validates first."""
        self.validate()
        family = parse_name(self.seed_net)[0].name
        K = self.K if self.K is not None else (200 if self.variant == "c" else (2 if self.imagenet else 3))
        J = self.J if self.J is not None else (K if self.variant == "c" else 30 if self.imagenet else 100)
        plain = family in PLAIN_FAMILIES
        init = self.init if self.init is not None else ("he" if plain else "gaussian")
        lr = self.lr if self.lr is not None else (0.01 if plain else 0.1)
        ft = self.finetune_epochs if self.finetune_epochs is not None else (90 if self.imagenet else 200)
        if self.finetune_milestones is not None:
            milestones = tuple(self.finetune_milestones)
        elif self.imagenet:
            milestones = tuple(sorted({ft // 3, 2 * ft // 3}))
        else:
            milestones = tuple(sorted({ft // 2, 3 * ft // 4}))  # one decay where they coincide, as the code
        max_depth = tuple(self.max_depth) if isinstance(self.max_depth, (list, tuple)) else self.max_depth
        return replace(self, K=K, J=J, init=init, lr=lr, finetune_epochs=ft, finetune_milestones=milestones,
                       max_depth=max_depth, dataset_options=dict(self.dataset_options))

    @property
    def growth_phase(self) -> int:
        """Epochs of growth at most: ``growth_epochs`` spent in whole periods of ``K`` (resolved)."""
        K = self.resolved().K
        return -(-self.growth_epochs // K) * K

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, its value and what is allowed. Touches no data."""
        _choice("variant", self.variant, VARIANTS)
        for name in ("K", "J", "finetune_epochs"):
            value = getattr(self, name)
            if value is not None:
                _int(name, value, minimum=0 if name == "finetune_epochs" else 1)
        _number("tau", self.tau, minimum=0.0)
        if self.init is not None and (not isinstance(self.init, str) or self.init not in DEPTH_INITS):
            raise ValueError(f"init={self.init!r} is unknown: choose one of {', '.join(sorted(DEPTH_INITS))}")
        validate_common(self)
        self._validate_seed_net()
        _choice("metric", self.metric, METRICS)
        if self.metric.startswith("val_") and self.val_fraction == 0:
            raise ValueError(
                f"val_fraction=0 leaves no validation split, but metric={self.metric!r} needs one: use "
                "val_fraction > 0 (e.g. 0.1) or metric='test_acc' (the authors' code watches the test set)"
            )
        _number("subsample", self.subsample, minimum=0.0, maximum=1.0, open_low=True)
        _int("growth_epochs", self.growth_epochs, minimum=1)
        if self.finetune_milestones is not None:
            ms = self.finetune_milestones
            bad = not isinstance(ms, (list, tuple)) or any(
                isinstance(m, bool) or not isinstance(m, int) or m < 0 for m in ms)
            if bad:
                raise ValueError(f"finetune_milestones={ms!r} is not allowed: use None or non-negative integer epochs")
        _number("finetune_gamma", self.finetune_gamma, minimum=0.0, open_low=True)

    def _validate_seed_net(self) -> None:
        try:
            family, depths = parse_name(self.seed_net)
        except ValueError as err:
            raise ValueError(f"seed_net={self.seed_net!r} is not a model name: {err}") from None
        families = depth_families()
        if family.name not in families:
            raise ValueError(
                f"seed_net={self.seed_net!r} is not depth-growable (family {family.name}): choose a seed of "
                f"{', '.join(families)}, e.g. 'Basic3ResNet-1-1-1'"
            )
        model = build_model(self.seed_net, num_classes=10, width=self.width)  # cheap: checks the stages
        n = len(model.depths)
        caps = self.max_depth if isinstance(self.max_depth, (list, tuple)) else [self.max_depth] * n
        if len(caps) != n or any(
            c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < d)
            for c, d in zip(caps, model.depths)
        ):
            raise ValueError(
                f"max_depth={self.max_depth!r} is not allowed for seed_net={self.seed_net!r} (depths "
                f"{'-'.join(map(str, model.depths))}): use None, an integer, or one integer per stage, each "
                "at least the seed's depth of that stage"
            )


# ---------------------------------------------------------------------------- argument checks


# ---------------------------------------------------------------------------- profiles and scaling

#: Overrides of the paper's setting per profile: ``common`` to both variants, then per variant.
PROFILE_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"common": {}, "p": {}, "c": {}},
    # 2-core CPU, minutes; or a GPU. Bench data: synthetic, 5000 / 2000 samples.
    "bench": {
        "common": {
            "profile": "bench", "dataset": "synthetic",
            "dataset_options": {"num_train": 5000, "num_test": 2000, "num_classes": 10},
            "width": 0.5, "val_fraction": 0.1, "growth_epochs": 40, "finetune_epochs": 10,
        },
        "p": {"K": 1, "J": 5},
        "c": {"K": 3, "J": 3},
    },
    # CI on any CPU, seconds.
    "smoke": {
        "common": {
            "profile": "smoke", "dataset": "synthetic",
            "dataset_options": {"num_train": 512, "num_test": 256, "num_classes": 10},
            "width": 0.25, "val_fraction": 0.25, "batch_size": 64, "growth_epochs": 6,
            "finetune_epochs": 2, "device": "cpu",
        },
        "p": {"K": 1, "J": 2},
        "c": {"K": 1, "J": 1},
    },
}


def autogrow_config(profile: str = "paper", *, variant: str = "p", **overrides: Any) -> AutoGrowConfig:
    """The configuration of ``profile`` (``smoke``, ``bench``, ``paper``) for ``variant``, with
    ``overrides`` (any :class:`AutoGrowConfig` field) on top.  Overriding ``dataset`` drops the
    profile's ``dataset_options`` unless they are overridden too.  Validated."""
    _choice("profile", profile, PROFILES)
    _choice("variant", variant, VARIANTS)
    table = PROFILE_OVERRIDES[profile]
    return profile_config(AutoGrowConfig, {**table["common"], **table[variant], "variant": variant}, overrides,
                          what="AutoGrow")


def scaled(config: AutoGrowConfig, factor: float) -> AutoGrowConfig:
    """``config`` with its epoch counts (K, J, growth budget, fine-tuning and its milestones) times
    ``factor``, rounded, at least 1 (a fine-tuning of 0 epochs stays 0)."""
    _number("factor", factor, minimum=0.0, open_low=True)
    cfg = config.resolved()

    def scale(n: int) -> int:
        return max(1, round(n * factor))

    ft = scale(cfg.finetune_epochs) if cfg.finetune_epochs else 0
    milestones = tuple(min(ft, round(m * factor)) for m in cfg.finetune_milestones)
    return replace(cfg, K=scale(cfg.K), J=scale(cfg.J), growth_epochs=scale(cfg.growth_epochs),
                   finetune_epochs=ft, finetune_milestones=milestones)


def for_budget(config: AutoGrowConfig, epochs: int) -> AutoGrowConfig:
    """``config`` scaled so that a run fits in ``epochs`` epochs in all.

    The factor is ``epochs / (2 J + fine-tuning)`` (400 epochs for the paper's CIFAR setting: growth
    cannot stop before ``J + 1`` epochs, and usually lasts a few J); the growth budget is what the
    fine-tuning leaves of ``epochs`` [open]."""
    _int("epochs", epochs, minimum=2)
    cfg = config.resolved()
    out = scaled(cfg, epochs / (2 * cfg.J + cfg.finetune_epochs))
    ft = min(out.finetune_epochs, epochs - 1)
    milestones = tuple(min(m, ft) for m in out.finetune_milestones)
    return replace(out, finetune_epochs=ft, finetune_milestones=milestones, growth_epochs=epochs - ft)


def at_profile(profile: str, *, epochs: int, batch_size: int, width: float = 0.25, max_batch_size: int = 32,
               **fields: Any) -> AutoGrowConfig:
    """One run of the AutoGrow chapter's notebooks at a notebook profile (resolved).

    ``paper``: the recipe's paper setting with ``batch_size``; ``epochs`` is not used (a run's length is
    set by its stopping policy).  Any other profile (an unknown label takes ``bench``'s): the recipe's
    profile setting at ``width``, batches of at most ``max_batch_size`` (more SGD steps per epoch on a
    small training set); ``K``, ``J`` and the growth budget scaled (:func:`scaled`) by
    ``max(2, epochs // 3)`` over the profile's fine-tuning epochs; the fine-tuning is ``epochs`` epochs
    with decays at half and three quarters, the profile's whole training, as the paper's 200
    fine-tuning epochs are its baselines' whole training.  ``fields``: any other :class:`AutoGrowConfig`
    field (variant, K, init, seed_net, dataset, ...); an explicit ``K`` or ``J`` is kept as given.
    """
    _int("epochs", epochs, minimum=2)
    _int("batch_size", batch_size, minimum=1)
    _int("max_batch_size", max_batch_size, minimum=1)
    if profile == "paper":
        return autogrow_config("paper", batch_size=batch_size, **fields).resolved()
    fixed = {k: v for k, v in ((k, fields.pop(k, None)) for k in ("K", "J")) if v is not None}
    base = autogrow_config(profile if profile in PROFILES else "bench", width=width,
                           batch_size=min(batch_size, max_batch_size), **fields)
    cfg = scaled(base, max(2, epochs // 3) / base.resolved().finetune_epochs)
    return replace(cfg, finetune_epochs=epochs, finetune_milestones=(epochs // 2, 3 * epochs // 4), **fixed)


def for_subsample(config: AutoGrowConfig, fraction: float) -> AutoGrowConfig:
    """``config`` on a ``fraction`` of the training set with ``K`` rescaled to keep the number of
    mini-batches between growths constant (the paper's Table 8 protocol; review Table 10).  ``J`` and
    the fine-tuning are kept [open: the review only says K is rescaled]."""
    _number("fraction", fraction, minimum=0.0, maximum=1.0, open_low=True)
    cfg = config.resolved()
    return replace(cfg, subsample=fraction, K=max(1, round(cfg.K / fraction)))


# ---------------------------------------------------------------------------- building and running


def build_grower(config: AutoGrowConfig) -> Grower:
    """when / where / how of ``config``: the trigger (periodic or convergent, with the growth budget),
    the circular list with the stopping policy, AddBlock(init), and the fine-tuning that follows."""
    cfg = config.resolved()
    if cfg.variant == "p":
        trigger: Any = Periodic(cfg.K)
    else:
        trigger = Convergent(patience=cfg.K, min_delta=cfg.tau, metric=cfg.metric, every=cfg.K)
    where = StoppingRoundRobin(
        J=cfg.J, tau=cfg.tau, metric=cfg.metric, anchor="trailing" if cfg.variant == "p" else "growth",
        max_depth=cfg.max_depth, max_epochs=cfg.growth_phase, at_budget="grow" if cfg.variant == "p" else "stop",
    )
    how = AddBlock(init=cfg.init)
    finetune = FineTune(epochs=cfg.finetune_epochs, schedule="step", lr=cfg.lr,
                        options={"milestones": list(cfg.finetune_milestones), "gamma": cfg.finetune_gamma})
    return Grower(Deadline(trigger, cfg.growth_phase), where, how, finetune=finetune,
                  name=f"{cfg.variant}-AutoGrow(K={cfg.K}, J={cfg.J}, tau={cfg.tau:g}, init={cfg.init})")


def run_autogrow(
    config: AutoGrowConfig,
    *,
    history_path: str | None = None,
    meta: dict[str, Any] | None = None,
    progress: bool | None = None,
    resume: bool = False,
) -> Run:
    """Run AutoGrow as ``config`` says; returns the :class:`growth.Run` (found model and History).
    ``resume``: continue from the checkpoint beside ``history_path`` (:func:`growth.train`).

    Every parameter is checked before any data is read or any training starts.  The History's meta
    carries the recipe, profile, variant, the resolved configuration, ``found_net`` and the frozen
    stages (``frozen``: epoch, stage, depth, reason) and, with ``init="adam"``, one record per AdamInit
    optimisation (``adam_init``: epochs run, accuracy reached, MACs); its events hold the growths, the
    freezes and the start of the fine-tuning.
    """
    if not isinstance(config, AutoGrowConfig):
        raise ValueError(f"config={config!r} is not an AutoGrowConfig: build one with autogrow_config(...)")
    cfg = config.resolved()
    grower = build_grower(cfg)
    train_config = TrainConfig(
        epochs=cfg.growth_phase + cfg.finetune_epochs, batch_size=cfg.batch_size, optimizer="sgd", lr=cfg.lr,
        momentum=cfg.momentum, weight_decay=cfg.weight_decay, schedule="constant", seed=cfg.seed,
        device=cfg.device, augment=cfg.augment,
    )
    def make_model(data):
        return build_model(cfg.seed_net, num_classes=data.num_classes, image_size=data.input_shape[-1], width=cfg.width)

    def finalize(run: Run, data) -> None:
        history = run.history
        history.meta["found_net"] = getattr(run.model, "spec", type(run.model).__name__)
        history.meta["frozen"] = [dict(r) for r in grower.state.get("frozen", [])]
        history.meta["finished_growing"] = grower.finished
        history.meta["adam_init"] = [dict(r) for r in grower.state.get("adam_init", [])]
        history.meta["forward_macs"] = int(forward_macs(run.model, tuple(data.input_shape)))

    return launch("autogrow", PAPER, cfg, train_config, make_model, grower=grower,
                  label={"variant": f"{cfg.variant}-AutoGrow"}, facts={}, finalize=finalize, history_path=history_path,
                  meta=meta, progress=progress, resume=resume)


# ---------------------------------------------------------------------------- what the CLI prints


def summarize(run: Run) -> dict[str, Any]:
    """The facts of a finished run: found net, accuracies, cost, growths and freezes (JSON-able)."""
    h = run.history
    grows = [e for e in h.events if e.get("kind", "grow") == "grow"]
    finetune = next((e for e in h.events if e.get("kind") == "finetune"), None)
    cfg = h.meta.get("recipe_config", {})
    return {
        "recipe": "autogrow",
        "variant": h.meta.get("variant"),
        "profile": h.meta.get("profile"),
        "dataset": h.meta.get("dataset"),
        "device": h.meta.get("device"),
        "seed": h.meta.get("seed"),
        "K": cfg.get("K"), "J": cfg.get("J"), "tau": cfg.get("tau"), "init": cfg.get("init"),
        "seed_net": h.meta.get("start_spec"),
        "found_net": h.meta.get("found_net", h.meta.get("end_spec")),
        "params": h.last("params"),
        "forward_macs": h.meta.get("forward_macs"),
        "test_acc": h.last("test_acc"),
        "val_acc": h.last("val_acc"),
        "best_val_acc": h.best("val_acc"),
        "training_macs": h.last("macs"),
        "wall_seconds": h.last("wall"),
        "epochs_run": len(h.epochs),
        "growths": len(grows),
        "frozen": [{k: r.get(k) for k in ("epoch", "stage", "depth", "reason")} for r in h.meta.get("frozen", [])],
        "finetune_from": finetune["epoch"] if finetune else None,
        "finetune_epochs": finetune["epochs"] if finetune else 0,
    }


def format_summary(s: dict[str, Any]) -> str:
    from ..measure.cost import format_macs

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{v:.2f}%"

    frozen = ", ".join(f"stage {r['stage']} at depth {r['depth']} (epoch {r['epoch']}, {r['reason']})"
                       for r in s["frozen"]) or "none"
    n = s["finetune_epochs"]
    ft = (f"{n} epoch{'' if n == 1 else 's'} after epoch {s['finetune_from']}" if s["finetune_from"] is not None
          else "not reached (growth budget or run ended first)")
    lines = [
        f"{s['variant']} (K={s['K']}, J={s['J']}, tau={s['tau']}, init {s['init']}) | profile {s['profile']} | "
        f"dataset {s['dataset']} | device {s['device']} | seed {s['seed']}",
        f"  seed net:        {s['seed_net']}",
        f"  found net:       {s['found_net']}  ({s['params']:,} params, {format_macs(s['forward_macs'])} "
        f"forward MACs per sample)",
        f"  test accuracy:   {pct(s['test_acc'])} (last epoch); validation {pct(s['val_acc'])}, "
        f"best validation {pct(s['best_val_acc'])}",
        f"  training cost:   {format_macs(s['training_macs'])} MACs (FLOPs as fvcore counts, 1 MAC = 1), "
        f"wall {s['wall_seconds']:.1f} s, {s['epochs_run']} epochs",
        f"  growth:          {s['growths']} blocks added; frozen: {frozen}",
        f"  fine-tuning:     {ft}",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m growth run autogrow`` (:func:`~growth.recipes.base.add_config_arguments`,
    and ``--variant``); unset ones come from the profile."""
    add_config_arguments(parser, AutoGrowConfig, profiles=PROFILES)
    parser.add_argument("--variant", choices=VARIANTS, default="p",
                        help="p: p-AutoGrow (grow every K epochs); c: c-AutoGrow (grow once converged)")


def config_from_args(args: argparse.Namespace) -> AutoGrowConfig:
    return config_from_cli(args, autogrow_config, AutoGrowConfig, variant=args.variant)


AUTOGROW = Recipe(
    name="autogrow",
    description="AutoGrow (KDD 2020): grow depth stage by stage, stop each stage when growth stops helping",
    config_class=AutoGrowConfig,
    profiles=PROFILES,
    make_config=autogrow_config,
    run=run_autogrow,
    add_arguments=add_arguments,
    config_from_args=config_from_args,
    summary=summarize,
    format_summary=format_summary,
)
