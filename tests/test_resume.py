"""A run killed with SIGKILL at any moment and resumed gives the History of an uninterrupted run.

Every scenario runs ``python -m growth run RECIPE --profile smoke`` in a real subprocess that kills
itself (SIGKILL, no clean-up) at a chosen point, then the same command with ``--resume``, and compares
the History with an uninterrupted run's, bit for bit but for wall-clock fields
(``History.without_wall_clock``).  The kill points: in the middle of an epoch (at an optimizer step),
right after a growth event (before anything was saved), during fine-tuning, and inside a checkpoint
write (the temporary file written, not yet moved into place).  The child patches nothing in the
library's behaviour; it only decides when to die.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from growth.history import History

CHILD = textwrap.dedent('''
    """Run the CLI and SIGKILL this process at KILL: step:E:S (the S-th optimizer step of epoch E),
    grow:N (right after the N-th growth event), save:N (inside the N-th checkpoint write, after the
    temporary file was written)."""
    import os, signal, sys
    import growth.train, growth.protocol
    T = sys.modules["growth.train"]
    kind, _, rest = os.environ.get("KILL", "none:0").partition(":")
    n = [int(x) for x in rest.split(":")]
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    if kind == "step":
        train_epoch, epochs = T.train_epoch, [0]
        def counting(model, loader, optimizer, *a, **k):
            epochs[0] += 1
            if epochs[0] == n[0]:
                step, steps = optimizer.step, [0]
                def killing(*aa, **kk):
                    steps[0] += 1
                    if steps[0] == n[1]:
                        die()
                    return step(*aa, **kk)
                optimizer.step = killing
            return train_epoch(model, loader, optimizer, *a, **k)
        T.train_epoch = counting
    elif kind == "grow":
        grow, events = growth.protocol.Grower.step, [0]
        def killing_grow(self, ctx):
            model, event = grow(self, ctx)
            if event is not None:
                events[0] += 1
                if events[0] == n[0]:
                    die()
            return model, event
        growth.protocol.Grower.step = killing_grow
    elif kind == "save":
        replace, saves = os.replace, [0]
        def killing_replace(src, dst, *a, **k):
            if str(dst).endswith(".ckpt"):
                saves[0] += 1
                if saves[0] == n[0]:
                    die()
            return replace(src, dst, *a, **k)
        os.replace = killing_replace
    from growth.__main__ import main
    sys.exit(main(sys.argv[1:]))
''')

# (recipe, extra CLI arguments) -> kill points; the smoke profiles: autogrow grows after epochs 1-6 and
# fine-tunes epochs 7-8 (AdamInit: each new block optimised on the data first); vt grows after epochs 1 and
# 2 of 4 (with Eq. 8's batch sizes: a new loader at every stage; on a data stream, a new stage of data too, and
# App. H's OSGD with the old data's gradient in the checkpoint, killed in the first epoch of a new stage); fragrow grows after 1 and 2, then
# fine-tunes (LipGrow: power-iteration vectors and its window; MoGrow: the weights' moving average);
# mixturegrowth trains network 1 for epochs 1-4, network 2 for 5-8 and the tiled net for epoch 9 (grow:2 is
# the tiling; the CKA probe's Gram matrices carried by the checkpoint); with a width method, network 1 is grown
# after epoch 4.
SCENARIOS = [
    ("autogrow", (), "step:3:2"),
    ("autogrow", (), "grow:2"),
    ("autogrow", (), "step:8:1"),
    ("autogrow", (), "save:4"),
    ("autogrow", ("--init", "adam"), "step:4:1"),
    ("vt", (), "step:2:1"),
    ("vt", ("--batch-adapt",), "grow:2"),
    ("vt", ("--optimizer", "adam", "--probe", "stages.2.0.conv2.weight"), "step:3:2"),
    ("vt", ("--stream", "class", "--osgd"), "step:3:1"),
    ("fragrow", (), "grow:2"),
    ("fragrow", (), "step:4:1"),
    ("fragrow", ("--policy", "lipgrow"), "step:3:1"),
    ("fragrow", ("--init", "mogrow"), "save:2"),
    ("mixturegrowth", ("--similarity-samples", "32"), "step:6:2"),
    ("mixturegrowth", (), "grow:2"),
    ("mixturegrowth", ("--method", "gradmax"), "step:5:1"),
]


def _run(script, tmp, recipe, extra, out, kill=None, resume=False):
    env = {**os.environ, "KILL": kill or "none:0"}
    args = [sys.executable, str(script), "run", recipe, "--profile", "smoke", *extra, "--out", str(out)]
    return subprocess.run(args + (["--resume"] if resume else []), env=env, cwd=tmp, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    script = tmp / "child.py"
    script.write_text(CHILD)
    return tmp, script


@pytest.fixture(scope="module")
def references(child):
    """The uninterrupted History of every (recipe, arguments), two subprocesses at a time."""
    tmp, script = child
    cases = sorted({(recipe, extra) for recipe, extra, _ in SCENARIOS})
    outs = {case: tmp / f"reference-{case[0]}-{abs(hash(case[1]))}.json" for case in cases}
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda case: _run(script, tmp, *case, outs[case]), cases))
    for case, proc in zip(cases, done):
        assert proc.returncode == 0, (case, proc.stderr[-2000:])
    return {case: History.load(path) for case, path in outs.items()}


def _kill_and_resume(script, tmp, recipe, extra, kill):
    """One scenario: the killed run, what it left (checkpoint, the History's status and the warnings its
    loading gave), then the resumed run; every check is the test's."""
    out = tmp / f"{recipe}-{kill.replace(':', '_')}-{abs(hash(extra))}.json"
    killed = _run(script, tmp, recipe, extra, out, kill=kill)
    checkpoint = out.with_suffix(".ckpt").exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = History.load(out).status if out.exists() else None
    resumed = _run(script, tmp, recipe, extra, out, resume=True) if killed.returncode == -9 and checkpoint else None
    return {"out": out, "killed": killed, "checkpoint": checkpoint, "status": status,
            "warnings": [str(w.message) for w in caught], "resumed": resumed}


@pytest.fixture(scope="module")
def outcomes(child):
    """Every scenario killed and resumed, two at a time (each one's runs in order)."""
    tmp, script = child
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda s: _kill_and_resume(script, tmp, *s), SCENARIOS))
    return dict(zip(SCENARIOS, done))


@pytest.mark.parametrize("recipe, extra, kill", SCENARIOS, ids=[f"{r}{''.join(e)}-{k}" for r, e, k in SCENARIOS])
def test_killed_and_resumed_equals_uninterrupted(child, references, outcomes, recipe, extra, kill):
    tmp, _ = child
    o = outcomes[recipe, extra, kill]
    out, killed, resumed = o["out"], o["killed"], o["resumed"]
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])  # it died where we said
    assert o["checkpoint"], "no checkpoint written"
    assert o["status"] == "running" and any("incomplete" in w for w in o["warnings"]), (o["status"], o["warnings"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    history = History.load(out)
    assert history.complete and history.meta["resumed"], history.meta.get("resumed")
    assert history.without_wall_clock() == references[recipe, extra].without_wall_clock()
    assert not out.with_suffix(".ckpt").exists(), "a finished run keeps no checkpoint"
    assert not list(tmp.glob(f".{out.name}*.tmp")) and not list(tmp.glob(f".{out.stem}.ckpt*.tmp"))
