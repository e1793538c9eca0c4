"""growth.distributed: one run on two CPU processes (gloo), growth included, against the same run on one
process; killed midway and resumed; rank 0 alone writes."""
from __future__ import annotations

import multiprocessing
import os
import time
import warnings

import pytest
import torch

from growth.history import History
from growth.recipes.vt import run_vt, vt_config

WORLD = 2


def _config(**overrides):
    return vt_config("smoke", variant="growing", epochs=6, T0=2,
                     dataset_options={"num_train": 256, "num_test": 128, "num_classes": 10}, **overrides)


def _rank(rank: int, store: str, path: str, resume: bool, sync_bn: bool) -> None:
    import torch.distributed as dist

    from growth.distributed import SYNC_BN_ENV

    torch.set_num_threads(1)
    os.environ[SYNC_BN_ENV] = "1" if sync_bn else "0"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        run_vt(_config(), history_path=path, resume=resume, progress=False)  # rank 0 alone writes it
    finally:
        dist.destroy_process_group()


def _launch(tmp_path, name: str, *, resume: bool = False, sync_bn: bool = False, kill_at: int | None = None):
    """Run the two ranks; with ``kill_at``, SIGKILL both once rank 0's checkpoint holds that epoch."""
    store = tmp_path / f"store-{name}-{time.monotonic_ns()}"
    path = tmp_path / f"{name}.json"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_rank, args=(r, str(store), str(path), resume, sync_bn)) for r in range(WORLD)]
    for p in procs:
        p.start()
    if kill_at is not None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if path.exists() and path.with_suffix(".ckpt").exists():
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # it is incomplete: it is running
                        if len(History.load(path).epochs) >= kill_at:
                            break
                except (OSError, ValueError):  # a History being replaced: look again
                    pass
            time.sleep(0.02)
        for p in procs:
            p.kill()
    for p in procs:
        p.join(300)
    return path, [p.exitcode for p in procs]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    torch.set_num_threads(1)
    return run_vt(_config(), history_path=str(tmp_path_factory.mktemp("one") / "h.json"), progress=False).history


def test_two_processes_grow_like_one(tmp_path, single):
    """Same growth events, architectures and FLOPs; losses close (BatchNorm sees each process's half-batch)."""
    sync_bn = False
    path, codes = _launch(tmp_path, "ddp", sync_bn=sync_bn)
    assert codes == [0, 0]
    h = History.load(path)
    assert h.meta["distributed"] == {"world": 2, "sync_bn": sync_bn, "batch_per_process": [32]}
    strip = lambda e: {k: e[k] for k in ("epoch", "kind", "target")}  # noqa: E731
    assert [strip(e) for e in h.events] == [strip(e) for e in single.events] and len(h.events) == 2
    assert [e["spec"] for e in h.epochs] == [e["spec"] for e in single.epochs]
    assert h.last("macs") == single.last("macs")  # the same samples and growth steps are charged
    for mine, theirs in zip(h.epochs, single.epochs):
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=0.3)
        assert mine["test_loss"] == pytest.approx(theirs["test_loss"], rel=0.3)
    assert not list(tmp_path.glob("*.ckpt"))


def test_killed_and_resumed(tmp_path):
    reference, codes = _launch(tmp_path, "reference")
    assert codes == [0, 0]
    path, codes = _launch(tmp_path, "killed", kill_at=3)
    assert codes == [-9, -9] and path.with_suffix(".ckpt").exists()
    path, codes = _launch(tmp_path, "killed", resume=True)
    assert codes == [0, 0]
    h = History.load(path)
    assert h.meta["resumed"] and h.meta["outcome"] == "resumed"
    assert h.without_wall_clock() == History.load(reference).without_wall_clock()


def test_bad_settings_are_refused():
    from growth.distributed import Distributed

    with pytest.raises(ValueError, match="batch_size=63 is the global batch"):
        Distributed(rank=0, world=2).check_batch_size(63)
    with pytest.raises(ValueError, match="sync_bn=True needs GPUs"):
        Distributed(rank=0, world=2, sync_bn=True).device(torch.device("cpu"))
