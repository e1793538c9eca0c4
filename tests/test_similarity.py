"""growth.measure.similarity: the CKA probe against CKA computed by hand from saved copies of the networks, its
views of a template net, that it leaves training unchanged, and its errors."""
from __future__ import annotations

import copy

import pytest
import torch

from growth import train
from growth.data import load
from growth.how.mixture import tile
from growth.measure.cka import cka, gram_linear, layer_features
from growth.measure.similarity import SimilarityProbe, conv_layers, epoch_matrix
from growth.models import build_model
from growth.models.template import template_net


def _features(model, x, layer):
    return layer_features(model, x, [layer])[layer]


def _by_hand(a, b, x, la, lb):
    return cka(gram_linear(_features(a, x, la)), gram_linear(_features(b, x, lb)))


def test_epoch_rows_equal_cka_of_the_saved_networks():
    torch.manual_seed(0)
    model = build_model("WRNnoBN-10-1", num_classes=10)
    x = torch.randn(24, 3, 32, 32)
    probe = SimilarityProbe("stages.2.0", samples=24)
    saved = []
    for epoch in (1, 2, 3):
        row = probe.record(model, x, epoch)["cka_epochs"]
        saved.append(copy.deepcopy(model))
        assert len(row) == epoch and row[-1] == pytest.approx(1.0, abs=1e-12)
        for earlier, value in zip(saved, row):
            assert value == pytest.approx(_by_hand(earlier, model, x, "stages.2.0", "stages.2.0"), abs=1e-9)
        with torch.no_grad():  # a step of "training": perturb every weight
            for p in model.parameters():
                p.add_(0.3 * torch.randn_like(p))


def test_isotropic_scaling_of_the_features_leaves_cka_one():
    """CKA is invariant to scaling the features: scaling the last conv's weight scales its output."""
    torch.manual_seed(1)
    model = build_model("WRNnoBN-10-1", num_classes=10)
    x = torch.randn(16, 3, 32, 32)
    probe = SimilarityProbe("stages.2.0.conv2", samples=16)
    probe.record(model, x, 1)
    with torch.no_grad():
        model.get_submodule("stages.2.0.conv2").weight.mul_(3.0)
    assert probe.record(model, x, 2)["cka_epochs"][0] == pytest.approx(1.0, abs=1e-9)


def test_snapshots_of_a_template_net_before_and_after_tiling():
    """Before growth the probe sees both members (net1, net2), after tiling one net; every layer x layer
    entry equals CKA computed by hand on copies of those networks; the active member is restored."""
    torch.manual_seed(2)
    model = template_net("WRNnoBN-10-1", width=0.5, num_classes=10)
    model.set_member(1)
    x = torch.randn(20, 3, 32, 32)
    probe = SimilarityProbe("stages.2.0", samples=20, snapshots=[1, 2])
    first = probe.record(model, x, 1)
    assert model.mode == 1
    members = []
    for m in (0, 1):
        net = copy.deepcopy(model)
        net.set_member(m)
        members.append(net)
    layers = conv_layers(model)
    assert first["cka_layer_names"] == layers and list(first["cka_layers"]) == ["net1@1 ~ net2@1"]
    grown = tile(model, "orthogonal", generator=torch.Generator().manual_seed(0))
    second = probe.record(grown, x, 2)
    assert list(second["cka_layers"]) == ["net1@1 ~ net@2", "net2@1 ~ net@2"]
    for key, a, b in [("net1@1 ~ net2@1", members[0], members[1]), ("net1@1 ~ net@2", members[0], grown),
                      ("net2@1 ~ net@2", members[1], grown)]:
        matrix = (first if "@1 ~ net2" in key else second)["cka_layers"][key]
        for i, j in [(0, 0), (1, 4), (len(layers) - 1, 2), (len(layers) - 1, len(layers) - 1)]:
            assert matrix[i][j] == pytest.approx(_by_hand(a, b, x, layers[i], layers[j]), abs=1e-9)


def test_views_restore_the_member():
    model = template_net("WRNnoBN-10-1", width=0.5, num_classes=10)
    assert model.views() == {"net1": 0, "net2": 1}
    with model.as_view("net2"):
        assert model.mode == 1
    assert model.mode == 0
    with pytest.raises(ValueError, match="view='net3'"):
        with model.as_view("net3"):
            pass


def test_the_probe_changes_nothing_in_training():
    data = load("synthetic", num_train=64, num_test=32, num_classes=4)
    runs = []
    for similarity in (None, {"layer": "stages.2.0", "samples": 16, "snapshots": [1, 2]}):
        torch.manual_seed(0)
        model = build_model("WRNnoBN-10-1", num_classes=4)
        runs.append(train(model, data, epochs=2, batch_size=16, device="cpu", similarity=similarity).history)
    plain, probed = runs
    keys = ("train_loss", "test_loss", "test_acc", "macs")
    assert [[e[k] for k in keys] for e in plain.epochs] == [[e[k] for k in keys] for e in probed.epochs]
    matrix = epoch_matrix(probed)
    assert matrix[0][0] == pytest.approx(1.0) and matrix[1][1] == pytest.approx(1.0) and matrix[0][1] == matrix[1][0]
    assert "cka_layers" in probed.epochs[1] and "net@1 ~ net@2" in probed.epochs[1]["cka_layers"]
    with pytest.raises(ValueError, match="no cka_epochs"):
        epoch_matrix(plain)


@pytest.mark.parametrize("options, match", [
    ({"layer": "stages.9"}, r"\['stages.9'\] are not modules"),
    ({"layer": "stages.2.0", "samples": 3}, "samples=3"),
    ({"layer": "stages.2.0", "samples": 64}, "test split has 32"),
    ({"layer": "stages.2.0", "snapshots": [0]}, "snapshots="),
    ({"layer": "stages.2.0", "layers": []}, "layers="),
    ({"layer": "stages.2.0", "kernel": "rbf"}, "kernel"),
    ({"samples": 16}, "give 'layer'"),
])
def test_bad_options_fail_before_training(options, match):
    data = load("synthetic", num_train=64, num_test=32, num_classes=4)
    model = build_model("WRNnoBN-10-1", num_classes=4)
    with pytest.raises(ValueError, match=match):
        train(model, data, epochs=1, batch_size=16, device="cpu", similarity=options)
