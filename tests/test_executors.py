"""growth.executors: the same runs through each executor give the same Histories; GPU workers each see one
GPU; a cluster job preempted midway is requeued and resumes from its checkpoint (submitit's local
executor standing in for SLURM); the string forms and their errors."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from growth.executors import ClusterExecutor, GPUExecutor, LocalExecutor, executor_from_spec
from growth.history import History
from growth.recipes.mixturegrowth import mixturegrowth_config, run_mixturegrowth
from growth.runs import PROGRESS_ENV, run_jobs


def _square(x):
    return x * x


def _pinned(_):
    time.sleep(0.2)
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


def _config(seed, **data):
    options = {"num_train": 96, "num_test": 48, "num_classes": 10, **data}
    return mixturegrowth_config("smoke", seed=seed, dataset_options=options)


def test_local_executor_in_order_and_reports_each_task():
    seen = []
    for executor in (LocalExecutor(1), LocalExecutor(2)):
        seen.clear()
        assert executor.run(_square, [(i,) for i in range(5)], on_done=lambda i, r: seen.append((i, r))) == \
            [0, 1, 4, 9, 16]
        assert sorted(seen) == [(i, i * i) for i in range(5)]


def _share(_):
    import torch

    from growth.layout import cores_per_run

    return torch.get_num_threads(), cores_per_run()


def test_local_workers_run_one_thread_each_and_know_their_share_of_the_cores():
    """A worker trains at one thread (the numbers of one process); a run with threads="auto" may take its share."""
    from growth.layout import cores_per_run

    assert LocalExecutor(2).run(_share, [(i,) for i in range(2)]) == [(1, max(1, cores_per_run() // 2))] * 2


def test_gpu_executor_gives_each_worker_one_gpu():
    """Works without GPUs: what is checked is the pinning (CUDA_VISIBLE_DEVICES per worker process)."""
    results = GPUExecutor(gpus=["0", "1"]).run(_pinned, [(i,) for i in range(6)])
    by_worker = {}
    for pid, gpu in results:
        by_worker.setdefault(pid, set()).add(gpu)
    assert all(len(gpus) == 1 for gpus in by_worker.values())
    assert {g for gpus in by_worker.values() for g in gpus} <= {"0", "1"}
    assert len({next(iter(g)) for g in by_worker.values()}) == len(by_worker)  # no two workers share a GPU


def test_gpu_executor_errors(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no GPU found"):
        GPUExecutor()
    with pytest.raises(ValueError, match="twice"):
        GPUExecutor(gpus=[0, 0])


def test_specs(tmp_path):
    assert executor_from_spec(None, workers=3).workers == 3
    assert executor_from_spec("local", workers=2).workers == 2
    assert executor_from_spec("local:4").workers == 4
    assert executor_from_spec("gpus:2,3").gpus == ["2", "3"]
    cluster = executor_from_spec(f"submitit-local:{tmp_path},timeout_min=5,poll=0.5")
    assert isinstance(cluster, ClusterExecutor) and cluster.cluster == "local"
    assert cluster.parameters == {"timeout_min": 5} and cluster.poll == 0.5
    for spec, match in [("local:x", "positive integer"), ("k8s", "unknown"), ("slurm:", "folder"),
                        (f"slurm:{tmp_path},partition", "key=value"), (3, "not allowed")]:
        with pytest.raises(ValueError, match=match):
            executor_from_spec(spec)
    with pytest.raises(ValueError, match="not all allowed"):
        ClusterExecutor(tmp_path, cluster="local", slurm_partitionz="gpu")


def test_runs_through_every_executor_are_the_same_and_progress_is_logged(tmp_path, monkeypatch):
    jobs = lambda where: [(_config(seed), str(tmp_path / where / f"seed{seed}.json")) for seed in (0, 1)]  # noqa: E731
    log = tmp_path / "progress.log"
    monkeypatch.setenv(PROGRESS_ENV, str(log))
    run_jobs(run_mixturegrowth, jobs("local"), workers=2, quiet=True)
    lines = log.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["runs 1/2", "runs 2/2"]
    assert "computed" in lines[0] and "left" in lines[0] and "left" not in lines[1]
    cluster = ClusterExecutor(tmp_path / "jobs", cluster="local", poll=0.2, timeout_min=10)
    assert set(run_jobs(run_mixturegrowth, jobs("cluster"), executor=cluster, quiet=True).values()) == {"computed"}
    for seed in (0, 1):
        a, b = (History.load(tmp_path / where / f"seed{seed}.json") for where in ("local", "cluster"))
        assert a.without_wall_clock() == b.without_wall_clock()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_a_preempted_cluster_job_is_requeued_and_resumes(tmp_path):
    """Once its first checkpoint is written, the job's task gets the cluster's preemption signal (USR2, what
    SLURM sends before a preemption or the time limit); submitit requeues it with resume=True, and its
    History equals an uninterrupted run's."""
    config = _config(0, num_train=1024)
    reference = run_mixturegrowth(config, history_path=str(tmp_path / "reference.json")).history
    path = tmp_path / "cluster" / "seed0.json"
    cluster = ClusterExecutor(tmp_path / "jobs", cluster="local", poll=0.2, timeout_min=10)

    def preempt():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (cluster.jobs and path.with_suffix(".ckpt").exists()):
            time.sleep(0.05)
        for task in _children(cluster.jobs[0]._process.pid):  # the local controller's task process
            os.kill(task, signal.SIGUSR2)

    thread = threading.Thread(target=preempt)
    thread.start()
    outcomes = run_jobs(run_mixturegrowth, [(config, str(path))], executor=cluster, quiet=True)
    thread.join()
    history = History.load(path)
    assert outcomes == {str(path): "resumed"} and history.meta["resumed"]
    assert history.without_wall_clock() == reference.without_wall_clock()


def test_the_runner_prints_each_finished_run(tmp_path, monkeypatch, capsys):
    """``tools/run_notebooks.py --executor local:1``: the notebook's runs go through that executor and each
    finished run is printed (runs done / total); the notebook's own output does not change."""
    from pathlib import Path

    from growth.runs import EXECUTOR_ENV

    for key in (EXECUTOR_ENV, PROGRESS_ENV, "GROWTH_FRESH"):
        monkeypatch.delenv(key, raising=False)
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(repo / "tools"))
    import run_notebooks

    status = run_notebooks.main(["--executor", "local:1", "--fresh", "--out", str(tmp_path),
                                 str(repo / "notebooks" / "mixturegrowth_features.ipynb")])
    out = capsys.readouterr().out
    assert status == 0 and os.environ[EXECUTOR_ENV] == "local:1"
    assert [line.split(": runs ")[1].split(":")[0] for line in out.splitlines() if ": runs " in line] == \
        ["1/4", "2/4", "3/4", "4/4"]
    assert "runs 1/4" not in (tmp_path / "mixturegrowth_features.ipynb").read_text()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="pretends GPUs on a machine without any")
def test_the_runner_uses_every_gpu_by_default(monkeypatch, capsys, tmp_path):
    """With several GPUs and no executor named, the runner picks `gpus` (here the GPUs are pretended: the
    executor then finds none and the runner stops before any notebook, with status 2)."""
    from pathlib import Path

    from growth.runs import EXECUTOR_ENV

    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(repo / "tools"))
    import run_notebooks

    monkeypatch.setattr(run_notebooks, "visible_gpus", lambda: ["0", "1"])
    status = run_notebooks.main(["--out", str(tmp_path), str(repo / "notebooks" / "quickstart.ipynb")])
    captured = capsys.readouterr()
    assert status == 2 and "one per GPU (--executor gpus)" in captured.out and "no GPU found" in captured.err


def test_an_unwritable_progress_file_does_not_stop_the_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, str(tmp_path / "gone" / "progress.log"))
    with pytest.warns(UserWarning, match="cannot be written"):
        outcomes = run_jobs(run_mixturegrowth, [(_config(0), str(tmp_path / "h.json"))], quiet=True)
    assert list(outcomes.values()) == ["computed"]
