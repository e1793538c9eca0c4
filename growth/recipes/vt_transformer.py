"""Variance Transfer on the Transformer (Yuan, Savarese, Maire; NeurIPS 2023, Sec. 4.3, Table 5) as a recipe.

A short, runnable log of how a Table 5 number is made::

    from growth.recipes.vt_transformer import vt_transformer_config, run_vt_transformer
    config = vt_transformer_config("bench", variant="ours-buffer-ra", seed=0)
    run = run_vt_transformer(config, history_path="t5.json")
    run.history.meta["bleu"], run.history.last("macs")

    python -m growth run vt-transformer --profile smoke

The method (Sec. 4.3 and the setup of Sec. 4): an encoder-decoder Transformer
(:class:`growth.models.Transformer`, 6 + 6 blocks) grows in 4 stages of 5 epochs from 1/8 of its width
to the full width, doubling each time (64, 128, 256, 512); the embedding dimension stays fixed ("for a
consistent positional encoding table"), so what grows is every attention's heads and every FFN's
hidden layer (``grow="inner"``; ``grow="all"`` grows ``d_model`` too, by copies).  Adam throughout.

The rows of Table 5 are ``variant``:

==================  ==============================  ==========================================================
``variant``         new units                       Adam across growth
==================  ==============================  ==========================================================
``large``           no growth                       -
``net2net``         Net2Net (copied heads/units)    buffers dropped (a new optimizer, the usual practice)
``ours-no-buffer``  Variance Transfer               buffers dropped (Table 10's "No")
``ours-buffer``     Variance Transfer               buffers kept, zero for new entries; one step count
``ours-buffer-ra``  Variance Transfer               buffers kept; every entry's own step count ("age") and
                                                    Eq. 5's stage-wise factor (App. C, Table 9)
==================  ==============================  ==========================================================

Every row uses :class:`growth.optim.rate_adaptation.RAAdam` (with one stage it is ``torch.optim.Adam``),
so they differ only in what the table says.

Where we had to choose (each a parameter; the paper's values were lost in our copy of its text):

* sizes from the code the paper's setting matches (d_model 512, 8 heads of 64, d_ff 2048, dropout
  0.1, label smoothing 0.1, Adam betas (0.9, 0.98), eps 1e-9, pre-norm blocks) [inference];
* the LR: a peak of 7e-4 (Noam's ``512^-0.5 x 4000^-0.5``) reached by a linear warm-up and decayed as
  the inverse square root, both counted in epochs (``warmup`` epochs; the paper: 4000 steps, about 1.5
  IWSLT epochs at its batch), since our loop sets the LR once an epoch;
* batches of ``batch_size`` sentence pairs (the paper: 1500 tokens, about 60 pairs);
* VT keeps the old weights (``rescale_without_bn=False``): no BatchNorm can absorb the rescaling here,
  and the paper says the growth keeps the function; symmetry-breaking noise 1e-3 of the init std, as
  on the CNNs;
* BLEU of the last epoch's model, on the test split, by beam search (``beam``, 5) and greedy decoding,
  with sacrebleu on detokenised text.

Training cost: fvcore MACs of each architecture times the sentence pairs it trained on, at the padded
length every batch has (:mod:`growth.measure.cost`; the book divides by the Large run's).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ..how import AddWidth
from ..how.width_methods import configured_width_method
from ..measure.cost import forward_macs
from ..measure.translation import bleu
from ..models import build_model, channel_counts
from ..models.transformer import NORMS
from ..protocol import Grower
from ..train import Run, TrainConfig
from ..when.width_schedule import StageBoundaries
from .base import (
    Recipe, add_config_arguments, check_choice, check_int, check_number, config_from_cli, jsonable, launch, option,
    profile_config, validate_common,
)

__all__ = ["PROFILES", "VARIANTS", "VT_TRANSFORMER", "VTTransformerConfig", "plan", "run_vt_transformer",
           "vt_transformer_config"]

PAPER = ("Yuan, Savarese, Maire. Accelerated Training via Incrementally Growing Neural Networks using Variance "
         "Transfer and Learning Rate Adaptation. NeurIPS 2023.")
#: variant -> (width method, keep Adam's buffers, stage-wise ages and factor); ``large`` does not grow.
VARIANTS = {"large": (None, True, False), "net2net": ("net2net", False, False),
            "ours-no-buffer": ("vt", False, False), "ours-buffer": ("vt", True, False),
            "ours-buffer-ra": ("vt", True, True)}
GROW = ("inner", "all")
PROFILES = ("smoke", "bench", "paper")


@dataclass
class VTTransformerConfig:
    """One Table 5 run; the defaults are the paper's full method on IWSLT'14 De-En."""

    variant: str = option("ours-buffer-ra", help=f"Table 5's row: {', '.join(VARIANTS)}")
    model: str = option("Transformer-6-6", help="Transformer-E-D: encoder and decoder blocks (paper 6 and 6)")
    d_model: int = option(512, help="embedding and residual width, fixed while the layers grow (paper 512)")
    heads: int = option(8, help="attention heads of the full model (paper 8)")
    head_dim: int = option(64, help="channels per head, fixed: heads are added whole")
    d_ff: int = option(2048, help="FFN hidden width of the full model")
    dropout: float = option(0.1, help="dropout")
    norm: str = option("pre", help=f"LayerNorm placement: {', '.join(NORMS)}")
    grow: str = option("inner", help="groups that grow: inner (heads and FFNs, the paper) or all (d_model too, by "
                                     "copies)")
    stages: int = option(4, help="growth stages of equal length (paper 4)")
    c0: float = option(0.125, help="the seed's width fraction (paper 1/8); each stage doubles it up to 1")
    noise: float = option(1e-3, help="symmetry-breaking noise relative to the new weights' init std")
    dataset: str = "iwslt14"
    dataset_options: dict = field(default_factory=dict)
    data_root: str | None = None
    val_fraction: float = 0.0
    lr: float = option(7e-4, help="peak learning rate of Adam")
    warmup: int = option(1, help="epochs of linear LR warm-up before the inverse square-root decay")
    momentum: float = 0.9
    weight_decay: float = 0.0
    label_smoothing: float = option(0.1, help="label smoothing")
    batch_size: int = option(64, help="sentence pairs per batch")
    epochs: int = option(20, help="total epochs (paper 20: 4 stages x 5)")
    beam: int = option(5, help="beam size of the BLEU decoding (a greedy BLEU is recorded too)")
    augment: bool = False
    seed: int = 0
    device: str = "auto"
    profile: str = "paper"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the parameter, its value and what is allowed. Touches no data."""
        check_choice("variant", self.variant, tuple(VARIANTS))
        check_choice("grow", self.grow, GROW)
        validate_common(self)
        for name in ("stages", "epochs", "warmup", "beam"):
            check_int(name, getattr(self, name), minimum=1)
        if self.stages > self.epochs:
            raise ValueError(f"stages={self.stages} is not allowed with epochs={self.epochs}: every stage needs an "
                             "epoch")
        check_number("c0", self.c0, minimum=0.0, maximum=1.0, open_low=True)
        check_number("noise", self.noise, minimum=0.0)
        check_number("label_smoothing", self.label_smoothing, minimum=0.0, maximum=1.0, open_high=True)
        plan(self)  # the model options and the schedule's channel counts


PROFILE_OVERRIDES: dict[str, dict[str, Any]] = {
    "paper": {},
    # 2-core CPU, minutes: the synthetic translation task, a 2 + 2 block Transformer of width 64.
    "bench": {"profile": "bench", "dataset": "translation-synthetic", "model": "Transformer-2-2", "d_model": 64,
              "heads": 8, "head_dim": 8, "d_ff": 256, "batch_size": 32, "lr": 2e-3, "epochs": 12, "stages": 4,
              "dataset_options": {"num_train": 4000, "num_test": 500, "max_len": 32}},
    # CI on any CPU, seconds.
    "smoke": {"profile": "smoke", "dataset": "translation-synthetic", "model": "Transformer-1-1", "d_model": 32,
              "heads": 4, "head_dim": 8, "d_ff": 64, "batch_size": 32, "lr": 2e-3, "epochs": 4, "stages": 2,
              "c0": 0.5, "beam": 2, "device": "cpu",
              "dataset_options": {"num_train": 256, "num_test": 64, "max_len": 32}},
}


def vt_transformer_config(profile: str = "paper", **overrides: Any) -> VTTransformerConfig:
    """The configuration of ``profile`` with ``overrides`` (any :class:`VTTransformerConfig` field). Validated."""
    check_choice("profile", profile, PROFILES)
    return profile_config(VTTransformerConfig, PROFILE_OVERRIDES[profile], overrides, what="VT Transformer")


def _options(cfg: VTTransformerConfig, fraction: float) -> dict[str, Any]:
    """The model options of the stage at width ``fraction`` (heads and d_ff scaled; d_model too with ``all``)."""
    return {"d_model": round(cfg.d_model * fraction) if cfg.grow == "all" else cfg.d_model,
            "heads": max(1, round(cfg.heads * fraction)), "head_dim": cfg.head_dim,
            "d_ff": max(1, round(cfg.d_ff * fraction)), "dropout": cfg.dropout, "norm": cfg.norm}


def plan(cfg: VTTransformerConfig) -> dict[str, Any]:
    """The stages: width fractions ``c0 (1/c0)^(k / (stages - 1))``, equal epochs (the remainder to the last),
    and each stage's channels per group; ``large`` is one stage.  Builds each stage's model on the meta
    device (bad model options raise here)."""
    stages = 1 if cfg.variant == "large" else cfg.stages
    fractions = [1.0] if stages == 1 else [cfg.c0 ** (1 - k / (stages - 1)) for k in range(stages)]
    epochs = [cfg.epochs // stages] * stages
    epochs[-1] += cfg.epochs - sum(epochs)
    channels = []
    for fraction in fractions:
        with torch.device("meta"):
            model = build_model(cfg.model, num_classes=8, **_options(cfg, fraction))
        channels.append(channel_counts(model))
    return {"stages": [{"fraction": f, "channels": c, "epochs": e} for f, c, e in zip(fractions, channels, epochs)]}


def run_vt_transformer(config: VTTransformerConfig, *, history_path: str | None = None,
                       meta: dict[str, Any] | None = None, progress: bool | None = None, resume: bool = False) -> Run:
    """Run ``config``; returns the :class:`growth.Run`.  The History's meta carries the stages, the final
    ``channels``, ``forward_macs`` per sentence pair and ``bleu``: ``{"beam": ..., "greedy": ...}`` on the
    test split (:func:`growth.measure.translation.bleu`)."""
    if not isinstance(config, VTTransformerConfig):
        raise ValueError(f"config={config!r} is not a VTTransformerConfig: build one with vt_transformer_config(...)")
    cfg = replace(config, dataset_options=dict(config.dataset_options))
    cfg.validate()
    schedule = plan(cfg)
    stages = schedule["stages"]
    method, keep_buffers, ra = VARIANTS[cfg.variant]
    grower = None
    if method is not None:
        operator = configured_width_method(method, rescale_without_bn=False)
        how = AddWidth(channels=[s["channels"] for s in stages], method=operator, noise=cfg.noise)
        grower = Grower(StageBoundaries([s["epochs"] for s in stages]), how.where, how,
                        name=f"VT-Transformer({cfg.variant}, {len(stages)} stages, {method})")
    train_config = TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer="ra-adam", lr=cfg.lr, weight_decay=cfg.weight_decay,
        schedule="inverse-sqrt", schedule_options={"warmup": cfg.warmup}, label_smoothing=cfg.label_smoothing,
        seed=cfg.seed, device=cfg.device, augment=False, reset_optimizer=not keep_buffers,
        optimizer_options={"betas": (0.9, 0.98), "eps": 1e-9, "with_ra": ra, "keep_buffers": keep_buffers},
    )

    def make_model(data):
        return build_model(cfg.model, num_classes=data.num_classes, max_len=data.input_shape[-1],
                           **_options(cfg, stages[0]["fraction"]))

    def finalize(run: Run, data) -> None:
        model = run.model
        run.history.meta["channels"] = channel_counts(model)
        run.history.meta["forward_macs"] = int(forward_macs(model, tuple(data.input_shape)))
        run.history.meta["bleu"] = {"beam": bleu(model, data, beam=cfg.beam), "greedy": bleu(model, data, beam=1)}

    return launch("vt-transformer", PAPER, cfg, train_config, make_model, grower=grower,
                  label={"variant": cfg.variant}, facts=jsonable(schedule), finalize=finalize,
                  history_path=history_path, meta=meta, progress=progress, resume=resume)


def summarize(run: Run) -> dict[str, Any]:
    """The facts of a finished run (JSON-able)."""
    h = run.history
    scores = h.meta.get("bleu", {})
    return {"recipe": "vt-transformer", "variant": h.meta.get("variant"), "profile": h.meta.get("profile"),
            "dataset": h.meta.get("dataset"), "device": h.meta.get("device"), "seed": h.meta.get("seed"),
            "stage_epochs": [s["epochs"] for s in h.meta["stages"]], "params": h.last("params"),
            "bleu": scores.get("beam", {}).get("bleu"), "bleu_greedy": scores.get("greedy", {}).get("bleu"),
            "beam": scores.get("beam", {}).get("beam"), "test_token_acc": h.last("test_acc"),
            "training_macs": h.last("macs"), "wall_seconds": h.last("wall"), "epochs_run": len(h.epochs)}


def format_summary(s: dict[str, Any]) -> str:
    from ..measure.cost import format_macs

    return "\n".join([
        f"VT Transformer {s['variant']} | profile {s['profile']} | dataset {s['dataset']} | device {s['device']} | "
        f"seed {s['seed']}",
        f"  stages:          {s['stage_epochs']} epochs; final model {s['params']:,} params",
        f"  test BLEU:       {s['bleu']:.2f} (beam {s['beam']}), {s['bleu_greedy']:.2f} (greedy); token accuracy "
        f"{s['test_token_acc']:.2f}%",
        f"  training cost:   {format_macs(s['training_macs'])} MACs (FLOPs as fvcore counts, 1 MAC = 1); wall "
        f"{s['wall_seconds']:.1f} s, {s['epochs_run']} epochs",
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, VTTransformerConfig, profiles=PROFILES)


def config_from_args(args: argparse.Namespace) -> VTTransformerConfig:
    return config_from_cli(args, vt_transformer_config, VTTransformerConfig)


VT_TRANSFORMER = Recipe(
    name="vt-transformer",
    description="Variance Transfer on the Transformer (NeurIPS 2023, Table 5): grow heads and FFNs with Adam",
    config_class=VTTransformerConfig,
    profiles=PROFILES,
    make_config=vt_transformer_config,
    run=run_vt_transformer,
    add_arguments=add_arguments,
    config_from_args=config_from_args,
    summary=summarize,
    format_summary=format_summary,
)
