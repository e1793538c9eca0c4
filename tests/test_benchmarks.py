"""The GPU suite's scripts run (on the CPU, at their --quick sizes), so that the session lent a GPU finds them
working; the suite itself says when there is no GPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _script(name, *args):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_mfu_quick(tmp_path):
    proc = _script("mfu.py", "--quick", "--out", str(tmp_path / "mfu.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads((tmp_path / "mfu.json").read_text())["models"]
    # ResNet-20 with 100 classes: 40,937,728 forward MACs an image (fvcore; `growth describe` gives 40,931,968 for
    # 10 classes, the classifier adds 64 x 90); a step of 8 images: 2 x 3 x 8 x that = 1.965 GFLOPs
    assert row["model"] == "ResNet-20" and row["step_gflops"] == 1.97
    assert 0 < row["mfu"]


def test_compile_growth_quick(tmp_path):
    # aot_eager: the same tracing and recompilation at every growth, without inductor's C++ code generation
    # (minutes on this CPU; the GPU suite compiles with inductor)
    proc = _script("compile_growth.py", "--quick", "--backend", "aot_eager", "--out", str(tmp_path / "compile.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    stages = json.loads((tmp_path / "compile.json").read_text())["stages"]
    assert [s["fraction"] for s in stages] == [0.5, 1.0] and all(s["compile_seconds"] > 0 for s in stages)


def test_book_times_of_the_committed_book(tmp_path):
    proc = _script("book_times.py", str(ROOT / "book" / "notebooks"), "--out", str(tmp_path / "times.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    times = json.loads((tmp_path / "times.json").read_text())["notebooks"]
    assert times["mixturegrowth_features"]["runs"] == 12 and times["mixturegrowth_features"]["run_seconds"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_gpu_suite_says_there_is_no_gpu(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_suite.sh")], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}, timeout=120)
    assert proc.returncode == 3 and "no GPU" in proc.stdout and (tmp_path / "no_gpu.txt").exists()


def test_transformer_step_quick(tmp_path):
    proc = _script("transformer_step.py", "--quick", "--out", str(tmp_path / "t.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads((tmp_path / "t.json").read_text())["models"].values()
    assert row["growth"] == "heads 4 -> 8 per attention, d_ff 128 -> 256"
    assert row["batch"]["length"] == 32 and 0 < row["batch"]["target_tokens"] < row["batch"]["positions"]
    assert all(v > 0 for v in row["grow_vs_training_step"].values())


def test_cpu_layout_quick(tmp_path):
    proc = _script("cpu_layout.py", "--quick", "--out", str(tmp_path / "layout.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = json.loads((tmp_path / "layout.json").read_text())["cases"]
    assert row["model"] == "ResNet-20" and row["channels_last_1t_speedup"] > 0
    assert row["eval_speedup_vs_contiguous_512"]["contiguous_512"] == 1.0
    assert set(row["eval_seconds_per_1000"]) == {f"{layout}_{b}" for layout in ("contiguous", "channels_last")
                                                 for b in (32, 64, 128, 256, 512)}


def test_book_speed_projects_the_book_from_the_pages_it_measured(tmp_path):
    """This checkout as its own baseline, on one page: every run trains in the tree asked for (the script checks
    which growth a child imported), and the projection is the committed run time over the measured ratios."""
    proc = _script("book_speed.py", "--baseline", str(ROOT), "--pages", "vt_mlp", "--out", str(tmp_path / "s.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "s.json").read_text())
    (row,) = result["runs"]
    assert row["page"] == "vt_mlp" and row["channels_last"] == [False] and row["threads"] == [1]
    book = result["book_run_seconds"]
    assert list(book["pages"]) == ["vt_mlp"] and book["pages"]["vt_mlp"]["speedup"] == row["speedup"]
    assert book["projected"] == pytest.approx(book["committed"] / row["speedup"] + book["probes"], abs=0.2)
