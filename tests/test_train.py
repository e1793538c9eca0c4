"""The training loop: determinism, growth events, optimizer carry-over, cost accounting, history, errors."""
import math
import sys

import pytest
import torch

import growth
from growth.measure.cost import training_macs_per_sample
from growth.history import History

VOLATILE = {"wall", "train_seconds", "eval_seconds"}


@pytest.fixture(scope="module")
def data():
    return growth.load_dataset("synthetic", num_train=96, num_test=48, val_fraction=0.25, device="cpu")


def _grow_run(data, epochs=3, seed=0, **kw):
    growth.seed_everything(seed)
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    grower = growth.Grower(growth.when.Periodic(1), growth.where.RoundRobin([2, 2, 1]), growth.how.AddBlock())
    return growth.train(model, data, epochs=epochs, batch_size=32, lr=0.05, seed=seed, grower=grower, **kw)


def _stable(history):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in history.epochs]


def test_same_seed_same_numbers(data):
    a, b = _grow_run(data), _grow_run(data)
    assert _stable(a.history) == _stable(b.history)
    c = _grow_run(data, seed=1)
    assert _stable(c.history) != _stable(a.history)


def test_growth_events_spec_and_history(data, tmp_path):
    run = _grow_run(data, epochs=4, history_path=tmp_path / "h.json")
    h = History.load(tmp_path / "h.json")
    assert [e["epoch"] for e in h.events] == [1, 2]  # two blocks to add, then nothing left
    assert [(e["before"], e["after"]) for e in h.events] == [
        ("Basic3ResNet-1-1-1", "Basic3ResNet-2-1-1"),
        ("Basic3ResNet-2-1-1", "Basic3ResNet-2-2-1"),
    ]
    assert h.series("spec") == ["Basic3ResNet-1-1-1", "Basic3ResNet-2-1-1", "Basic3ResNet-2-2-1", "Basic3ResNet-2-2-1"]
    assert run.model.spec == "Basic3ResNet-2-2-1" and h.meta["end_spec"] == "Basic3ResNet-2-2-1"
    for key in ("train_acc", "val_acc", "test_acc", "train_loss", "lr", "macs", "wall", "params"):
        assert all(r[key] is not None for r in h.epochs), key
    assert h.meta["seed"] == 0 and h.meta["epochs"] == 4 and "CPU" in h.meta["device"]
    assert h.meta["data_sizes"] == {"train": 72, "val": 24, "test": 48}


def test_cumulative_macs_integrate_the_architecture_timeline(data):
    run = _grow_run(data, epochs=4)
    expected, total = [], 0
    for spec in run.history.series("spec"):
        model = growth.build_model(spec, num_classes=data.num_classes, width=0.25)
        total += data.num_train * training_macs_per_sample(model, data.input_shape)
        expected.append(total)
    assert run.history.series("macs") == expected
    assert all(isinstance(m, int) for m in expected)


def test_optimizer_state_carried_across_growth(data, monkeypatch):
    seen = {}
    loop = sys.modules["growth.train"]
    real = loop.rebuild_optimizer

    def spy(optimizer, old_state, model, *, reset=False):
        new = real(optimizer, old_state, model, reset=reset)
        seen["old"] = {n: s["momentum_buffer"].clone() for n, (_, s) in old_state.items()}
        seen["new"] = {n: new.state[p]["momentum_buffer"].clone() for n, p in model.named_parameters() if p in new.state}
        seen["names"] = [n for n, _ in model.named_parameters()]
        return new

    monkeypatch.setattr(loop, "rebuild_optimizer", spy)
    _grow_run(data, epochs=2)
    assert set(seen["new"]) == set(seen["old"])  # survivors carried, the new block starts empty
    assert len(seen["names"]) > len(seen["old"])
    for name, buf in seen["old"].items():
        assert torch.equal(seen["new"][name], buf)


def test_schedule_drives_the_lr(data):
    growth.seed_everything(0)
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    run = growth.train(model, data, epochs=4, batch_size=48, lr=0.1, schedule="cosine")
    assert run.history.series("lr") == pytest.approx([0.1 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])


class Untouchable:
    """Data whose loaders must not be touched: a bad config must fail before any work."""

    name, num_classes, input_shape, num_val = "x", 10, (3, 32, 32), 0

    def train_loader(self, *a, **k):
        raise AssertionError("training started before the config was checked")


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"epochs": -1}, "epochs=-1"),
        ({"epochs": 2, "optimizer": "rmsprop"}, "optimizer='rmsprop'"),
        ({"epochs": 2, "lrr": 0.1}, "lrr"),
        ({"epochs": 2, "label_smoothing": 1.5}, "label_smoothing=1.5"),
        ({"epochs": 2, "schedule": "linear"}, "schedule='linear'"),
        ({"epochs": 2, "batch_size": 0}, "batch_size=0"),
        ({}, "epochs"),
    ],
)
def test_bad_config_fails_before_training(kwargs, word):
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=10, width=0.25)
    with pytest.raises(ValueError, match=word):
        growth.train(model, Untouchable(), **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without GPU")
def test_cuda_without_gpu_is_a_clear_error():
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=10, width=0.25)
    with pytest.raises(ValueError, match="device='cuda'"):
        growth.train(model, Untouchable(), epochs=1, device="cuda")


def test_finetune_phase_follows_growth_and_ends_the_run(data):
    growth.seed_everything(0)
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    finetune = growth.FineTune(epochs=2, schedule="step", lr=0.2, options={"milestones": [1], "gamma": 0.1})
    grower = growth.Grower(growth.when.Periodic(1), growth.where.RoundRobin([2, 1, 1]), growth.how.AddBlock(),
                           finetune=finetune)
    run = growth.train(model, data, epochs=10, batch_size=48, lr=0.05, grower=grower)
    h = run.history
    # epoch 1: grow to 2-1-1, which the locator reports exhausted at once -> fine-tune epochs 2 and 3 at
    # 0.2, then 0.02; stop
    assert len(h.epochs) == 3 and h.meta["epochs_run"] == 3
    assert h.series("lr") == pytest.approx([0.05, 0.2, 0.02])
    assert [e["kind"] for e in h.events] == ["grow", "finetune"]
    assert h.events[1]["epoch"] == 1 and h.events[1]["epochs"] == 2


def test_finetune_of_none_epochs_takes_the_rest_of_the_run(data):
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    grower = growth.Grower(growth.when.Periodic(2), growth.where.Sequential([2, 1, 1]), growth.how.AddBlock(),
                           finetune=growth.FineTune(epochs=None, schedule="cosine"))
    h = growth.train(model, data, epochs=6, batch_size=48, lr=0.1, grower=grower).history
    assert len(h.epochs) == 6 and h.events[1] == {**h.events[1], "kind": "finetune", "epoch": 2, "epochs": 4}
    assert h.series("lr") == pytest.approx([0.1, 0.1, 0.1, 0.1 * (1 + math.cos(math.pi / 4)) / 2, 0.05,
                                            0.1 * (1 + math.cos(3 * math.pi / 4)) / 2])


def test_evaluation_batches_are_the_training_batch_unless_given(data, monkeypatch):
    """eval_batch_size=None (the default) evaluates val and test in batches of batch_size; a given size is used."""
    asked = []
    real = type(data).eval_loader

    def spy(self, split, batch_size):
        asked.append((split, batch_size))
        return real(self, split, batch_size)

    monkeypatch.setattr(type(data), "eval_loader", spy)
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=0.25)
    growth.train(model, data, epochs=1, batch_size=24, device="cpu")
    assert asked == [("val", 24), ("test", 24)]
    asked.clear()
    growth.train(model, data, epochs=1, batch_size=24, eval_batch_size=7, device="cpu")
    assert asked == [("val", 7), ("test", 7)]
