"""Centered kernel alignment (Kornblith, Norouzi, Lee, Hinton, ICML 2019): how alike two layers' features
are on the same inputs, the measure of MixtureGrowth's Figs. 4 and 5.

``CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` over Gram matrices of n examples, centred
(``H K H``); ``debiased=True`` takes the unbiased HSIC estimator (Song et al. 2012, Kornblith et al.'s
``center_gram(unbiased=True)``).  Kernels: linear (``X X^T``) or RBF with a bandwidth of ``threshold``
times the median distance.  Linear CKA also has the feature-space form ``|Y^T X|_F^2 / (|X^T X|_F
|Y^T Y|_F)`` for centred features, which needs no n x n matrix.  All in float64.

:func:`layer_features` captures the outputs of named modules with forward hooks on one fixed probe batch
(eval mode, no gradients); :func:`cka_matrix` compares every layer of one net with every layer of another.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import torch
from torch import nn

__all__ = ["center_gram", "centered_cka", "cka", "cka_matrix", "feature_space_linear_cka", "gram_linear", "gram_rbf",
           "layer_features"]


def _matrix(x: torch.Tensor, what: str) -> torch.Tensor:
    if not torch.is_tensor(x) or x.dim() < 2 or x.shape[0] < 2:
        raise ValueError(f"{what}: give a tensor of at least 2 examples (rows), features flattened; got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return x.detach().reshape(x.shape[0], -1).to(torch.float64)


def gram_linear(x: torch.Tensor) -> torch.Tensor:
    """``X X^T`` of the examples' (flattened) features."""
    x = _matrix(x, "x")
    return x @ x.T


def gram_rbf(x: torch.Tensor, threshold: float = 1.0) -> torch.Tensor:
    """``exp(-d^2 / (2 (threshold * median d)^2))`` over the examples' squared distances ``d^2``."""
    if not threshold > 0:
        raise ValueError(f"threshold={threshold!r} is not allowed: use a positive fraction of the median distance")
    x = _matrix(x, "x")
    dot = x @ x.T
    norms = torch.diagonal(dot)
    sq = (norms[:, None] + norms[None, :] - 2 * dot).clamp_min(0)
    flat, _ = torch.sort(sq.flatten())
    k = flat.numel() // 2
    median = flat[k] if flat.numel() % 2 else (flat[k - 1] + flat[k]) / 2  # NumPy's median
    return torch.exp(-sq / (2 * threshold**2 * median))


def center_gram(gram: torch.Tensor, *, unbiased: bool = False) -> torch.Tensor:
    """``H K H``; ``unbiased``: the U-statistic form whose inner product is the unbiased HSIC."""
    gram = gram.to(torch.float64).clone()
    if not torch.allclose(gram, gram.T):
        raise ValueError("gram: the Gram matrix is not symmetric")
    n = gram.shape[0]
    if unbiased:
        if n < 4:
            raise ValueError(f"unbiased HSIC needs at least 4 examples, got {n}")
        gram.fill_diagonal_(0)
        means = gram.sum(0) / (n - 2)
        means = means - means.sum() / (2 * (n - 1))
        gram = gram - means[:, None] - means[None, :]
        gram.fill_diagonal_(0)
    else:
        means = gram.mean(0)
        means = means - means.mean() / 2
        gram = gram - means[:, None] - means[None, :]
    return gram


def centered_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """CKA of two Gram matrices already centred (:func:`center_gram`): ``<x, y> / (|x| |y|)``."""
    return float((x * y).sum() / (x.norm() * y.norm()))


def cka(gram_x: torch.Tensor, gram_y: torch.Tensor, *, debiased: bool = False) -> float:
    """CKA of two Gram matrices over the same examples."""
    if gram_x.shape != gram_y.shape:
        raise ValueError(f"gram_x {tuple(gram_x.shape)} and gram_y {tuple(gram_y.shape)}: not over the same examples")
    return centered_cka(center_gram(gram_x, unbiased=debiased), center_gram(gram_y, unbiased=debiased))


def feature_space_linear_cka(x: torch.Tensor, y: torch.Tensor, *, debiased: bool = False) -> float:
    """Linear CKA from the features themselves (n x p and n x q), equal to ``cka(gram_linear(x),
    gram_linear(y))``: memory O(p q) instead of O(n^2), the cheaper form when there are more examples than
    features (a conv layer's flattened output usually has more features: take the Gram form there)."""
    x, y = _matrix(x, "x"), _matrix(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples, y {y.shape[0]}: give features of the same inputs")
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    cross = (x.T @ y).square().sum()
    xx, yy = (x.T @ x).square().sum(), (y.T @ y).square().sum()
    if debiased:
        n = x.shape[0]
        rows_x, rows_y = x.square().sum(1), y.square().sum(1)  # the Gram matrices' diagonals
        cross = _debiased(cross, rows_x, rows_y, n)
        xx, yy = _debiased(xx, rows_x, rows_x, n), _debiased(yy, rows_y, rows_y, n)
    return float(cross / (xx.sqrt() * yy.sqrt()))


def _debiased(dot: torch.Tensor, rows_a: torch.Tensor, rows_b: torch.Tensor, n: int) -> torch.Tensor:
    """The unbiased HSIC from ``|A^T B|_F^2`` and the Gram diagonals (centred features, n >= 4)."""
    if n < 4:
        raise ValueError(f"unbiased HSIC needs at least 4 examples, got {n}")
    return dot - n / (n - 2) * (rows_a @ rows_b) + rows_a.sum() * rows_b.sum() / ((n - 1) * (n - 2))


def layer_features(model: nn.Module, inputs: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
    """The outputs of the modules named ``layers`` on ``inputs`` (eval mode, no gradients), each flattened
    to (examples, features), on the CPU in float64; the model's mode is restored."""
    layers = list(layers)
    names = dict(model.named_modules())
    missing = [n for n in layers if n not in names]
    if missing:
        raise ValueError(f"layers={missing!r} are not modules of the model")
    captured: dict[str, torch.Tensor] = {}
    hooks = [names[n].register_forward_hook(
        lambda _m, _i, out, n=n: captured.__setitem__(n, out.detach().reshape(out.shape[0], -1).cpu().double()))
        for n in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return {n: captured[n] for n in layers}


def cka_matrix(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], *, kernel: str = "linear",
               debiased: bool = False, threshold: float = 1.0) -> list[list[float]]:
    """``[[CKA(a[i], b[j]) for j in b] for i in a]`` for features of the same inputs (:func:`layer_features`)."""
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel={kernel!r} is unknown: choose 'linear' or 'rbf'")
    gram = (lambda f: gram_linear(f)) if kernel == "linear" else (lambda f: gram_rbf(f, threshold))
    grams_b = [gram(f) for f in b.values()]
    return [[cka(gram(f), g, debiased=debiased) for g in grams_b] for f in a.values()]
