"""How a network's features change over training and across growth: linear CKA (:mod:`growth.measure.cka`)
on one fixed probe batch, recorded as the network trains (MixtureGrowth, Sec. 4.4, Figs. 4 and 5).

:class:`SimilarityProbe` runs at the end of every epoch, after the evaluation and before any growth, on the
first ``samples`` examples of the test split (fixed order, no augmentation, eval mode; it draws no random
number and changes no statistic, so the run is the same with or without it):

* **over epochs** (Fig. 4): the Gram matrix of ``layer``'s features; the History record gets ``cka_epochs``,
  the CKA of this epoch's features with those of every epoch so far (epoch 1 first, itself last: 1.0).
  :func:`epoch_matrix` assembles the full epoch x epoch matrix from a History.
* **between networks** (Fig. 5): after each epoch of ``snapshots``, the Gram matrices of every conv layer
  (``layers``) for each network the model holds (a :class:`growth.models.template.TemplateNet` holds its two
  members before growth, ``net1`` and ``net2``; any other model is one network, ``net``); the record gets
  ``cka_layers``: for every pair of these views, this snapshot's with each earlier one's and with each
  other, the layer x layer CKA matrix, keyed ``"net1@10 ~ net@16"`` (rows the first view's layers), and
  ``cka_layer_names``.

Growth keeps module names (width growth replaces modules under the same names, tiling keeps the modules), so
one name denotes the same layer before and after.  The probe's seconds are recorded apart
(``similarity_seconds``), outside the run's wall-clock and its FLOPs: a measurement, not training.
"""
from __future__ import annotations

import contextlib
from typing import Any, Sequence

import torch
from torch import nn

from .cka import center_gram, centered_cka, gram_linear, layer_features

__all__ = ["SimilarityProbe", "conv_layers", "epoch_matrix"]


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the model's convolutions (modules with a ``kernel_size`` tuple and ``out_channels``: torch's
    and the template-mixing ones), in registration order."""
    return [n for n, m in model.named_modules()
            if isinstance(getattr(m, "kernel_size", None), tuple) and hasattr(m, "out_channels")]


def _views(model: nn.Module) -> dict[str, Any]:
    views = model.views() if hasattr(model, "views") else {}
    if not views:
        return {"net": lambda: contextlib.nullcontext(model)}
    return {name: (lambda name=name: model.as_view(name)) for name in views}


class SimilarityProbe:
    """Per-epoch CKA of ``layer``, and layer x layer CKA at ``snapshots``; see the module docstring.

    ``layer``: a module name (Fig. 4's "last convolutional layer"); ``samples``: examples of the probe batch
    (at least 4); ``snapshots``: epochs (1-based, counted over the whole run) after which every layer of
    every view is kept; ``layers``: the module names of the layer x layer matrices (default: every
    convolution, :func:`conv_layers`)."""

    def __init__(self, layer: str, samples: int = 256, snapshots: Sequence[int] = (),
                 layers: Sequence[str] | None = None) -> None:
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"layer={layer!r} is not allowed: give a module name, e.g. 'stages.2.3'")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 4:
            raise ValueError(f"samples={samples!r} is not allowed: use an integer >= 4 (examples of the probe batch)")
        if not isinstance(snapshots, (list, tuple)) or any(
                isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in snapshots):
            raise ValueError(f"snapshots={snapshots!r} is not allowed: give a list of epochs (positive integers)")
        if layers is not None and (not isinstance(layers, (list, tuple)) or not layers
                                   or not all(isinstance(n, str) for n in layers)):
            raise ValueError(f"layers={layers!r} is not allowed: give a non-empty list of module names, or None "
                             "(every convolution)")
        self.layer, self.samples, self.snapshots = layer, samples, sorted(set(snapshots))
        self.layers = list(layers) if layers is not None else None
        self._epochs: list[torch.Tensor] = []               # centred Gram of `layer`, per epoch
        self._kept: dict[str, dict[str, torch.Tensor]] = {}  # "view@epoch" -> layer -> centred Gram

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "SimilarityProbe":
        """The probe of a :class:`growth.TrainConfig`'s ``similarity`` options (ValueError naming an unknown one)."""
        if not isinstance(options, dict):
            raise ValueError(f"similarity={options!r} is not allowed: give a dict of SimilarityProbe's options "
                             "(layer, samples, snapshots, layers), or None")
        known = ("layer", "samples", "snapshots", "layers")
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"similarity options {unknown} are unknown: use {', '.join(known)}")
        if "layer" not in options:
            raise ValueError("similarity: give 'layer', the module whose features are compared across epochs")
        return cls(**options)

    def check(self, model: nn.Module, num_examples: int) -> None:
        """Raise ``ValueError`` before training if a name is not a module of ``model`` or the test split is
        smaller than ``samples``."""
        names = dict(model.named_modules())
        missing = [n for n in [self.layer, *(self.layers or [])] if n not in names]
        if missing:
            raise ValueError(f"similarity: {missing} are not modules of the model; its convolutions are "
                             f"{', '.join(conv_layers(model)[:8])}, ...")
        if num_examples < self.samples:
            raise ValueError(f"similarity: samples={self.samples} but the test split has {num_examples} examples")

    def inputs(self, data: Any, device: torch.device) -> torch.Tensor:
        """The probe batch: the first ``samples`` inputs of the test split, on ``device``."""
        taken, count = [], 0
        for x, _ in data.eval_loader("test", self.samples):
            taken.append(x[: self.samples - count])
            count += taken[-1].shape[0]
            if count >= self.samples:
                break
        return torch.cat(taken).to(device)

    def _grams(self, model: nn.Module, inputs: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        return {n: center_gram(gram_linear(f)) for n, f in layer_features(model, inputs, layers).items()}

    def record(self, model: nn.Module, inputs: torch.Tensor, epoch: int) -> dict[str, Any]:
        """The History entries of ``epoch`` (1-based) for ``model`` as it is now."""
        gram = self._grams(model, inputs, [self.layer])[self.layer]
        self._epochs.append(gram)
        out: dict[str, Any] = {"cka_epochs": [centered_cka(g, gram) for g in self._epochs]}
        if epoch in self.snapshots:
            layers = self.layers or conv_layers(model)
            earlier = dict(self._kept)
            now = {}
            for name, view in _views(model).items():
                with view() as net:
                    now[f"{name}@{epoch}"] = self._grams(net, inputs, layers)
            self._kept.update(now)
            keys = list(now)
            pairs = [(a, b) for a in earlier for b in keys] + [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]]
            out["cka_layer_names"] = layers
            out["cka_layers"] = {f"{a} ~ {b}": [[centered_cka(self._kept[a][x], self._kept[b][y]) for y in layers]
                                                for x in layers] for a, b in pairs}
        return out


def epoch_matrix(history: Any, first: int = 1, last: int | None = None) -> list[list[float]]:
    """The symmetric epoch x epoch CKA matrix of epochs ``first .. last`` (1-based, inclusive; default to the
    end) from a History's ``cka_epochs`` rows."""
    rows = [record.get("cka_epochs") for record in history.epochs]
    if not rows or any(r is None for r in rows):
        raise ValueError("history: its epochs carry no cka_epochs (train with TrainConfig(similarity=...))")
    last = len(rows) if last is None else last
    if not 1 <= first <= last <= len(rows):
        raise ValueError(f"first={first!r}, last={last!r}: choose 1 <= first <= last <= {len(rows)}")
    span = range(first - 1, last)
    return [[rows[max(i, j)][min(i, j)] for j in span] for i in span]
