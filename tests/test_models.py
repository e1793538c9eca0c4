"""The model zoo against its oracles: published and torchvision parameter counts, torchvision's
functions (same weights, same logits), He et al.'s option-A shortcut, and the structural contracts
(names, spec round trip, channel groups, depth growth) over every name and random families."""
from __future__ import annotations

import functools
import math
import re

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from growth.models import (
    GrowableNet,
    ZeroPadShortcut,
    build_model,
    canonical_name,
    list_families,
    list_models,
    parse_name,
)

NUM_CLASSES = 7


pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@functools.lru_cache(maxsize=None)
def built(name: str) -> GrowableNet:
    """One shared (read-only) instance per name at the default image size."""
    torch.manual_seed(0)
    return build_model(name, num_classes=NUM_CLASSES).eval()


def shapes(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def forward_shape(model: nn.Module, image_size: int, batch: int = 2) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(model(torch.randn(batch, 3, image_size, image_size)).shape)


# --------------------------------------------------------------------------- published counts


@pytest.mark.parametrize(
    "name, exact, printed",
    [  # He et al. 2016, Table 6: 0.27M, 0.46M, 0.85M, 1.7M
        ("ResNet-20", 269_722, "0.27"),
        ("ResNet-32", 464_154, "0.46"),
        ("ResNet-56", 853_018, "0.85"),
        ("ResNet-110", 1_727_962, "1.7"),
    ],
)
def test_he_cifar_resnets_option_a(name, exact, printed):
    model = built(name)
    assert type(model).__name__ == "Basic3ResNet"
    with torch.device("meta"):
        model = build_model(name, num_classes=10)
    assert n_params(model) == exact
    digits = len(printed.split(".")[1])
    assert f"{n_params(model) / 1e6:.{digits}f}" == printed
    shortcuts = [m for m in model.modules() if isinstance(m, ZeroPadShortcut)]
    assert len(shortcuts) == 2  # parameter-free: no 1x1 projection anywhere
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in model.modules())


@pytest.mark.parametrize(
    "name, tv_name",
    [
        ("ResNet-18", "resnet18"),
        ("ResNet-34", "resnet34"),
        ("ResNet-50", "resnet50"),
        ("MobileNetV2", "mobilenet_v2"),
        ("MobileNetV2-2-3-4-3-3", "mobilenet_v2"),
        ("VGG-11", "vgg11_bn"),
        ("VGG-19", "vgg19_bn"),
    ],
)
def test_imagenet_layout_equals_torchvision(name, tv_name):
    with torch.device("meta"):
        ours = build_model(name, num_classes=1000, image_size=224)
        theirs = getattr(torchvision.models, tv_name)()
    assert n_params(ours) == n_params(theirs)
    # the same tensors in the same order (parameters and BN statistics), so state dicts map 1:1
    assert [s for _, s in shapes(ours)] == [s for _, s in shapes(theirs)]


@pytest.mark.parametrize(
    "name, tv_name, size",
    [("ResNet-18", "resnet18", 64), ("ResNet-50", "resnet50", 64), ("MobileNetV2", "mobilenet_v2", 64)],
)
def test_imagenet_layout_computes_torchvision_function(name, tv_name, size):
    """torchvision's weights loaded into our net give torchvision's logits: strides, pools, order."""
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, tv_name)(num_classes=5).eval()
    ours = build_model(name, num_classes=5, image_size=224).eval()
    for m in theirs.modules():  # non-trivial BN statistics, so that any mismatch shows
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values())))
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)


def test_vgg11_bn_computes_torchvision_function():
    torch.manual_seed(0)
    theirs = torchvision.models.vgg11_bn(num_classes=5).eval()
    ours = build_model("VGG-11", num_classes=5, image_size=224).eval()
    for m in theirs.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values())))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)


def test_wrn_28_10_published():
    with torch.device("meta"):
        model = build_model("WRN-28-10", num_classes=10)
    assert f"{n_params(model) / 1e6:.1f}" == "36.5"  # Zagoruyko & Komodakis, Table
    assert n_params(model) == 36_479_194  # the reference implementation's exact count
    assert model.spec == "WRN-28-10" and model.depths == (4, 4, 4)


def test_wrn_without_inner_bn_is_gradmax_wrn():
    """GradMax's WRN-28-1: the same net without the BN inside each block (BN-ReLU-conv-ReLU-conv); it
    loses the 2 x (4 x 16 + 4 x 32 + 4 x 64) = 896 parameters of those 12 BNs, and its inner groups
    have no norm to grow."""
    with_bn, without = build_model("WRN-28-1", num_classes=10), build_model("WRNnoBN-28-1", num_classes=10)
    assert n_params(with_bn) - n_params(without) == 896 and without.spec == "WRNnoBN-28-1"
    blocks = [b for stage in without.stages for b in stage]
    assert len(blocks) == 12 and all(isinstance(b.bn2, nn.Identity) for b in blocks)
    inner = [g for g in without.channel_groups() if g.inner]
    assert len(inner) == 12 and all(g.norms == () for g in inner)
    assert [g.name for g in without.channel_groups()] == [g.name for g in with_bn.channel_groups()]
    x = torch.randn(2, 3, 32, 32)
    without.load_state_dict({k: v for k, v in with_bn.state_dict().items() if k in without.state_dict()})
    blocks_bn = [b for stage in with_bn.stages for b in stage]
    for b in blocks_bn:
        b.bn2 = nn.Identity()
    with_bn.eval(), without.eval()
    torch.testing.assert_close(with_bn(x), without(x))  # the same net once the inner BN is taken out


def test_mobilenetv1_published():
    with torch.device("meta"):
        model = build_model("MobileNetV1", num_classes=1000, image_size=224)
    assert f"{n_params(model) / 1e6:.1f}" == "4.2"  # Howard et al. 2017, Table 8: 4.2 million
    assert n_params(model) == 4_231_976  # Table 1's layers, with BN (2 per channel)


@pytest.mark.parametrize("name, exact", [("ResNet-18", 11_173_962), ("ResNet-50", 23_520_842)])
def test_cifar_layout_of_4_stage_resnets(name, exact):
    """AutoGrow's CIFAR code (kuangliu/pytorch-cifar's ResNet): 3x3 stem, no max-pool, 10 classes."""
    with torch.device("meta"):
        model = build_model(name, num_classes=10, image_size=32)
    assert n_params(model) == exact


def test_option_a_shortcut_is_he_et_al_zero_padding():
    x = torch.randn(2, 16, 8, 8)
    sc = ZeroPadShortcut(16, 32, stride=2)
    assert n_params(sc) == 0
    assert sc.index.tolist() == list(range(8, 24))
    torch.testing.assert_close(sc(x), F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 8, 8)), rtol=0, atol=0)
    sc.index = torch.tensor([0, 2, 4, 6] + list(range(20, 32)))  # a grown layout: any output positions
    out = sc(x)
    assert torch.equal(out[:, sc.index], x[:, :, ::2, ::2])
    assert out[:, [1, 3, 5] + list(range(7, 20))].abs().sum() == 0


# --------------------------------------------------------------------------- layouts and width


def _head_input(model: nn.Module, image_size: int) -> tuple[int, ...]:
    seen = {}

    def record(module, inputs, output):
        seen["shape"] = tuple(inputs[0].shape)

    hook = model.head.register_forward_hook(record)
    forward_shape(model, image_size, batch=1)
    hook.remove()
    return seen["shape"]


@pytest.mark.parametrize(
    "name, size, head_input",
    [
        ("ResNet-18", 32, (1, 512, 4, 4)),
        ("ResNet-18", 224, (1, 512, 7, 7)),
        ("ResNet-20", 32, (1, 64, 8, 8)),
        ("MobileNetV2", 32, (1, 160, 4, 4)),  # head input is the 160-group: 8x downsampling on CIFAR
        ("MobileNetV2", 224, (1, 160, 7, 7)),
        ("MobileNetV1", 32, (1, 1024, 2, 2)),
        ("VGG-11", 32, (1, 512, 2, 2)),  # the last max-pool opens the head
        ("CNN4", 64, (1, 512, 2, 2)),
    ],
)
def test_stems_and_strides(name, size, head_input):
    model = build_model(name, num_classes=3, image_size=size, width=0.25 if size == 224 else 1.0).eval()
    expected = head_input if size != 224 else (1, max(1, round(head_input[1] * 0.25)), *head_input[2:])
    assert _head_input(model, size) == expected


def test_resnet_stems():
    cifar, imagenet = (build_model("ResNet-18", num_classes=3, image_size=s, width=0.125) for s in (32, 224))
    assert (cifar.stem.conv.kernel_size, cifar.stem.conv.stride) == ((3, 3), (1, 1))
    assert isinstance(cifar.stem.pool, nn.Identity)
    assert (imagenet.stem.conv.kernel_size, imagenet.stem.conv.stride) == ((7, 7), (2, 2))
    assert isinstance(imagenet.stem.pool, nn.MaxPool2d)


def test_width_scales_hidden_channels_only():
    model = build_model("ResNet-20", num_classes=10, width=0.5)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].in_channels == 3 and convs[0].out_channels == 8
    assert model.head.fc.in_features == 32 and model.head.fc.out_features == 10
    assert build_model("MLP", num_classes=10, width=0.1).stages[0][0].fc.out_features == 50
    assert build_model("ResNet-20", num_classes=10, width=0.01).stem.conv.out_channels == 1  # at least 1
    assert build_model("ResNet-20", num_classes=10, width=2).stem.conv.out_channels == 32
    assert forward_shape(build_model("VGG-11", num_classes=4, width=0.3).eval(), 32) == (2, 4)


def test_cnn4_flattens_all_positions():
    model = build_model("CNN4", num_classes=10, image_size=96)
    assert model.head.fc.in_features == 512 * 9
    assert {g.spatial for g in model.channel_groups() if "head.fc" in g.consumers} == {9}


# --------------------------------------------------------------------------- every name


def test_list_models_and_families():
    names = list_models()
    assert len(names) == len(set(names))
    for name in ("ResNet-20", "ResNet-32", "ResNet-56", "ResNet-110", "ResNet-18", "ResNet-34", "ResNet-50",
                 "VGG-11", "VGG-13", "VGG-16", "VGG-19", "MobileNetV1", "WRN-28-10", "WRNnoBN-28-1", "CNN4", "MLP",
                 "Basic3ResNet-1-1-1", "Basic4ResNet-2-2-2-2", "VGG-1-1-1-1-2", "MobileNetV2-1-1-1-1-1"):
        assert name in names
    families = {p.split("-")[0] for p in list_families()}
    assert families == {"Basic3ResNet", "Basic4ResNet", "Bottleneck4ResNet", "Plain3Net", "Plain4Net", "VGG",
                        "MobileNetV2", "MobileNetV1", "WRN", "WRNnoBN", "CNN4", "MLP", "TemplateWRN", "TemplateWRNnoBN",
                        "TemplateBottleneck4ResNet", "Transformer"}
    assert {parse_name(n)[0].name for n in names} == families  # every family has a listed name


@pytest.mark.parametrize("name", list_models(inputs="image"))
def test_forward_shape(name):
    assert forward_shape(built(name), 32) == (2, NUM_CLASSES)


@pytest.mark.parametrize("name", list_models(inputs="image"))
def test_spec_round_trip(name):
    model = built(name)
    assert model.spec == canonical_name(name)
    with torch.device("meta"):
        again = build_model(model.spec, num_classes=model.num_classes, image_size=model.image_size,
                            width=model.width)
    assert type(again) is type(model) and again.spec == model.spec and shapes(again) == shapes(model)


@pytest.mark.parametrize("name", list_models(inputs="image"))
def test_names_are_case_insensitive(name):
    with torch.device("meta"):
        for variant in (name.lower(), name.upper(), f"  {name.swapcase()} "):
            assert build_model(variant, num_classes=3).spec == built(name).spec


@pytest.mark.parametrize(
    "name, spec",
    [("ResNet-20", "Basic3ResNet-3-3-3"), ("ResNet-110", "Basic3ResNet-18-18-18"),
     ("ResNet-34", "Basic4ResNet-3-4-6-3"), ("ResNet-50", "Bottleneck4ResNet-3-4-6-3"),
     ("VGG-11", "VGG-1-1-2-2-2"), ("VGG-16", "VGG-2-2-3-3-3"),
     ("VGG-19", "VGG-2-2-4-4-4"), ("MobileNetV2", "MobileNetV2-2-3-4-3-3"), ("wrn-16-4", "WRN-16-4")],
)
def test_aliases(name, spec):
    assert canonical_name(name) == spec


# --------------------------------------------------------------------------- channel groups


def check_channel_groups(model: GrowableNet) -> None:
    """Each group's layers agree on its size; every layer has its place (see the test below)."""
    groups = model.channel_groups()
    names = [g.name for g in groups]
    assert len(names) == len(set(names)), names
    produced: list[str] = []
    consumed: list[str] = []
    normed: list[str] = []
    for g in groups:
        assert g.producers, g
        sizes = set()
        for p in g.producers:
            layer = model.get_submodule(p)
            assert isinstance(layer, (nn.Conv2d, nn.Linear)), p
            sizes.add(layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features)
        assert len(sizes) == 1, (g, sizes)
        (c,) = sizes
        for n in g.norms:
            assert model.get_submodule(n).num_features == c, (g, n)
        for n in g.consumers:
            layer = model.get_submodule(n)
            if isinstance(layer, nn.Linear):
                assert layer.in_features == c * g.spatial, (g, n)
            else:
                assert layer.in_channels == c, (g, n)
        for n in g.depthwise:
            layer = model.get_submodule(n)
            assert layer.in_channels == layer.out_channels == layer.groups == c, (g, n)
        produced += list(g.producers) + list(g.depthwise)
        consumed += list(g.consumers) + list(g.depthwise)
        normed += list(g.norms)
    layers = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    logits = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    image_reader = layers[0]
    assert sorted(produced) == sorted(n for n in layers if n != logits), "each layer produces exactly one group"
    consumable = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear, ZeroPadShortcut))]
    assert sorted(consumed) == sorted(n for n in consumable if n != image_reader), "each layer reads one group"
    bns = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert sorted(normed) == sorted(bns), "each BN normalises exactly one group"


@pytest.mark.parametrize("name", [n for n in list_models(inputs="image") if not n.startswith("Template")])
def test_channel_groups(name):
    check_channel_groups(built(name))


def test_channel_groups_of_resnet20_by_hand():
    groups = {g.name: g for g in build_model("ResNet-20", num_classes=10).channel_groups()}
    stream0 = groups["stem"]  # the stem and stage 0 are tied by identity shortcuts
    assert stream0.producers == ("stem.conv", "stages.0.0.conv2", "stages.0.1.conv2", "stages.0.2.conv2")
    assert "stages.1.0.shortcut" in stream0.consumers and "stages.1.0.conv1" in stream0.consumers
    stream1 = groups["stages.1.0"]
    assert stream1.producers == ("stages.1.0.conv2", "stages.1.1.conv2", "stages.1.2.conv2")
    assert groups["stages.2.0"].consumers[-1] == "head.fc"
    assert groups["stages.0.1.conv1"].consumers == ("stages.0.1.conv2",)
    assert len(groups) == 3 + 9


def test_channel_groups_of_resnet18_projection():
    groups = {g.name: g for g in build_model("ResNet-18", num_classes=10, width=0.125).channel_groups()}
    assert groups["stages.1.0"].producers == ("stages.1.0.conv2", "stages.1.0.shortcut.0", "stages.1.1.conv2")
    assert groups["stages.1.0"].norms == ("stages.1.0.bn2", "stages.1.0.shortcut.1", "stages.1.1.bn2")


def test_channel_groups_of_mobilenetv2_depthwise():
    groups = {g.name: g for g in build_model("MobileNetV2-1-1-1-1-1", num_classes=10).channel_groups()}
    assert groups["stem.0"].depthwise == ("stem.1.dw",) and groups["stem.0"].consumers == ("stem.1.project",)
    hidden = groups["stages.0.0.expand"]
    assert hidden.depthwise == ("stages.0.0.dw",) and hidden.norms == ("stages.0.0.bn1", "stages.0.0.bn2")


# --------------------------------------------------------------------------- depth growth


def _on_meta(name: str) -> GrowableNet:
    with torch.device("meta"):
        return build_model(name, num_classes=NUM_CLASSES)


GROWABLE = [n for n in list_models(inputs="image") if _on_meta(n).depth_growable]
FIXED = [n for n in list_models(inputs="image") if not _on_meta(n).depth_growable]


def test_growable_families():
    assert {parse_name(n)[0].name for n in GROWABLE} == {
        "Basic3ResNet", "Basic4ResNet", "Bottleneck4ResNet", "Plain3Net", "Plain4Net", "VGG", "MobileNetV2"}
    assert {parse_name(n)[0].name for n in FIXED} == {"MobileNetV1", "WRN", "WRNnoBN", "CNN4", "MLP", "TemplateWRN",
                                                      "TemplateWRNnoBN", "TemplateBottleneck4ResNet"}


def test_new_block_basic3resnet_seed():
    model = build_model("Basic3ResNet-1-1-1", num_classes=10)
    model.stages[0].append(model.new_block(0))
    assert model.spec == "Basic3ResNet-2-1-1" and model.depths == (2, 1, 1)
    assert forward_shape(model.eval(), 32) == (2, 10)


@pytest.mark.parametrize("name", [n for n in GROWABLE if canonical_name(n) == n] + ["ResNet-20"])
def test_new_block_every_stage(name):
    family, depths = parse_name(name)
    model = build_model(name, num_classes=5, width=0.25).eval()
    expected = forward_shape(model, 32)
    for stage in range(len(model.stages)):
        model.stages[stage].append(model.new_block(stage))
        depths = tuple(d + (i == stage) for i, d in enumerate(depths))
        assert model.depths == depths
        assert model.spec == "-".join([family.name, *map(str, depths)])
        assert forward_shape(model, 32) == expected
    check_channel_groups(model)
    with torch.device("meta"):
        again = build_model(model.spec, num_classes=5, width=0.25)
    assert shapes(again) == shapes(model)  # a grown net is the net its spec names


def test_new_block_follows_dtype_and_mode():
    model = build_model("MobileNetV2-1-1-1-1-1", num_classes=3, width=0.25).double().eval()
    block = model.new_block(2)
    assert all(p.dtype == torch.float64 for p in block.parameters()) and not block.training
    assert block.use_residual and block.stride == 1
    model.train()
    assert model.new_block(0).training


def test_new_block_is_default_initialised():
    model = build_model("Basic4ResNet-1-1-1-1", num_classes=3, width=0.25)
    block = model.new_block(1)
    assert torch.equal(block.bn2.weight, torch.ones_like(block.bn2.weight))
    assert block.conv1.weight.std() > 0 and not any(block.conv1.weight is p for p in model.parameters())


@pytest.mark.parametrize("name", FIXED)
def test_new_block_refused_when_not_depth_growable(name):
    with pytest.raises(ValueError, match="does not grow in depth"):
        built(name).new_block(0)


@pytest.mark.parametrize("stage", [-1, 3, 10, "0", None])
def test_new_block_bad_stage(stage):
    with pytest.raises(ValueError, match=re.escape(f"stage={stage!r}")):
        built("Basic3ResNet-1-1-1").new_block(stage)


# --------------------------------------------------------------------------- property tests

PARAMETRIC = {
    "Basic3ResNet": 3, "Plain3Net": 3, "Basic4ResNet": 4, "Bottleneck4ResNet": 4, "Plain4Net": 4, "VGG": 5,
    "MobileNetV2": 5,
}


@pytest.mark.parametrize("family", sorted(PARAMETRIC))
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), width=st.floats(0.125, 1.0))
def test_random_depths_and_widths(family, data, width):
    depths = data.draw(st.lists(st.integers(1, 3), min_size=PARAMETRIC[family], max_size=PARAMETRIC[family]))
    name = "-".join([family, *map(str, depths)])
    model = build_model(name, num_classes=3, width=width).eval()
    assert model.spec == name and model.depths == tuple(depths)
    assert forward_shape(model, 32) == (2, 3)
    with torch.device("meta"):
        assert shapes(build_model(model.spec, num_classes=3, width=model.width)) == shapes(model)
    check_channel_groups(model)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(n=st.integers(1, 3), k=st.integers(1, 4), width=st.floats(0.125, 1.0))
def test_random_wrn(n, k, width):
    name = f"WRN-{6 * n + 4}-{k}"
    model = build_model(name, num_classes=3, width=width).eval()
    assert model.spec == name and model.depths == (n, n, n)
    assert forward_shape(model, 32) == (2, 3)
    with torch.device("meta"):
        assert shapes(build_model(model.spec, num_classes=3, width=model.width)) == shapes(model)
    check_channel_groups(model)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(name=st.sampled_from(["MobileNetV1", "CNN4", "MLP", "Basic4ResNet-1-1-1-1", "MobileNetV2-1-1-1-1-1",
                             "VGG-1-1-1-1-1"]),
       size=st.sampled_from([32, 48, 64, 128, 160]), width=st.floats(0.0625, 0.25))
def test_other_image_sizes(name, size, width):
    """Every family works at any size from its minimum; >= 128 takes the ImageNet layout."""
    model = build_model(name, num_classes=3, image_size=size, width=width).eval()
    assert getattr(model, "imagenet", False) == (size >= 128 and name not in ("CNN4", "MLP"))
    assert forward_shape(model, size, batch=1) == (1, 3)
    check_channel_groups(model)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "name",
    [
        "Foo-1-1-1",  # unknown family
        "ResNet-19",  # not an alias, and ResNet is no family
        "Basic3ResNet-0-1",  # wrong count and a zero
        "Basic3ResNet-1-1",
        "Basic3ResNet-1-1-1-1",
        "Basic3ResNet-0-1-1",  # zero depth
        "Basic3ResNet-1--1-1",  # negative depth
        "Basic3ResNet-1-x-1",  # not an integer
        "Basic3ResNet-1-1.5-1",
        "Basic3ResNet-1-+1-1",
        "VGG-1-1-1-1",
        "MobileNetV2-1-1-1-1-0",
        "WRN-27-10",  # d is not 6n + 4
        "WRN-4-10",  # n = 0
        "WRN-28-0",
        "WRN-28",
        "MobileNetV1-2",
        "CNN4-1",
        "",
    ],
)
def test_bad_names(name):
    with pytest.raises(ValueError) as info:
        build_model(name, num_classes=10)
    message = str(info.value)
    assert f"name={name!r}" in message
    assert "Basic3ResNet-a-b-c" in message and "WRN-d-k" in message  # the valid forms


def test_bad_name_type():
    with pytest.raises(ValueError, match=r"name=None"):
        build_model(None, num_classes=10)


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"num_classes": 0}, "num_classes=0"),
        ({"num_classes": -3}, "num_classes=-3"),
        ({"num_classes": 2.5}, "num_classes=2.5"),
        ({"num_classes": True}, "num_classes=True"),
        ({"num_classes": 10, "width": 0}, "width=0"),
        ({"num_classes": 10, "width": -0.5}, "width=-0.5"),
        ({"num_classes": 10, "width": math.nan}, "width=nan"),
        ({"num_classes": 10, "width": math.inf}, "width=inf"),
        ({"num_classes": 10, "width": "1"}, "width='1'"),
        ({"num_classes": 10, "image_size": 0}, "image_size=0"),
        ({"num_classes": 10, "image_size": -32}, "image_size=-32"),
        ({"num_classes": 10, "image_size": 32.0}, "image_size=32.0"),
    ],
)
def test_bad_arguments(kwargs, parameter):
    with pytest.raises(ValueError, match=re.escape(parameter)):
        build_model("ResNet-20", **kwargs)


@pytest.mark.parametrize("name", ["VGG-11", "CNN4", "VGG-1-1-1-1-2"])
def test_image_too_small_for_five_poolings(name):
    with pytest.raises(ValueError, match=r"image_size=16 is not supported by (VGG|CNN4).*>= 32"):
        build_model(name, num_classes=10, image_size=16)
