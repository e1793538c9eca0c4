"""Model FLOP utilisation of the large baselines' training steps: how much of the device's matrix-multiply
rate a training step reaches.

For each model: the median seconds of a training step (forward, backward, SGD; bf16 autocast and
channels_last on a GPU, fp32 on a CPU) at `--batch-size`, the FLOPs of that step (fvcore's forward MACs
x 2 FLOPs x 3 for forward and backward), and their ratio, the achieved FLOP/s.  The reference rate is
measured in the same process: a dense square matrix product in the step's precision (the device's
practical peak, not the vendor's sheet).  MFU = achieved / reference.

    python benchmarks/mfu.py                      # CPU, fp32
    python benchmarks/mfu.py --device cuda        # GPU, bf16 + channels_last (benchmarks/gpu_suite.sh)
    python benchmarks/mfu.py --quick              # tiny sizes: checks that it runs
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_timing import each_step_seconds, sync, write_result  # noqa: E402

import growth  # noqa: E402
from growth.measure.cost import forward_macs  # noqa: E402
from growth.layout import to_channels_last  # noqa: E402
from growth.train import resolve_device  # noqa: E402

#: The large baselines of the four papers' CIFAR tables (ImageNet's at 224 px with --imagenet).
MODELS = ["ResNet-20", "ResNet-18", "VGG-19", "WRN-28-10", "WRNnoBN-28-10", "MobileNetV1"]


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int, repeats: int) -> float:
    """FLOP/s of ``size x size`` matrix products in ``dtype`` (median of ``repeats``)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    times = []
    for _ in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times[1:])


def step_seconds(model: nn.Module, batch: int, image_size: int, device: torch.device, amp: bool, repeats: int) -> float:
    """Median seconds of a training step of ``model`` on random images (two warm-up steps)."""
    memory = torch.channels_last if amp else torch.contiguous_format
    model = model.to(device).train()
    if amp:
        to_channels_last(model)
    x = torch.randn(batch, 3, image_size, image_size, device=device).contiguous(memory_format=memory)
    y = torch.randint(0, model.num_classes, (batch,), device=device)
    times = each_step_seconds(model, x, y, repeats + 2, amp, device)
    return statistics.median(times[2:])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="tiny sizes (ResNet-20, batch 8, 2 repeats): checks it runs")
    p.add_argument("--out", default=None, help="result JSON (default benchmarks/results/mfu_<device>.json)")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    amp = device.type == "cuda"
    models, batch, repeats = (["ResNet-20"], 8, 2) if args.quick else (args.models, args.batch_size, args.repeats)
    dtype = torch.bfloat16 if amp else torch.float32
    reference = matmul_rate(device, dtype, 512 if args.quick else (8192 if amp else 2048), repeats)
    rows = []
    for name in models:
        torch.manual_seed(0)
        model = growth.build_model(name, num_classes=100)
        flops = 2 * 3 * forward_macs(model, (3, 32, 32)) * batch
        seconds = step_seconds(model, batch, 32, device, amp, repeats)
        rows.append({"model": name, "step_seconds": round(seconds, 5), "step_gflops": round(flops / 1e9, 2),
                     "achieved_tflops": round(flops / seconds / 1e12, 3), "mfu": round(flops / seconds / reference, 4)})
        print(f"{name:>14}: {seconds * 1e3:8.2f} ms a step, {flops / seconds / 1e12:7.3f} TFLOP/s, "
              f"MFU {flops / seconds / reference:.1%}")
    result = {
        "benchmark": "model FLOP utilisation of a training step (fvcore MACs x 2 x 3 per sample)",
        "reference": f"dense {dtype} matrix product measured here: {reference / 1e12:.3f} TFLOP/s",
        "precision": "bf16 autocast, channels_last" if amp else "fp32",
        "batch_size": batch, "repeats": repeats, "image_size": 32, "num_classes": 100, "models": rows,
    }
    write_result(result, args.out, f"mfu_{device.type}.json", device, quick=args.quick)

if __name__ == "__main__":
    main()
