"""growth.runs.run_jobs: finished runs reused, interrupted ones resumed, the rest computed; workers."""
from __future__ import annotations

import pytest

from growth.checkpoint import save_checkpoint
from growth.fingerprint import source_digest
from growth.history import History
from growth.recipes.fragrow import fragrow_config, run_fragrow
from growth.runs import job_state, run_jobs, run_key
from growth.train import checkpoint_path_for

pytestmark = pytest.mark.usefixtures("one_thread")


def _configs(epochs=3):
    return [fragrow_config("smoke", policy=p, epochs=epochs, min_finetune_epochs=1) for p in ("periodic", "small")]


def test_run_jobs_in_two_processes_writes_what_one_process_writes(tmp_path):
    """Each run seeds itself: the History of a run does not depend on the worker that ran it."""
    configs = _configs()
    alone = [tmp_path / f"alone-{i}.json" for i in range(2)]
    pooled = [tmp_path / f"pooled-{i}.json" for i in range(2)]
    assert set(run_jobs(run_fragrow, list(zip(configs, alone))).values()) == {"computed"}
    assert set(run_jobs(run_fragrow, list(zip(configs, pooled)), workers=2).values()) == {"computed"}
    for a, b in zip(alone, pooled):
        assert History.load(a).without_wall_clock()["epochs"] == History.load(b).without_wall_clock()["epochs"]


def test_finished_runs_are_reused_and_changed_ones_computed(tmp_path, capsys):
    configs = _configs()
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    run_jobs(run_fragrow, list(zip(configs, paths)))
    assert "runs: 0 reused, 0 resumed, 2 computed" in capsys.readouterr().out
    first = [p.read_text() for p in paths]
    outcomes = run_jobs(run_fragrow, list(zip(configs, paths)))
    assert outcomes == {str(p): "reused" for p in paths}
    assert "runs: 2 reused, 0 resumed, 0 computed" in capsys.readouterr().out
    assert [p.read_text() for p in paths] == first  # untouched
    changed = [configs[0], fragrow_config("smoke", policy="small", epochs=3, min_finetune_epochs=1, lr=0.05)]
    assert list(run_jobs(run_fragrow, list(zip(changed, paths))).values()) == ["reused", "computed"]
    assert History.load(paths[1]).meta["recipe_config"]["lr"] == 0.05
    assert list(run_jobs(run_fragrow, list(zip(changed, paths)), fresh=True).values()) == ["computed", "computed"]


def test_fresh_environment_variable_computes_everything(tmp_path, monkeypatch):
    config, path = _configs()[1], tmp_path / "a.json"
    run_jobs(run_fragrow, [(config, path)])
    monkeypatch.setenv("GROWTH_FRESH", "1")
    assert run_jobs(run_fragrow, [(config, path)]) == {str(path): "computed"}


def test_an_interrupted_run_resumes_and_a_stale_checkpoint_is_dropped(tmp_path):
    config, path = _configs(epochs=3)[0], tmp_path / "a.json"
    key = run_key(run_fragrow, config)
    run_jobs(run_fragrow, [(config, path)])
    whole = History.load(path)
    # make it look interrupted: a running History and a checkpoint of this key
    assert job_state(path, key) == "reused"
    ckpt = checkpoint_path_for(path)
    save_checkpoint(ckpt, {"run_key": key, "source": source_digest(), "fingerprint": {}}, {})
    whole.meta["status"] = "running"
    whole.save(path)
    assert job_state(path, key) == "resumed"
    save_checkpoint(ckpt, {"run_key": "another", "source": source_digest(), "fingerprint": {}}, {})
    assert job_state(path, key) == "computed"
    assert run_jobs(run_fragrow, [(config, path)]) == {str(path): "computed"}
    assert not ckpt.exists() and History.load(path).complete


def test_run_jobs_resumes_a_real_checkpoint(tmp_path):
    """A job whose checkpoint is this key's continues from it (the History says where)."""
    config, path = _configs(epochs=3)[0], tmp_path / "a.json"
    key = run_key(run_fragrow, config)
    original = History.save

    def save_then_stop(self, p):
        out = original(self, p)
        if len(self.epochs) == 2 and self.status == "running":
            raise KeyboardInterrupt
        return out

    History.save = save_then_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            run_jobs(run_fragrow, [(config, path)])
    finally:
        History.save = original
    assert job_state(path, key) == "resumed"
    assert run_jobs(run_fragrow, [(config, path)]) == {str(path): "resumed"}
    assert History.load(path).meta["resumed"] == [1]


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_run_jobs_rejects_bad_workers(workers):
    with pytest.raises(ValueError, match="workers"):
        run_jobs(run_fragrow, [], workers=workers)


def test_run_jobs_rejects_two_jobs_on_one_path(tmp_path):
    configs = _configs()
    with pytest.raises(ValueError, match="one History twice"):
        run_jobs(run_fragrow, [(configs[0], tmp_path / "a.json"), (configs[1], tmp_path / "a.json")])


def test_a_diverged_job_ends_alone_and_is_reused(tmp_path, capsys):
    good, path_good = _configs()[1], tmp_path / "good.json"
    bad, path_bad = fragrow_config("smoke", policy="small", epochs=3, min_finetune_epochs=1, lr=1e6), tmp_path / "bad.json"
    run_jobs(run_fragrow, [(bad, path_bad), (good, path_good)])
    assert "(1 of the computed or resumed diverged)" in capsys.readouterr().out
    assert History.load(path_bad).diverged and History.load(path_good).complete
    assert run_jobs(run_fragrow, [(bad, path_bad)]) == {str(path_bad): "reused"}


def test_run_key_follows_function_config_and_source():
    a, b = _configs()
    assert run_key(run_fragrow, a) == run_key(run_fragrow, a)
    assert run_key(run_fragrow, a) != run_key(run_fragrow, b)
    assert run_key(run_fragrow, a) != run_key(run_jobs, a)


def test_an_edit_of_the_package_invalidates_every_finished_run(tmp_path, monkeypatch):
    import growth.runs

    config, path = _configs()[1], tmp_path / "a.json"
    run_jobs(run_fragrow, [(config, path)])
    assert run_jobs(run_fragrow, [(config, path)]) == {str(path): "reused"}
    monkeypatch.setattr(growth.runs, "source_digest", lambda: "edited")
    assert run_jobs(run_fragrow, [(config, path)], fresh=False) == {str(path): "computed"}


def test_source_digest_covers_every_module(tmp_path, monkeypatch):
    import shutil

    import growth.fingerprint as fp

    copy = tmp_path / "growth"
    shutil.copytree(fp.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fp, "PACKAGE", copy)
    fp.source_digest.cache_clear()
    try:
        before = fp.source_digest()
        fp.source_digest.cache_clear()
        (copy / "when" / "periodic.py").write_text((copy / "when" / "periodic.py").read_text() + "\n# an edit\n")
        assert fp.source_digest() != before
    finally:
        fp.source_digest.cache_clear()
