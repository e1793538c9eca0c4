"""growth.machine: the portable kernels take effect in a new process, the machine is described, a machine
that cannot run them is named in one line, and nbval then runs the notebooks without comparing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

import growth.machine as machine

REPO = Path(__file__).resolve().parent.parent


def test_portable_env_takes_effect_in_a_new_process():
    code = ("import json, torch, growth.machine as m; "
            "print(json.dumps([torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(), "
            "m.portable_kernels_in_use(), m.kernels()]))")
    env = {**os.environ, **machine.PORTABLE_CPU_ENV}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    capability, threads, in_use, kernels = json.loads(out.stdout)
    assert (capability, threads, in_use) == ("AVX2", 1, True)
    assert kernels == {"aten": "AVX2", "onednn": "AVX2", "mkl": "COMPATIBLE"}


def test_describe_device_names_cpu_cores_threads_and_kernels(monkeypatch):
    monkeypatch.setattr(machine, "cpu_model", lambda: "Some CPU(R) @ 2.0GHz")
    text = machine.describe_device("cpu")
    assert text.startswith('CPU "Some CPU(R) @ 2.0GHz" (')
    assert f"{os.cpu_count()} cores" in text and "kernels ATen " in text and "oneDNN" in text and "MKL" in text
    info = machine.machine_info("cpu")
    assert info["cpu"] == "Some CPU(R) @ 2.0GHz" and set(info["kernels"]) == {"aten", "onednn", "mkl"}


@pytest.mark.parametrize("flags, cap, isa", [
    ({"avx2", "avx512f"}, None, "AVX512"),
    ({"avx2", "avx512f"}, "AVX2", "AVX2"),
    ({"avx2"}, "AVX512_CORE", "AVX2"),  # a cap above the CPU does not raise it
    ({"avx", "sse4_1"}, None, "AVX"),
])
def test_onednn_isa_is_the_cpu_capped_by_the_setting(monkeypatch, flags, cap, isa):
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert machine.onednn_isa() == isa


def test_portability_problem_names_the_machine(monkeypatch):
    monkeypatch.setattr(machine.platform, "machine", lambda: "aarch64")
    assert "aarch64, not x86-64" in machine.portability_problem()
    monkeypatch.setattr(machine.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"sse2", "avx"}))
    assert "lacks avx2 and fma" in machine.portability_problem()
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert machine.portability_problem() is None


def test_available_memory_is_positive():
    assert machine.available_memory_bytes("cpu") > 2**20


FAKE_MACHINE = textwrap.dedent('''
    import growth.machine
    growth.machine.portability_problem = lambda: "this is aarch64, not x86-64: the portable kernels are x86-64 AVX2 code"
''')


def test_where_the_goldens_cannot_match_nbval_runs_without_comparing_and_says_why(tmp_path):
    """On another architecture: one line why, the notebook still executed (so errors still fail)."""
    nb = nbformat.read(REPO / "notebooks" / "vt_mlp.ipynb", 4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = "a stored output no machine computes\n"
    nbformat.write(nb, tmp_path / "vt_mlp.ipynb")
    (tmp_path / "fake_machine.py").write_text(FAKE_MACHINE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    args = [sys.executable, "-m", "pytest", "-p", "fake_machine", "-p", "conftest", "--rootdir", str(REPO),
            "-c", str(REPO / "pyproject.toml"), "--nbval", "--nbval-sanitize-with", str(REPO / "tests" / "nbval_sanitize.cfg"),
            "-p", "no:cacheprovider", str(tmp_path / "vt_mlp.ipynb")]
    proc = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    line = ("nbval: stored outputs not compared on this machine, because this is aarch64, not x86-64: "
            "the portable kernels are x86-64 AVX2 code; the notebooks are still executed")
    assert line in proc.stdout and proc.stdout.count(line) == 2  # the header and the summary
    # and a cell that raises still fails
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('boom')"))
    nbformat.write(nb, tmp_path / "vt_mlp.ipynb")
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)
    proc = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1 and "boom" in proc.stdout


def test_exact_sqrt_is_correctly_rounded():
    """numpy's float32 square root is IEEE's, correctly rounded; torch's on the CPU is not always (MKL)."""
    import numpy as np
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.rand(100_000, generator=g) * 10, torch.tensor([1.8281768560409546, 0.0, 1e-30, 3e38])])
    assert np.array_equal(machine.exact_sqrt(x).numpy(), np.sqrt(x.numpy()))
    assert machine.exact_sqrt(x).dtype == torch.float32
    assert torch.equal(machine.exact_sqrt(x.double()), x.double().sqrt())
