"""Checkpoints: what is refused (another configuration, another code version, a damaged file), in-process
resume equal to an uninterrupted run, one writer per History, a diverging run stopping itself, and the
History's status.  (Resuming after a real SIGKILL, for the three recipes: tests/test_resume.py.)"""
from __future__ import annotations

import json
import math
import multiprocessing
import warnings

import pytest
import torch

import growth
from growth.checkpoint import CheckpointError, read_header, save_checkpoint
from growth.files import FileBusyError, FileLock
from growth.history import History, IncompleteHistoryWarning
from growth.train import TrainingDiverged, checkpoint_path_for

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return growth.load_dataset("synthetic", num_train=96, num_test=48, val_fraction=0.25, device="cpu")


def _run(data, path, epochs=4, lr=0.05, width=0.25, stop_after=None, **kw):
    """A growing run writing ``path``; ``stop_after``: raise KeyboardInterrupt after that many epochs
    (an in-process stand-in for a kill: the loop is left between two epochs)."""
    growth.seed_everything(0)
    model = growth.build_model("Basic3ResNet-1-1-1", num_classes=data.num_classes, width=width)
    grower = growth.Grower(growth.when.Periodic(1), growth.where.RoundRobin([2, 2, 2]), growth.how.AddBlock())
    meta = {"note": "test"}
    if stop_after is not None:
        original = History.save

        def save(self, p):
            out = original(self, p)
            if len(self.epochs) == stop_after and self.status == "running":
                raise KeyboardInterrupt
            return out
        History.save = save
        try:
            with pytest.raises(KeyboardInterrupt):
                growth.train(model, data, epochs=epochs, batch_size=32, lr=lr, seed=0, grower=grower,
                             history_path=path, meta=meta, **kw)
        finally:
            History.save = original
        return None
    return growth.train(model, data, epochs=epochs, batch_size=32, lr=lr, seed=0, grower=grower,
                        history_path=path, meta=meta, **kw)


def test_resume_in_process_equals_an_uninterrupted_run(data, tmp_path):
    whole = _run(data, tmp_path / "whole.json").history
    _run(data, tmp_path / "cut.json", stop_after=3)
    # the History was saved after epoch 3, the checkpoint of epoch 2 before it was cut
    assert read_header(checkpoint_path_for(tmp_path / "cut.json"))["epoch"] == 2
    resumed = _run(data, tmp_path / "cut.json", resume=True).history
    assert resumed.meta["resumed"] == [2]
    assert resumed.without_wall_clock() == whole.without_wall_clock()
    assert not checkpoint_path_for(tmp_path / "cut.json").exists()


def test_resume_without_a_checkpoint_starts_afresh(data, tmp_path):
    run = _run(data, tmp_path / "h.json", epochs=2, resume=True)
    assert run.history.complete and "resumed" not in run.history.meta


@pytest.mark.parametrize("change, word", [
    ({"lr": 0.04}, "config"),
    ({"width": 0.5}, "model"),
])
def test_a_checkpoint_of_another_configuration_is_refused(data, tmp_path, change, word):
    _run(data, tmp_path / "h.json", stop_after=2)
    with pytest.raises(CheckpointError, match=f"another configuration .*{word}"):
        _run(data, tmp_path / "h.json", resume=True, **change)


def test_a_checkpoint_of_another_code_version_is_refused(data, tmp_path):
    _run(data, tmp_path / "h.json", stop_after=2)
    ckpt = checkpoint_path_for(tmp_path / "h.json")
    raw = ckpt.read_bytes()
    header = read_header(ckpt)
    ckpt.write_bytes(raw.replace(header["source"].encode(), b"0" * len(header["source"]), 1))
    with pytest.raises(CheckpointError, match="another version of the growth package"):
        _run(data, tmp_path / "h.json", resume=True)


@pytest.mark.parametrize("cut", [10, 200, -100, -1])
def test_a_truncated_checkpoint_is_refused(data, tmp_path, cut):
    _run(data, tmp_path / "h.json", stop_after=2)
    ckpt = checkpoint_path_for(tmp_path / "h.json")
    ckpt.write_bytes(ckpt.read_bytes()[:cut])
    with pytest.raises(CheckpointError, match="truncated|not a growth checkpoint"):
        _run(data, tmp_path / "h.json", resume=True)


def test_a_damaged_payload_is_refused(tmp_path):
    path = tmp_path / "x.ckpt"
    save_checkpoint(path, {"source": "s", "fingerprint": {}}, {"a": torch.arange(10)})
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0xFF
    path.write_bytes(bytes(raw))
    from growth.checkpoint import load_checkpoint
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path, source="s", fingerprint={})


def test_a_fresh_run_replaces_a_stale_checkpoint_and_temporaries(data, tmp_path):
    _run(data, tmp_path / "h.json", stop_after=2)
    stale = tmp_path / ".h.ckpt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    run = _run(data, tmp_path / "h.json", epochs=2)
    assert run.history.complete and "resumed" not in run.history.meta
    assert not stale.exists() and not checkpoint_path_for(tmp_path / "h.json").exists()


def _hold_lock(path, ready, release):
    with FileLock(path, "history"):
        ready.set()
        release.wait(30)


def test_two_runs_cannot_write_one_history(data, tmp_path):
    path = tmp_path / "h.json"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(FileBusyError, match="being written by process"):
            _run(data, path, epochs=1)
    finally:
        release.set()
        holder.join(30)
    assert _run(data, path, epochs=1).history.complete  # free again once the other process is done


def test_a_diverging_run_stops_with_a_valid_history(data, tmp_path):
    path = tmp_path / "h.json"
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch \d, step \d of 3: the loss became (NaN|infinite)"):
        _run(data, path, lr=1e6)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    history = History.load(path)
    where = history.meta["diverged"]
    assert history.diverged and where["epoch"] == len(history.epochs) and 1 <= where["step"] <= where["steps"] == 3
    assert history.epochs[-1]["train_loss"] is None and all(math.isfinite(r["train_loss"]) for r in history.epochs[:-1])
    assert all(e["epoch"] < where["epoch"] for e in history.events)  # it stopped: no growth after
    assert not checkpoint_path_for(path).exists()


def test_history_statuses_and_the_incomplete_warning(tmp_path):
    h = History(meta={"status": "running", "epochs": 5}, epochs=[{"epoch": 1, "train_loss": math.nan}])
    h.save(tmp_path / "h.json")
    assert json.loads((tmp_path / "h.json").read_text())["epochs"][0]["train_loss"] is None
    with pytest.warns(IncompleteHistoryWarning, match="incomplete: its run stopped after epoch 1 of 5"):
        assert History.load(tmp_path / "h.json").status == "running"
    h.meta["status"] = "complete"
    h.save(tmp_path / "h.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert History.load(tmp_path / "h.json").complete
    assert History(meta={"epochs_run": 3}).complete  # written before statuses existed


def test_every_optimizer_survives_a_checkpoint_and_a_growth():
    """Pickled with its model (one torch.save), every optimizer can be rebuilt over a grown model."""
    import io

    from growth.optim import OPTIMIZERS, build_optimizer, named_state, rebuild_optimizer

    for name in OPTIMIZERS:
        model = growth.build_model("Basic3ResNet-1-1-1", num_classes=10, width=0.25)
        opt = build_optimizer(model, name, lr=0.01)
        model(torch.randn(2, 3, 32, 32)).sum().backward()
        opt.step()
        buffer = io.BytesIO()
        torch.save({"model": model, "optimizer": opt}, buffer)
        buffer.seek(0)
        back = torch.load(buffer, weights_only=False)
        model2, opt2 = back["model"], back["optimizer"]
        assert all(any(p is q for q in model2.parameters()) for g in opt2.param_groups for p in g["params"]), name
        old = named_state(opt2, model2)
        grown = growth.grow_depth(model2, 0, init="zero")
        new = rebuild_optimizer(opt2, old, grown)
        grown(torch.randn(2, 3, 32, 32)).sum().backward()
        new.step()
