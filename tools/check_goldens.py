#!/usr/bin/env python
"""Do the golden notebooks reproduce their stored outputs on other machines?  Run nbval under each.

    python tools/check_goldens.py                       # every kernel setting this CPU can take
    python tools/check_goldens.py --emulate Haswell-v4,EPYC-Rome notebooks/quickstart.ipynb
    python tools/check_goldens.py --list

A user's machine lands on its own CPU kernels: PyTorch picks ATen's vectorised code and oneDNN's
convolutions by the instruction set (AVX2 or AVX-512), MKL its matrix products and vector maths by
the vendor and instruction set, NumPy its SIMD paths, and every library splits work by the thread
count.  The project pins all of these for the goldens (growth.machine.PORTABLE_CPU_ENV, set by
conftest.py for nbval's kernels).  This script runs nbval over the golden notebooks

* under each **setting** a machine could bring in its environment (``ATEN_CPU_CAPABILITY``,
  ``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``, ``MKL_CBWR``, thread counts, NumPy's CPU
  features; ``--list`` shows them): the pins must win, and every cell must match;
* with ``--emulate CPU,...``, in kernels run by ``qemu-x86_64 -cpu CPU`` (from Debian's qemu-user,
  version 8 or newer: 7.2's AVX2 emulation breaks NumPy's sort): another vendor's CPU, with its own
  CPUID, cache sizes and no AVX-512, e.g. ``Haswell-v4`` (Intel) or ``EPYC-Rome`` (AMD).  Emulation is
  about 60 times slower than the machine: give it a few notebooks.  qemu computes the CPUs'
  approximate instructions (``rsqrtps``, ``rcpps``) exactly, where every real CPU has its own
  approximation: a difference under emulation shows a result that depends on them (MKL's float32
  square root did; growth.machine.exact_sqrt avoids it).

``--what-varies`` shows why the pins exist: it runs the three recipes' smoke runs
(``python -m growth run RECIPE --profile smoke``) under each setting *without* the pins, and says
which settings change their numbers (their Histories but for wall-clock fields).

Each setting runs on its own copy of the notebooks, in a folder under ``.check_goldens/`` (removed
afterwards; pytest's output stays there as ``SETTING.log``), so settings can run side by side and
``notebooks/runs`` is left alone.  Prints one line
per setting (cells passed / failed, minutes) and exits 1 if any cell failed.
``--out FILE`` also writes the results as JSON, with the machine they were run on.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / ".check_goldens"

#: name -> environment a machine could bring (the project's pins are applied on top by conftest.py)
SETTINGS = {
    "as-is": {},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "aten-avx512": {"ATEN_CPU_CAPABILITY": "avx512"},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "onednn-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "onednn-avx512": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "mkl-avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "MKL_CBWR": "AVX2"},
    "mkl-avx512": {"MKL_ENABLE_INSTRUCTIONS": "AVX512"},
    "numpy-no-avx512": {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"},
    "threads-4": {"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "4"},
}
NEEDS_AVX512 = {"aten-avx512", "onednn-avx512", "mkl-avx512"}


def notebook_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = (REPO / raw) if not Path(raw).is_absolute() else Path(raw)
        files.extend(sorted(path.glob("*.ipynb")) if path.is_dir() else [path])
    return files


def nbval(notebooks: list[Path], env: dict[str, str], extra: list[str], log_name: str) -> tuple[int, int, str]:
    """Run nbval over copies of ``notebooks``; (cells passed, cells failed, the summary line); pytest's
    whole output is kept in ``.check_goldens/LOG_NAME.log``."""
    SCRATCH.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=SCRATCH))
    try:
        copies = []
        for nb in notebooks:
            shutil.copy(nb, work / nb.name)
            copies.append(str(work / nb.name))
        cmd = [sys.executable, "-m", "pytest", *copies, "--nbval", "--nbval-sanitize-with",
               str(REPO / "tests" / "nbval_sanitize.cfg"), "-p", "no:cacheprovider", "-q", "-rf", *extra]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        (SCRATCH / f"{log_name}.log").write_text(proc.stdout + proc.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = proc.stdout.strip().splitlines()
    tail = "\n    ".join([l for l in lines if l.startswith("FAILED")] + lines[-1:]) if lines else proc.stderr[-500:]
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", tail)) else 0
    failed = int(m.group(1)) if (m := re.search(r"(\d+) failed", tail)) else 0
    errors = int(m.group(1)) if (m := re.search(r"(\d+) error", tail)) else 0
    if proc.returncode not in (0, 1) or (failed + errors == 0 and proc.returncode):
        failed += 1  # pytest itself failed: count it as a failure, show why
        tail = (proc.stdout + proc.stderr)[-1500:]
    return passed, failed + errors, tail


def what_varies(names: list[str]) -> list[dict]:
    """Per setting, without the pins: do the three recipes' smoke Histories differ from ``as-is``'s?"""
    from growth.history import History
    from growth.machine import PORTABLE_CPU_ENV

    bare = {k: v for k, v in os.environ.items() if k not in PORTABLE_CPU_ENV}
    reference, rows = None, []
    with tempfile.TemporaryDirectory(prefix="what-varies-") as tmp:
        for name in ["as-is", *[n for n in names if n != "as-is"]]:
            histories = {}
            for recipe in ("autogrow", "vt", "fragrow"):
                out = Path(tmp) / f"{name}-{recipe}.json"
                subprocess.run([sys.executable, "-m", "growth", "run", recipe, "--profile", "smoke", "--out", str(out)],
                               env={**bare, **SETTINGS[name]}, cwd=tmp, check=True, capture_output=True)
                h = History.load(out).without_wall_clock()
                histories[recipe] = {"epochs": h["epochs"], "events": h["events"]}
            if reference is None:
                reference = histories
            differ = [r for r in histories if histories[r] != reference[r]]
            rows.append({"setting": name, "environment": SETTINGS[name], "unpinned_histories_differ": differ})
            print(f"{name:22s} without the pins, differs from as-is in: {', '.join(differ) or 'nothing'}", flush=True)
    return rows


def qemu_kernel(cpu: str, where: Path) -> str:
    """A kernelspec that runs this interpreter's ipykernel under ``qemu-x86_64 -cpu CPU``; its name."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise SystemExit("check_goldens: --emulate needs qemu-x86_64 (Debian: apt-get install qemu-user, version 8+)")
    version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout
    major = int(m.group(1)) if (m := re.search(r"version (\d+)", version)) else 0
    if major < 8:
        raise SystemExit(f"check_goldens: qemu-x86_64 {major} emulates AVX2 wrongly (NumPy's sort breaks); use 8 or newer")
    name = f"qemu-{cpu.lower()}"
    spec = where / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [qemu, "-cpu", cpu, sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python under qemu -cpu {cpu}", "language": "python"}))
    return name


def machine_facts(avx512: bool) -> dict:
    import torch

    from growth.machine import cpu_model, kernels

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "avx512": avx512, "native_kernels": kernels(),
            "torch": torch.__version__}


def goldens_version(notebooks: list[Path]) -> str:
    """The commit the golden notebooks were checked at, with ``+edits`` if they differ from it."""
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    edited = subprocess.run([*git, "status", "--porcelain", "--", *map(str, notebooks)],
                            capture_output=True, text=True).stdout.strip()
    return (commit or "unknown") + ("+edits" if edited else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", default=["notebooks"], help="golden notebooks (default: all)")
    parser.add_argument("--settings", default=None,
                        help="comma-separated names of SETTINGS to run (default: every one this CPU can take)")
    parser.add_argument("--emulate", default="", help="comma-separated qemu CPU models, e.g. Haswell-v4,EPYC-Rome")
    parser.add_argument("--list", action="store_true", help="print the settings and exit")
    parser.add_argument("--what-varies", action="store_true",
                        help="run the three recipes' smoke runs under each setting without the pins: which change?")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.list:
        for name, env in SETTINGS.items():
            print(f"{name:16s} {' '.join(f'{k}={v}' for k, v in env.items()) or '(the environment as it is)'}")
        return 0
    from growth.machine import cpu_flags

    avx512 = "avx512f" in cpu_flags()
    if args.settings is None:
        names = [n for n in SETTINGS if avx512 or n not in NEEDS_AVX512] if not args.emulate else []
    else:
        names = [n for n in args.settings.split(",") if n]
        unknown = [n for n in names if n not in SETTINGS]
        if unknown:
            parser.error(f"unknown setting(s) {unknown}; --list shows them")
    if args.what_varies:
        results = what_varies(names or [n for n in SETTINGS if avx512 or n not in NEEDS_AVX512])
        if args.out:
            Path(args.out).write_text(json.dumps({"machine": machine_facts(avx512), "results": results}, indent=1) + "\n")
        return 0
    results, goldens = [], goldens_version(notebook_files(args.notebooks))
    with tempfile.TemporaryDirectory(prefix="check_goldens-") as tmp:
        runs = [(name, SETTINGS[name], [], SETTINGS[name]) for name in names]
        for cpu in filter(None, args.emulate.split(",")):
            kernel = qemu_kernel(cpu, Path(tmp))
            env = {"JUPYTER_PATH": tmp + os.pathsep + os.environ.get("JUPYTER_PATH", "")}
            runs.append((f"qemu {cpu}", env, ["--nbval-kernel-name", kernel, "--nbval-kernel-startup-timeout", "900",
                                              "--nbval-cell-timeout", "36000"], {"emulated_cpu": cpu}))
        for name, env, extra, shown in runs:
            start = time.perf_counter()
            log = re.sub(r"\W+", "-", name) + f"-{os.getpid()}"
            passed, failed, tail = nbval(notebook_files(args.notebooks), {**os.environ, **env}, extra, log)
            minutes = (time.perf_counter() - start) / 60
            results.append({"setting": name, "environment": shown, "passed": passed, "failed": failed,
                            "minutes": round(minutes, 1)})
            print(f"{name:22s} {passed:4d} cells passed, {failed:3d} failed  ({minutes:.1f} min)"
                  + (f"\n    {tail}" if failed else ""), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine_facts(avx512), "notebooks": args.notebooks,
                                              "goldens": goldens,
                                              "results": results}, indent=1) + "\n")
    return 1 if any(r["failed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
