"""Content-addressed runs: growth.train(resume=True) reuses a finished run, resumes an interrupted one,
computes a changed one; growth.runs.run_jobs runs jobs that way, in one process or several."""
from __future__ import annotations

import pytest

import growth
from growth.history import History
from growth.recipes.fragrow import fragrow_config, run_fragrow
from growth.runs import report, run_jobs
from growth.train import checkpoint_path_for

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def no_fresh_request(monkeypatch):
    """conftest.py asks for fresh runs when nbval runs in the same session; these tests decide themselves."""
    monkeypatch.delenv("GROWTH_FRESH", raising=False)


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
    assert set(run_jobs(run_fragrow, list(zip(configs, pooled)), workers=2).values()) == {"reused"}


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


def test_other_meta_is_another_run(tmp_path):
    config, path = _configs()[1], tmp_path / "a.json"
    run_jobs(run_fragrow, [(config, path)], meta={"notebook": "x"})
    assert run_jobs(run_fragrow, [(config, path)], meta={"notebook": "y"}) == {str(path): "computed"}


def test_fresh_environment_variable_computes_everything(tmp_path, monkeypatch):
    config, path = _configs()[1], tmp_path / "a.json"
    run_jobs(run_fragrow, [(config, path)])
    monkeypatch.setenv("GROWTH_FRESH", "1")
    assert run_jobs(run_fragrow, [(config, path)]) == {str(path): "computed"}


def test_an_interrupted_job_resumes(tmp_path):
    config, path = _configs(epochs=3)[0], tmp_path / "a.json"
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
    assert checkpoint_path_for(path).exists()
    assert run_jobs(run_fragrow, [(config, path)]) == {str(path): "resumed"}
    history = History.load(path)
    assert history.meta["resumed"] == [1] and history.complete
    assert run_jobs(run_fragrow, [(config, path)]) == {str(path): "reused"}


def test_an_edit_of_the_package_invalidates_every_finished_run(tmp_path, monkeypatch):
    import sys

    config, path = _configs()[1], tmp_path / "a.json"
    run_jobs(run_fragrow, [(config, path)])
    assert run_jobs(run_fragrow, [(config, path)]) == {str(path): "reused"}
    monkeypatch.setattr(sys.modules["growth.train"], "source_digest", lambda: "edited")
    assert run_jobs(run_fragrow, [(config, path)]) == {str(path): "computed"}


def test_source_digest_covers_every_training_module_and_no_presentation_module(tmp_path, monkeypatch):
    import shutil

    import growth.fingerprint as fp

    copy = tmp_path / "growth"
    shutil.copytree(fp.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fp, "PACKAGE", copy)
    fp.source_digest.cache_clear()
    try:
        before = fp.source_digest()
        for name in fp.PRESENTATION:  # tables and verdicts can change without invalidating a run
            fp.source_digest.cache_clear()
            (copy / name).write_text((copy / name).read_text() + "\n# an edit\n")
            assert fp.source_digest() == before, name
        fp.source_digest.cache_clear()
        (copy / "when" / "periodic.py").write_text((copy / "when" / "periodic.py").read_text() + "\n# an edit\n")
        assert fp.source_digest() != before
    finally:
        fp.source_digest.cache_clear()


def test_no_training_code_imports_a_presentation_module():
    """What PRESENTATION leaves out of the digest must be out of reach of every run."""
    import subprocess
    import sys

    from growth.fingerprint import PRESENTATION

    modules = ", ".join(repr("growth." + n[:-3].replace("/", ".")) for n in PRESENTATION)
    code = ("import sys, growth, growth.train, growth.runs, growth.checkpoint, growth.__main__\n"
            "import growth.recipes.autogrow, growth.recipes.vt, growth.recipes.fragrow\n"
            f"loaded = [m for m in ({modules},) if m in sys.modules]\n"
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_reuses_only_the_same_run(tmp_path):
    data = growth.load_dataset("synthetic", num_train=64, num_test=32, val_fraction=0.25)

    def once(**kw):
        growth.seed_everything(0)
        model = growth.build_model("CNN4", num_classes=10, width=0.125)
        return growth.train(model, data, **{"epochs": 2, "batch_size": 32, "history_path": tmp_path / "h.json",
                                           "resume": True, **kw})

    first = once()
    assert first.outcome == "computed" and first.model is not None
    again = once()
    assert again.outcome == "reused" and again.model is None
    assert again.history.to_dict() == History.load(tmp_path / "h.json").to_dict()
    assert once(lr=0.05).outcome == "computed"
    assert once(lr=0.05, resume=False).outcome == "computed"


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
    assert "0 reused, 0 resumed, 2 computed (1 diverged)" in capsys.readouterr().out
    assert History.load(path_bad).diverged and History.load(path_good).complete
    assert run_jobs(run_fragrow, [(bad, path_bad)]) == {str(path_bad): "reused"}


def test_report_counts_and_refuses_unknown_outcomes(capsys):
    assert report(["reused", "computed", "computed"]).startswith("runs: 1 reused, 0 resumed, 2 computed")
    with pytest.raises(ValueError, match="unknown"):
        report(["done"])
