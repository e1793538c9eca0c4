"""growth.layout: the measured layout choice is cached per architecture, leaves the run's random streams and
the model alone, follows the architecture across growth, and is recorded; the channels_last placement
handles a template net's 5-d templates."""
from __future__ import annotations

import pytest
import torch

from growth import train
from growth.data import load
from growth.layout import cache_path, fastest_layout, to_channels_last
from growth.models import build_model
from growth.recipes.vt import vt_config


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GROWTH_CACHE", str(tmp_path / "cache"))


def test_the_choice_is_measured_once_and_cached(monkeypatch):
    model = build_model("ResNet-20", width=0.25, num_classes=10)
    before = {n: p.clone() for n, p in model.state_dict().items()}
    state = torch.get_rng_state()
    first = fastest_layout(model, (3, 32, 32), 8, torch.device("cpu"), num_classes=10, steps=1)
    assert torch.equal(torch.get_rng_state(), state)  # the run's random stream is untouched
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())
    entry = next(iter(__import__("json").loads(cache_path().read_text()).values()))
    assert entry["channels_last"] == first and set(entry["seconds"]) == {"contiguous", "channels_last"}
    monkeypatch.setattr("growth.layout.step_seconds", lambda *a: pytest.fail("measured twice"))
    assert fastest_layout(model, (3, 32, 32), 8, torch.device("cpu"), num_classes=10, steps=1) == first
    wider = build_model("ResNet-20", width=0.5, num_classes=10)  # another architecture: measured anew
    with pytest.raises(pytest.fail.Exception, match="measured twice"):
        fastest_layout(wider, (3, 32, 32), 8, torch.device("cpu"), num_classes=10, steps=1)


def test_auto_follows_the_architecture_across_growth_and_is_recorded(monkeypatch):
    """A fake timing that favours channels_last for the wider models only: the run switches layout at growth."""
    import sys

    from growth.how.width import build_stage_model
    from growth.recipes.vt import build_grower, plan

    widths = []

    def fake(model, *args, **kwargs):
        widths.append(model.stem.conv.out_channels)
        return model.stem.conv.out_channels >= 8

    monkeypatch.setattr(sys.modules["growth.train"], "fastest_layout", fake)
    cfg = vt_config("smoke", variant="growing")
    stages = plan(cfg, num_classes=4)["stages"]
    seed = build_stage_model(cfg.model, stages[0]["channels"], stages[0]["fraction"], width=cfg.width, num_classes=4)
    data = load("synthetic", num_train=64, num_test=32, num_classes=4)
    h = train(seed, data, epochs=4, batch_size=16, device="cpu", channels_last="auto",
              grower=build_grower(cfg, stages)).history
    assert widths == sorted(widths) and len(widths) == 3 and widths[0] < 8 <= widths[-1]  # seed, 2 growths
    assert [e["channels_last"] for e in h.epochs] == [w >= 8 for w in [widths[0], widths[1], widths[2], widths[2]]]


def test_channels_last_placement_takes_4d_tensors_only():
    from growth.models.template import template_net

    model = to_channels_last(template_net("WRNnoBN-10-1", width=0.5, num_classes=4))
    conv = [p for p in model.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in conv)
    assert all(p.is_contiguous() for p in model.parameters() if p.dim() == 5)


def test_bad_layout_is_refused():
    data = load("synthetic", num_train=32, num_test=16, num_classes=4)
    with pytest.raises(ValueError, match="channels_last='fast'.*'auto'"):
        train(build_model("ResNet-20", width=0.25, num_classes=4), data, epochs=1, channels_last="fast")
