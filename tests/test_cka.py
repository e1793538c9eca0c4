"""CKA (growth.measure.cka) against Kornblith et al.'s reference values and its defining properties."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from growth.measure.cka import (
    center_gram, cka, cka_matrix, feature_space_linear_cka, gram_linear, gram_rbf, layer_features,
)
from growth.models import build_model


@pytest.fixture(scope="module")
def reference():
    """The example of the authors' demo: X ~ N(0, 1) 100 x 10, Y = X + N(0, 1), NumPy seed 1337."""
    np.random.seed(1337)
    x = np.random.randn(100, 10)
    y = np.random.randn(100, 10) + x
    return torch.from_numpy(x), torch.from_numpy(y)


def test_reference_values(reference):
    x, y = reference
    assert cka(gram_linear(x), gram_linear(y)) == pytest.approx(0.55761, abs=5e-6)
    assert cka(gram_linear(x), gram_linear(y), debiased=True) == pytest.approx(0.51346, abs=5e-6)
    assert cka(gram_rbf(x, 0.5), gram_rbf(y, 0.5)) == pytest.approx(0.65483, abs=5e-6)
    assert feature_space_linear_cka(x, y) == pytest.approx(0.55761, abs=5e-6)
    assert feature_space_linear_cka(x, y, debiased=True) == pytest.approx(0.51346, abs=5e-6)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(n=st.integers(6, 30), p=st.integers(1, 12), q=st.integers(1, 12), seed=st.integers(0, 10_000),
       scale=st.floats(0.1, 10.0), debiased=st.booleans())
def test_invariances_and_forms_agree(n, p, q, seed, scale, debiased):
    """Linear CKA is the same from Gram matrices and from features, invariant to an orthogonal transform and
    to isotropic scaling of either side, symmetric, and 1 between a representation and itself."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=g, dtype=torch.float64)
    y = torch.randn(n, q, generator=g, dtype=torch.float64) + (x[:, :1] if q else 0)
    rotation, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))
    base = cka(gram_linear(x), gram_linear(y), debiased=debiased)
    assert feature_space_linear_cka(x, y, debiased=debiased) == pytest.approx(base, abs=1e-9)
    assert cka(gram_linear(scale * x @ rotation), gram_linear(y), debiased=debiased) == pytest.approx(base, abs=1e-9)
    assert cka(gram_linear(y), gram_linear(x), debiased=debiased) == pytest.approx(base, abs=1e-9)
    assert cka(gram_linear(x), gram_linear(x), debiased=debiased) == pytest.approx(1.0, abs=1e-9)


def test_centering_by_hand():
    k = torch.tensor([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]], dtype=torch.float64)
    h = torch.eye(3, dtype=torch.float64) - 1.0 / 3
    assert torch.allclose(center_gram(k), h @ k @ h)
    with pytest.raises(ValueError, match="symmetric"):
        center_gram(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="4 examples"):
        center_gram(k, unbiased=True)


def test_layer_features_and_matrix():
    torch.manual_seed(0)
    model = build_model("WRN-10-1", num_classes=10, width=0.5).train()
    x = torch.randn(12, 3, 32, 32)
    layers = ["stages.0.0.conv2", "stages.2.0.conv2"]
    feats = layer_features(model, x, layers)
    assert model.training  # the mode is restored
    assert [tuple(f.shape) for f in feats.values()] == [(12, 8 * 32 * 32), (12, 32 * 8 * 8)]
    same = cka_matrix(feats, feats)
    assert same[0][0] == pytest.approx(1.0) and same[1][1] == pytest.approx(1.0)
    assert same[0][1] == pytest.approx(same[1][0])
    rbf = cka_matrix(feats, feats, kernel="rbf")
    assert rbf[0][0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not modules"):
        layer_features(model, x, ["stages.9"])
    with pytest.raises(ValueError, match="kernel='poly'"):
        cka_matrix(feats, feats, kernel="poly")
    with pytest.raises(ValueError, match="same inputs"):
        feature_space_linear_cka(torch.randn(5, 2), torch.randn(6, 2))
