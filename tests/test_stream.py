"""A growing data stream (growth.data.stream, VT paper App. H): the stages' samples, and the training loop
serving each stage at its epochs."""
from __future__ import annotations

import pytest
import torch

import growth
from growth.data.core import TensorSplits
from growth.data.stream import StagedSplits, stream_indices

LABELS = torch.arange(100) % 10  # 10 classes of 10 samples


def test_progressive_class_adds_whole_classes_nested():
    stages = stream_indices(LABELS, 5, kind="class", first=0.2, seed=3)
    classes = [set(LABELS[i].tolist()) for i in stages]
    assert [len(c) for c in classes] == [2, 4, 6, 8, 10]  # 20% of the classes, linearly to all
    assert all(a < b for a, b in zip(classes, classes[1:]))
    assert all(len(i) == 10 * len(c) for i, c in zip(stages, classes))  # every sample of each class
    assert classes[0] != set(LABELS[stream_indices(LABELS, 5, kind="class", first=0.2, seed=4)[0]].tolist())


def test_progressive_data_samples_with_replacement():
    stages = stream_indices(LABELS, 3, kind="data", first=0.5, seed=0)
    assert [len(i) for i in stages] == [50, 75, 100]
    assert len(set(stages[-1].tolist())) < 100  # drawn with replacement: repeats
    again = stream_indices(LABELS, 3, kind="data", first=0.5, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(stages, again))


@pytest.mark.parametrize("kwargs, match", [(dict(kind="task"), "kind='task'"), (dict(first=0.0), "first=0.0"),
                                           (dict(stages=0), "stages=0")])
def test_bad_stream_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stream_indices(LABELS, **{"stages": 3, "kind": "class", "first": 0.2, "seed": 0, **kwargs})


def _staged():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(100, 3, 8, 8, generator=g), LABELS.clone()
    base = TensorSplits("tiny", train=(x, y), val=(x[:0], y[:0]), test=(x[:20], y[:20]), num_classes=10,
                        classes=[str(c) for c in range(10)], mean=(0.0,) * 3, std=(1.0,) * 3, flip=False, pad=0)
    return StagedSplits(base, stream_indices(y, 3, kind="class", first=0.2, seed=0), [1, 2, 1], kind="class")


def test_stage_at_follows_the_stage_lengths():
    data = _staged()
    assert [data.stage_at(e) for e in range(6)] == [0, 1, 1, 2, 2, 2]


def test_the_loop_trains_each_stage_on_its_samples():
    data = _staged()
    model = growth.build_model("ResNet-20", num_classes=10, width=0.25)
    run = growth.train(model, data, epochs=4, batch_size=16, lr=0.01, augment=False)
    assert [r["data_stage"] for r in run.history.epochs] == [0, 1, 1, 2]
    assert [r["train_samples"] for r in run.history.epochs] == [20, 60, 60, 100]
    assert run.history.meta["cost"]["training_samples"] == 20 + 60 + 60 + 100
