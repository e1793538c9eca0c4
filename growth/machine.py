"""The machine a run runs on: its description for every result's label, and the portable CPU kernels.

A CPU result depends on more than the seed: PyTorch picks its vectorised kernels (ATen), its
convolutions (oneDNN) and its matrix products and vector maths (MKL) by the instruction set of the
CPU, and splits reductions by the number of threads. Each choice sums in another order; a last-bit
difference can flip a growth decision, and the run diverges from there. :data:`PORTABLE_CPU_ENV`
pins every one of these choices to what any x86-64 CPU with AVX2 runs the same way, Intel or AMD:
ATen's AVX2 kernels, oneDNN capped at AVX2, MKL's conditional numerical reproducibility in its
``COMPATIBLE`` branch (the one branch that is identical on every vendor's CPU; its ``AVX2`` branch is
not, for MKL's vector maths), NumPy without its AVX-512 paths (its ``exp`` differs there), OpenBLAS's
Haswell kernels, and one thread. The settings are read when a library starts, so they go into the
environment of a new process; the golden notebooks run that way (``conftest.py``,
``tools/run_notebooks.py``), and ``tools/check_goldens.py`` shows that they hold.

:func:`exact_sqrt` is the one piece of arithmetic the environment cannot pin: PyTorch computes a
float32 square root on the CPU with MKL's vector maths, whose result for some inputs is one ulp off
and depends on the CPU's approximate reciprocal-square-root instruction, which Intel's and AMD's
CPUs implement differently. The library's own square roots go through it.

:func:`describe_device` names the CPU model and the kernels in use, so two machines' results can be
told apart; :func:`machine_info` is the same as a dict, for a History's meta.
"""
from __future__ import annotations

import os
import platform
from functools import lru_cache

import torch

#: Environment that makes CPU results identical on every x86-64 CPU with AVX2 (module docstring).
PORTABLE_CPU_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
    "OPENBLAS_NUM_THREADS": "1",
}


def exact_sqrt(t: torch.Tensor) -> torch.Tensor:
    """The correctly rounded square root of a float tensor, the same on every CPU: on the CPU through
    float64 (whose square root is exact before the one rounding back), elsewhere ``t.sqrt()``."""
    if t.device.type != "cpu" or t.dtype == torch.float64:
        return t.sqrt()
    return t.double().sqrt().to(t.dtype)


def portable_kernels_in_use() -> bool:
    """Whether this process runs with the portable kernels: the settings are in its environment and
    PyTorch took them (ATen's AVX2 kernels, one thread)."""
    return (all(os.environ.get(k) == v for k, v in PORTABLE_CPU_ENV.items())
            and torch.backends.cpu.get_cpu_capability() == "AVX2" and torch.get_num_threads() == 1)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (``avx2``, ``fma``, ``avx512f``, ...); empty elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("model name", "Model", "Hardware")):
                    return line.split(":", 1)[1].strip().replace('"', "'")
    except OSError:
        pass
    return (platform.processor() or platform.machine() or "unknown").replace('"', "'")


def portability_problem() -> str | None:
    """Why this machine cannot run the portable kernels (one line), or None where it can: an x86-64
    CPU with AVX2 and FMA."""
    machine = platform.machine().lower()
    if machine not in {"x86_64", "amd64"}:
        return f"this is {platform.machine()}, not x86-64: the portable kernels are x86-64 AVX2 code"
    flags = cpu_flags()
    missing = [f for f in ("avx2", "fma") if f not in flags]
    if flags and missing:
        return f"this CPU ({cpu_model()}) lacks {' and '.join(missing)}: the portable kernels need AVX2 and FMA"
    return None


_ISA_ORDER = ("SSE41", "AVX", "AVX2", "AVX512")


def onednn_isa() -> str:
    """The instruction set family oneDNN's convolutions use: the CPU's best (of SSE41, AVX, AVX2,
    AVX512), capped by ``ONEDNN_MAX_CPU_ISA``; ``native`` where the flags are unknown."""
    flags = cpu_flags()
    best = next((isa for isa in reversed(_ISA_ORDER) if isa.lower() + ("f" if isa == "AVX512" else "") in flags
                 or (isa == "SSE41" and "sse4_1" in flags)), "native")
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    cap = next((isa for isa in reversed(_ISA_ORDER) if cap.startswith(isa)), None)
    if best == "native" or cap is None:
        return best
    return min(best, cap, key=_ISA_ORDER.index)


def kernels() -> dict[str, str]:
    """The CPU kernels in use: ATen's capability, oneDNN's instruction set, MKL's branch."""
    return {"aten": torch.backends.cpu.get_cpu_capability(), "onednn": onednn_isa(),
            "mkl": os.environ.get("MKL_CBWR", "AUTO")}


def available_memory_bytes(device: torch.device | str = "cpu") -> int | None:
    """Memory free for a new allocation: the GPU's free memory, or the system's ``MemAvailable``
    (``None`` where it cannot be told)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def describe_device(device: torch.device | str) -> str:
    """A plain description of where a run ran, for every number's label: the GPU's name, or the
    CPU's model, cores, threads and kernels."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    k = kernels()
    threads = torch.get_num_threads()
    return (f'CPU "{cpu_model()}" ({os.cpu_count()} cores, {threads} thread{"s" * (threads != 1)}, '
            f'{platform.machine()}; kernels ATen {k["aten"]}, oneDNN {k["onednn"]}, MKL {k["mkl"]})')


def machine_info(device: torch.device | str) -> dict[str, object]:
    """:func:`describe_device` as a dict, for a History's meta."""
    device = torch.device(device)
    info: dict[str, object] = {"device": device.type, "torch": torch.__version__, "machine": platform.machine(),
                               "cpu": cpu_model(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
                               "kernels": kernels(), "portable_kernels": portable_kernels_in_use()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
