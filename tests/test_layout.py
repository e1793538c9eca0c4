"""growth.layout: the measured layout choice is cached per architecture, leaves the run's random streams and
the model alone, follows the architecture across growth, and is recorded; the channels_last placement
handles a template net's 5-d templates."""
from __future__ import annotations

import os

import pytest
import torch

from growth import train
from growth.data import load
from growth.layout import cache_path, fastest_layout, fastest_threads, to_channels_last
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
    assert entry["choice"] == first and set(entry["seconds"]) == {"contiguous", "channels_last"}
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


def test_a_book_sets_the_layout_of_every_run_through_the_environment(monkeypatch, tmp_path):
    """GROWTH_CHANNELS_LAST (set by tools/run_notebooks.py from a profile) is the layout of every TrainConfig that
    names none; the History records it in the configuration (so in the run's fingerprint) and per epoch."""
    import sys

    from growth import TrainConfig
    from growth.layout import LAYOUT_ENV, layout_from_environment

    for value, expected in (("auto", "auto"), ("true", True), ("1", True), ("False", False), ("0", False)):
        monkeypatch.setenv(LAYOUT_ENV, value)
        assert layout_from_environment() == expected and TrainConfig(epochs=1).channels_last == expected
    assert TrainConfig(epochs=1, channels_last=False).channels_last is False  # a run's own choice wins
    monkeypatch.delenv(LAYOUT_ENV)
    assert TrainConfig(epochs=1).channels_last is None  # unset: channels_last on GPUs only

    monkeypatch.setenv(LAYOUT_ENV, "auto")
    monkeypatch.setattr(sys.modules["growth.train"], "fastest_layout", lambda *a, **k: True)
    data = load("synthetic", num_train=32, num_test=16, num_classes=4)
    h = train(build_model("ResNet-20", width=0.25, num_classes=4), data, epochs=2, batch_size=16, device="cpu",
              history_path=tmp_path / "h.json").history
    assert h.meta["config"]["channels_last"] == "auto" and [e["channels_last"] for e in h.epochs] == [True, True]


def test_the_runner_takes_the_layout_from_the_profile_not_from_the_shell(monkeypatch):
    """A profile's channels_last goes to the environment, a -p override wins, and a profile without one (smoke:
    the goldens) removes whatever the shell had set; none of it is passed to a notebook as a parameter."""
    from pathlib import Path

    from growth.layout import LAYOUT_ENV

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "tools"))
    import run_notebooks

    monkeypatch.setenv(LAYOUT_ENV, "true")
    profile, overrides = {"epochs": 2, "channels_last": "auto"}, {}
    assert run_notebooks.apply_runtime(profile, overrides) == {"channels_last": "auto"}
    assert os.environ[LAYOUT_ENV] == "auto" and profile == {"epochs": 2}
    assert run_notebooks.apply_runtime({"channels_last": "auto"}, {"channels_last": False}) == {"channels_last": False}
    assert os.environ[LAYOUT_ENV] == "false"
    assert run_notebooks.apply_runtime({"epochs": 2, "channels_last": None}, {}) == {}
    assert LAYOUT_ENV not in os.environ


def test_threads_are_the_fewest_within_the_margin_of_the_fastest(monkeypatch):
    """Fake timings (seconds by thread count): 4 threads are fastest, 2 within 5% of them: 2 is chosen, once;
    the process's thread count is as it was; one thread allowed: 1, unmeasured; tokens are not images."""
    timings = {1: 1.0, 2: 0.52, 4: 0.5, 6: 0.55}
    seen = []

    def fake(model, x, y, steps):
        seen.append(torch.get_num_threads())
        return timings[torch.get_num_threads()] * steps

    monkeypatch.setattr("growth.layout.step_seconds", fake)
    model = build_model("ResNet-20", width=0.25, num_classes=10)
    before = torch.get_num_threads()
    assert fastest_threads(model, (3, 32, 32), 8, num_classes=10, limit=6) == 2
    assert sorted(set(seen)) == [1, 2, 4, 6] and torch.get_num_threads() == before
    seen.clear()
    assert fastest_threads(model, (3, 32, 32), 8, num_classes=10, limit=6) == 2 and not seen  # cached
    assert fastest_threads(model, (3, 32, 32), 8, num_classes=10, limit=1) == 1 and not seen
    assert not fastest_layout(model, (12,), 8, torch.device("cpu"), num_classes=10) and not seen  # token ids
    mlp = build_model("MLP", width=0.25, num_classes=10)
    assert not fastest_layout(mlp, (3, 32, 32), 8, torch.device("cpu"), num_classes=10) and not seen  # no conv
    with pytest.raises(ValueError, match="limit=0"):
        fastest_threads(model, (3, 32, 32), 8, num_classes=10, limit=0)


def test_a_run_trains_with_its_threads_and_gives_the_process_its_own_back(monkeypatch):
    """threads=N holds during the run only; "auto" is chosen again after every growth and recorded per epoch."""
    import sys

    from growth.how.width import build_stage_model
    from growth.layout import THREADS_ENV
    from growth.recipes.vt import build_grower, plan

    during = []
    real = sys.modules["growth.train"].train_epoch

    def spy(*args, **kwargs):
        during.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(sys.modules["growth.train"], "train_epoch", spy)
    data = load("synthetic", num_train=32, num_test=16, num_classes=4)
    before = torch.get_num_threads()
    train(build_model("ResNet-20", width=0.25, num_classes=4), data, epochs=2, batch_size=16, device="cpu", threads=2)
    assert during == [2, 2] and torch.get_num_threads() == before

    asked = []

    def fake(model, *args, **kwargs):
        asked.append((model.stem.conv.out_channels, kwargs["limit"]))
        return 1 + (model.stem.conv.out_channels >= 8)

    monkeypatch.setattr(sys.modules["growth.train"], "fastest_threads", fake)
    monkeypatch.setenv("GROWTH_CORES_PER_RUN", "3")
    monkeypatch.setenv(THREADS_ENV, "auto")
    cfg = vt_config("smoke", variant="growing")
    stages = plan(cfg, num_classes=4)["stages"]
    seed = build_stage_model(cfg.model, stages[0]["channels"], stages[0]["fraction"], width=cfg.width, num_classes=4)
    during.clear()
    h = train(seed, data, epochs=4, batch_size=16, device="cpu", grower=build_grower(cfg, stages)).history
    assert h.meta["config"]["threads"] == "auto" and len(asked) == 3 and {limit for _, limit in asked} == {3}
    assert [e["threads"] for e in h.epochs] == during and torch.get_num_threads() == before
    assert during[0] == 1 and during[-1] == 2
