"""What does LipGrow's Lipschitz estimate cost, against training? (The FRAGrow chapter quotes it.)

Times :func:`growth.when.lipgrow.model_lipschitz` (power iteration per convolution, warm-started as in a
run: the first call is cold and not counted) on FRAGrow's ResNet target, ``Basic4ResNet-8-8-8-8`` at
width 1 on 3x32x32 inputs, for 10 power iterations (the first commit of the authors' code) and 100
(their final code, the library's default), against one training step of a batch of 128 random images.
Its MACs are the estimate's own count; a training sample costs ``3 x forward`` MACs
(:func:`growth.measure.cost.training_macs_per_sample`).  Results: benchmarks/results/lipgrow_estimate_<device>.json.

    python benchmarks/lipgrow_estimate.py [--device cuda] [--repeats 3]
"""
from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch

import growth
from growth.measure.cost import training_macs_per_sample
from growth.files import atomic_write_json
from growth.train import describe_device, resolve_device
from growth.when.lipgrow import model_lipschitz
from step_timing import sync, time_training_step

MODEL = "Basic4ResNet-8-8-8-8"
ITERATIONS = (10, 100)
SHAPE = (3, 32, 32)


def time_estimate(model: torch.nn.Module, iterations: int, repeats: int, device: torch.device) -> tuple[list[float], int]:
    """Seconds of ``repeats`` warm-started estimates (after one cold one) and the MACs of one."""
    vectors: dict = {}
    times, macs = [], 0
    for _ in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        _, macs = model_lipschitz(model, SHAPE, iterations=iterations, vectors=vectors)
        sync(device)
        times.append(time.perf_counter() - start)
    return times[1:], macs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", default=None, help="result JSON (default benchmarks/results/lipgrow_estimate_<device>.json)")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = growth.build_model(MODEL, num_classes=100, image_size=32).to(device).eval()
    per_sample = training_macs_per_sample(model, SHAPE)
    step = statistics.median(time_training_step(model, args.repeats, args.batch_size, device))
    rows = []
    for iterations in ITERATIONS:
        times, macs = time_estimate(model, iterations, args.repeats, device)
        seconds = statistics.median(times)
        rows.append({"iterations": iterations, "seconds": round(seconds, 4), "macs": macs,
                     "training_samples_worth": round(macs / per_sample, 2),
                     "training_steps_worth": round(seconds / step, 2)})
        print(f"{iterations:4d} iterations: {seconds:.2f} s, {macs / 1e9:.1f} GMACs = {macs / per_sample:.1f} training "
              f"samples, {seconds / step:.1f} training steps of {args.batch_size}")
    result = {
        "benchmark": "one LipGrow estimate (model_lipschitz, warm-started) against training",
        "model": MODEL, "width": 1.0, "input": "3x32x32",
        "training_macs_per_sample": per_sample,
        "training_step_s": round(step, 4), "batch_size": args.batch_size,
        "rows": rows, "repeats": args.repeats, "statistic": "median",
        "device": describe_device(device), "torch": torch.__version__, "python": sys.version.split()[0],
        "date": datetime.date.today().isoformat(),
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"lipgrow_estimate_{device.type}.json")
    atomic_write_json(out, result)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
