"""Every bad input is refused before any work, with an error that names the parameter, the bad value and
what is allowed: one table over the Python API, the command line, the notebooks and their runner, the
profiles and the data folders.

Each row is ``(id, call, words)``: ``call(ctx)`` must fail (``ValueError`` from the API, exit status 2
and a message on stderr from a command) with a message containing every one of ``words``.  Training
is impossible while the table runs: the training loop's epoch function raises if it is ever reached,
so a row that failed only after training started fails the test.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import growth
from growth.how import AddBlock, AddWidth
from growth.protocol import FineTune, Grower
from growth.recipes.autogrow import autogrow_config, run_autogrow
from growth.recipes.fragrow import fragrow_config
from growth.recipes.vt import vt_config
from growth.when import Convergent, FRAGrow, LipGrow, Periodic
from growth.where import RoundRobin, Sequential, StoppingRoundRobin

REPO = Path(__file__).resolve().parent.parent
UNWRITABLE = "/proc/growth-no-such-folder/run.json"  # not even root can create a folder in /proc


@dataclass
class Ctx:
    tmp: Path
    data: object
    capsys: object


def _model(name="Basic3ResNet-1-1-1", classes=10):
    return growth.build_model(name, num_classes=classes, width=0.25)


def _train(ctx, model=None, **kw):
    kw.setdefault("epochs", 3)
    return growth.train(_model() if model is None else model, ctx.data, **kw)


def _grower(where=None, when=None, how=None, **kw):
    return Grower(when or Periodic(1), where or RoundRobin([2, 2, 2]), how or AddBlock(), **kw)


def _cli(ctx, *args):
    """``python -m growth ARGS`` in this process: (status, stderr)."""
    from growth.__main__ import main

    status = main(list(args))
    return status, ctx.capsys.readouterr().err


def _with_env(name, value, call):
    """``call()`` with the environment variable ``name`` set to ``value``; the environment restored after."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        return call()
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def _runner(ctx, *args):
    """``tools/run_notebooks.py ARGS`` in this process: (status, stderr)."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import run_notebooks
    finally:
        sys.path.pop(0)
    status = run_notebooks.main([*args, "--out", str(ctx.tmp / "out")])
    return status, ctx.capsys.readouterr().err


def _write_cifar(ctx, truncate=False):
    from test_data import write_cifar10

    write_cifar10(ctx.tmp)
    if truncate:
        batch = ctx.tmp / "cifar-10-batches-py" / "data_batch_1"
        batch.write_bytes(batch.read_bytes()[:100])
    return ctx.tmp


def _profile(ctx, text):
    path = ctx.tmp / "mine.yaml"
    path.write_text(text)
    return str(path)


ROWS = [
    # --- growth.train
    ("train epochs<0", lambda c: _train(c, epochs=-1), ["epochs=-1", "non-negative integer"]),
    ("train epochs float", lambda c: _train(c, epochs=2.5), ["epochs=2.5", "integer"]),
    ("train batch_size 0", lambda c: _train(c, batch_size=0), ["batch_size=0", "positive integer"]),
    ("train lr inf", lambda c: _train(c, lr=math.inf), ["lr=inf", "finite number"]),
    ("train lr nan", lambda c: _train(c, lr=math.nan), ["lr=nan", "finite number"]),
    ("train lr negative", lambda c: _train(c, lr=-0.1), ["lr=-0.1", "(0, inf)"]),
    ("train weight_decay nan", lambda c: _train(c, weight_decay=math.nan), ["weight_decay=nan", "finite non-negative"]),
    ("train momentum nan", lambda c: _train(c, momentum=math.nan), ["momentum=nan", "finite non-negative"]),
    ("train momentum 1.5", lambda c: _train(c, momentum=1.5), ["momentum=1.5", "[0, 1)"]),
    ("train schedule unknown", lambda c: _train(c, schedule="cosinus"), ["schedule='cosinus'", "cosine"]),
    ("train step gamma<0", lambda c: _train(c, schedule="step", schedule_options={"gamma": -1}), ["gamma=-1", "(0, 1]"]),
    ("train cosine min_lr<0", lambda c: _train(c, schedule="cosine", schedule_options={"min_lr": -5}),
     ["min_lr=-5", "[0, 0.1]"]),
    ("train step milestones", lambda c: _train(c, schedule="step", schedule_options={"milestones": [-1]}),
     ["milestones=[-1]", "non-negative integer"]),
    ("train schedule option", lambda c: _train(c, schedule="cosine", schedule_options={"hold": 2}), ["hold", "min_lr"]),
    ("train label_smoothing 1", lambda c: _train(c, label_smoothing=1.0), ["label_smoothing=1.0", "[0, 1)"]),
    ("train optimizer unknown", lambda c: _train(c, optimizer="sgdd"), ["optimizer='sgdd'", "sgd", "adam"]),
    ("train optimizer options", lambda c: _train(c, optimizer="sgd", optimizer_options={"rule": "inverse"}),
     ["['rule']", "optimizer='sgd'"]),
    ("train device tpu", lambda c: _train(c, device="tpu"), ["device='tpu'", "'cpu'"]),
    ("train unknown keyword", lambda c: _train(c, lrr=0.1), ["lrr", "allowed"]),
    ("train seed<0", lambda c: _train(c, seed=-1), ["seed=-1", "non-negative integer"]),
    ("train eval_batch_size 0", lambda c: _train(c, eval_batch_size=0), ["eval_batch_size=0", "positive integer"]),
    ("train nesterov str", lambda c: _train(c, nesterov="yes"), ["nesterov='yes'", "True or False"]),
    ("train amp str", lambda c: _train(c, amp="on"), ["amp='on'", "True, False or None"]),
    ("train batch_sizes length", lambda c: _train(c, batch_sizes=[64]), ["batch_sizes=[64]", "list of 3"]),
    ("train probe int", lambda c: _train(c, probe=5), ["probe=5", "list of parameter names"]),
    ("train probe unknown", lambda c: _train(c, probe=["no.such.weight"]), ["no.such.weight", "not parameters"]),
    ("train history_path empty", lambda c: _train(c, history_path=""), ["history_path=''", "path of a file"]),
    ("train history_path folder", lambda c: _train(c, history_path=c.tmp), ["history_path=", "is a folder"]),
    ("train history_path under a file", lambda c: (c.tmp.joinpath("f").write_text("x"),
                                                   _train(c, history_path=c.tmp / "f" / "h.json")),
     ["history_path=", "is a file, not a folder"]),
    ("train history_path unwritable", lambda c: _train(c, history_path=UNWRITABLE),
     ["history_path=", "cannot be written"]),
    ("train checkpoint is history", lambda c: _train(c, history_path=c.tmp / "h.json", checkpoint_path=c.tmp / "h.json"),
     ["checkpoint_path=", "is the history_path"]),
    ("train checkpoint_every<0", lambda c: _train(c, checkpoint_every=-1), ["checkpoint_every=-1", "non-negative"]),
    ("train resume str", lambda c: _train(c, resume="yes"), ["resume='yes'", "True or False"]),
    ("train resume without path", lambda c: _train(c, resume=True), ["resume=True", "history_path"]),
    ("train meta str", lambda c: _train(c, meta="x"), ["meta='x'", "dict"]),
    ("train config str", lambda c: growth.train(_model(), c.data, "fast"), ["config='fast'", "TrainConfig"]),
    ("train model str", lambda c: growth.train("ResNet-20", c.data, epochs=1), ["model='ResNet-20'", "nn.Module"]),
    ("train data None", lambda c: growth.train(_model(), None, epochs=1), ["data=None", "DataSplits"]),
    ("train fewer outputs", lambda c: _train(c, model=_model(classes=5)), ["(5,) outputs", "num_classes=10"]),
    ("train more outputs", lambda c: _train(c, model=_model(classes=12)), ["(12,) outputs", "num_classes=10"]),
    ("train grower str", lambda c: _train(c, grower="periodic"), ["grower='periodic'", "growth.Grower"]),
    # --- when / where / how, checked at construction or against the seed before training
    ("targets shallower than seed", lambda c: _train(c, model=_model("Basic3ResNet-2-2-2"),
                                                     grower=_grower(RoundRobin([1, 3, 3]))),
     ["targets=(1, 3, 3)", "shallower", "(2, 2, 2)"]),
    ("targets wrong length", lambda c: _train(c, grower=_grower(Sequential([2, 2]))), ["targets=(2, 2)", "3"]),
    ("targets zero", lambda c: Sequential([0, 1, 1]), ["targets=[0, 1, 1]", "positive target depth"]),
    ("max_depth wrong length", lambda c: _train(c, grower=_grower(StoppingRoundRobin(J=2, max_depth=[3, 3]))),
     ["max_depth=(3, 3)", "3 stages"]),
    ("Periodic 0", lambda c: Periodic(0), ["every=0", "positive integer"]),
    ("StoppingRoundRobin J=0", lambda c: StoppingRoundRobin(J=0), ["J=0", "positive integer"]),
    ("Convergent patience=0", lambda c: Convergent(patience=0), ["patience=0", "positive integer"]),
    ("FRAGrow i_max=0", lambda c: FRAGrow(i_max=0), ["i_max=0", "> 0"]),
    ("LipGrow tolerance=1", lambda c: LipGrow(tolerance=1.0), ["tolerance=1.0", "> 1"]),
    ("AddBlock init unknown", lambda c: AddBlock(init="gaussianx"), ["gaussianx", "gaussian"]),
    ("AddWidth method unknown", lambda c: AddWidth(width=[0.5], method="foo"), ["foo", "net2net"]),
    ("FineTune epochs<0", lambda c: FineTune(epochs=-1), ["epochs=-1", "non-negative integer"]),
    # --- models
    ("model name unknown depth", lambda c: growth.build_model("ResNet-21", num_classes=10), ["ResNet-21", "valid forms"]),
    ("model name malformed", lambda c: growth.build_model("VGG-x", num_classes=10), ["VGG-x", "valid forms"]),
    ("model width too large", lambda c: growth.build_model("ResNet-20", num_classes=10, width=300),
     ["width=300", "GiB", "smaller width"]),
    ("model width<0", lambda c: growth.build_model("ResNet-20", num_classes=10, width=-1), ["width=-1", "> 0"]),
    ("model num_classes 0", lambda c: growth.build_model("ResNet-20", num_classes=0), ["num_classes=0", "positive"]),
    ("model image too small", lambda c: growth.build_model("VGG-11", num_classes=10, image_size=8),
     ["image_size=8", ">= 32"]),
    # --- data
    ("dataset unknown", lambda c: growth.load_dataset("cifar11"), ["cifar11", "cifar10"]),
    ("dataset folder missing", lambda c: growth.load_dataset("cifar10", root=c.tmp / "none"), ["cifar10", "data_batch_1"]),
    ("dataset truncated pickle", lambda c: growth.load_dataset("cifar10", root=_write_cifar(c, truncate=True), verify=False),
     ["data_batch_1", "cannot be read", "truncated"]),
    ("dataset bad md5", lambda c: growth.load_dataset("cifar10", root=_write_cifar(c)), ["cifar10", "verify=False"]),
    ("imagenet without val", lambda c: (c.tmp.joinpath("train", "n01").mkdir(parents=True),
                                        growth.load_dataset("imagenet", root=c.tmp)), ["imagenet", "val"]),
    ("mnist missing", lambda c: growth.load_dataset("mnist", root=c.tmp), ["mnist", "MNIST"]),
    ("synthetic fewer samples than classes", lambda c: growth.load_dataset("synthetic", num_train=5, num_classes=10),
     ["num_train=5", "num_classes=10"]),
    ("val_fraction 1", lambda c: growth.load_dataset("synthetic", val_fraction=1.0), ["val_fraction", "1.0", "[0, 1)"]),
    ("subsample 0", lambda c: growth.load_dataset("synthetic", subsample=0.0), ["subsample", "0.0", "(0, 1]"]),
    ("dataset option unknown", lambda c: growth.load_dataset("synthetic", num_trian=10), ["num_trian", "num_train"]),
    # --- recipes
    ("autogrow variant", lambda c: autogrow_config("smoke", variant="q"), ["variant='q'", "p", "c"]),
    ("autogrow K 0", lambda c: autogrow_config("smoke", K=0).validate(), ["K=0", "positive integer"]),
    ("autogrow profile", lambda c: autogrow_config("huge"), ["huge", "smoke"]),
    ("autogrow config str", lambda c: run_autogrow("smoke"), ["config='smoke'", "autogrow_config"]),
    ("vt variant", lambda c: vt_config("smoke", variant="bigger").validate(), ["variant='bigger'", "full"]),
    ("fragrow policy", lambda c: fragrow_config("smoke", policy="nope").validate(), ["policy='nope'", "fragrow"]),
    ("fragrow alpha nan", lambda c: fragrow_config("smoke", alpha=math.nan).validate(), ["alpha=nan", "finite"]),
    # --- the command line (status 2, message on stderr)
    ("cli lr not a number", lambda c: _cli(c, "run", "autogrow", "--lr", "abc"), ["--lr", "abc"]),
    ("cli out empty", lambda c: _cli(c, "run", "vt", "--out", ""), ["--out=''", "path of a file"]),
    ("cli out folder", lambda c: _cli(c, "run", "vt", "--out", str(c.tmp) + "/"), ["--out=", "is a folder"]),
    ("cli out unwritable", lambda c: _cli(c, "run", "vt", "--out", UNWRITABLE), ["--out=", "cannot be written"]),
    ("cli profile unknown", lambda c: _cli(c, "run", "autogrow", "--profile", "huge"), ["--profile", "huge", "smoke"]),
    ("cli dataset option", lambda c: _cli(c, "run", "fragrow", "--dataset-option", "foo"), ["foo", "KEY=VALUE"]),
    ("cli policy unknown", lambda c: _cli(c, "run", "fragrow", "--policy", "nope", "--out", str(c.tmp / "h.json")),
     ["policy='nope'", "fragrow"]),
    ("cli probe unknown", lambda c: _cli(c, "run", "vt", "--probe", "no.such", "--out", str(c.tmp / "h.json")),
     ["no.such", "not parameters"]),
    ("cli data folder missing", lambda c: _cli(c, "run", "autogrow", "--dataset", "cifar10", "--data-root",
                                                 str(c.tmp / "none"), "--out", str(c.tmp / "h.json")), ["cifar10", "data_batch_1"]),
    ("cli describe too wide", lambda c: _cli(c, "describe", "ResNet-20", "--width", "300"), ["width=300", "smaller width"]),
    ("cli model unknown", lambda c: _cli(c, "describe", "ResNet-21"), ["ResNet-21", "valid forms"]),
    # --- the notebooks' runner and the profiles (status 2, before any kernel starts)
    ("runner -p wrong kind", lambda c: _runner(c, "-p", "epochs", "abc", "notebooks/quickstart.ipynb"),
     ["epochs='abc'", "integer"]),
    ("runner -p unknown", lambda c: _runner(c, "-p", "no_such", "1", "notebooks/quickstart.ipynb"),
     ["no_such", "declare"]),
    ("runner -p list expected", lambda c: _runner(c, "-p", "seeds", "0", "notebooks/quickstart.ipynb"),
     ["seeds=0", "a list"]),
    ("runner profile unknown", lambda c: _runner(c, "--profile", "nope", "notebooks/quickstart.ipynb"),
     ["nope", "smoke"]),
    ("runner profile bad value", lambda c: _runner(c, "--profile", _profile(c, "epochs: abc\n"), "notebooks/quickstart.ipynb"),
     ["epochs='abc'", "integer", "mine.yaml"]),
    ("runner profile not a mapping", lambda c: _runner(c, "--profile", _profile(c, "- 1\n- 2\n"), "notebooks/quickstart.ipynb"),
     ["mine.yaml", "mapping"]),
    ("runner notebook missing", lambda c: _runner(c, "notebooks/none.ipynb"), ["none.ipynb", "no such file"]),
    ("runner executor unknown", lambda c: _runner(c, "--executor", "k8s", "notebooks/quickstart.ipynb"),
     ["executor='k8s'", "local[:N]", "gpus"]),
    ("runner executor workers", lambda c: _runner(c, "--executor", "local:many", "notebooks/quickstart.ipynb"),
     ["executor='local:many'", "positive integer"]),
    ("runner layout", lambda c: _runner(c, "-p", "channels_last", "fast", "notebooks/quickstart.ipynb"),
     ["channels_last='fast'", "auto, true or false"]),
    ("train threads", lambda c: _train(c, threads=0), ["threads=0", "positive number", "'auto'"]),
    ("train threads from the environment", lambda c: _with_env("GROWTH_THREADS", "many", lambda: _train(c)),
     ["GROWTH_THREADS='many'", "auto or a positive number"]),
    ("runner threads", lambda c: _runner(c, "-p", "threads", "0", "notebooks/quickstart.ipynb"),
     ["threads=0", "auto or a positive number"]),
    ("train layout from the environment", lambda c: _with_env("GROWTH_CHANNELS_LAST", "fast", lambda: _train(c)),
     ["GROWTH_CHANNELS_LAST='fast'", "auto, true or false"]),
]


@pytest.fixture
def no_training(monkeypatch):
    def trained(*args, **kwargs):
        raise AssertionError("training started: the bad input was not refused before training")

    monkeypatch.setattr(sys.modules["growth.train"], "train_epoch", trained)


@pytest.fixture(scope="module")
def data():
    return growth.load_dataset("synthetic", num_train=64, num_test=32, val_fraction=0.25)


def test_the_table_has_at_least_60_rows():
    assert len(ROWS) >= 60 and len({r[0] for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("name, call, words", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_is_refused_before_any_work(name, call, words, tmp_path, data, capsys, no_training, monkeypatch):
    monkeypatch.chdir(tmp_path) if name.startswith("cli") else monkeypatch.chdir(REPO)
    ctx = Ctx(tmp_path, data, capsys)
    try:
        result = call(ctx)
    except ValueError as err:
        message = str(err)
    else:
        assert isinstance(result, tuple) and result[0] == 2, f"accepted: {result!r}"
        message = result[1]
    missing = [w for w in words if w not in message]
    assert not missing, f"{missing} not in: {message}"


NOTEBOOK_CALLS = [(["-p", "epochs", "abc"], ["epochs='abc'", "integer"]),
                  (["-p", "no_such", "1"], ["no_such", "unknown", "epochs"])]


@pytest.mark.parametrize("args, words", NOTEBOOK_CALLS, ids=["papermill wrong kind", "papermill unknown name"])
def test_papermill_parameters_are_checked_in_the_notebook(tmp_path, args, words):
    """papermill itself passes both; the notebook's first cell after its parameters refuses them."""
    out = tmp_path / "out.ipynb"
    proc = subprocess.run([sys.executable, "-m", "papermill", str(REPO / "notebooks" / "quickstart.ipynb"), str(out),
                           *args, "--cwd", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "ValueError" in text and all(w in text for w in words), text[-2000:]
    assert not (tmp_path / "runs").exists()  # nothing trained
