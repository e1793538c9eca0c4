"""Does adding a block cost less than one training step? (Goal of issue 3: yes.)

Times one ``growth.grow_depth`` call (each initialiser but ``adam``, whose cost is epochs of training
by design) on Basic3ResNet-1-1-1 (width 1) and Basic4ResNet-2-2-2-2 at 32x32, growing the last stage
(the widest block), against ONE training step on the same model: forward, backward and an SGD step
(momentum 0.9) on a batch of 128 random 3x32x32 images.  Each growth is timed on a fresh deep copy
of the model (the copy is not timed); medians over ``--repeats``.  Results go to
benchmarks/results/growth_step_<device>.json.

    python benchmarks/growth_step.py                 # CPU
    python benchmarks/growth_step.py --device cuda   # on a GPU, where one is lent
"""
from __future__ import annotations

import argparse
import copy
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

import growth
from growth.files import atomic_write_json
from growth.how import DEPTH_INITS
from growth.how.depth_init import interchangeable, template_block
from growth.train import describe_device, resolve_device
from step_timing import sync, time_training_step

MODELS = ("Basic3ResNet-1-1-1", "Basic4ResNet-2-2-2-2")
INITS = [name for name in DEPTH_INITS if name != "adam"]


def time_growth(model: nn.Module, init: str, repeats: int, device: torch.device) -> list[float]:
    stage = len(model.stages) - 1
    times = []
    for _ in range(repeats + 1):  # the first one warms up
        work = copy.deepcopy(model)
        sync(device)
        start = time.perf_counter()
        growth.grow_depth(work, stage, init=init)
        sync(device)
        times.append(time.perf_counter() - start)
    return times[1:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", default=None, help="result JSON (default benchmarks/results/growth_step_<device>.json)")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    rows = []
    for name in MODELS:
        torch.manual_seed(0)
        model = growth.build_model(name, num_classes=10, image_size=32).to(device)
        step = statistics.median(time_training_step(model, args.repeats, args.batch_size, device))
        last = len(model.stages) - 1
        copies = interchangeable(model.stages[last][-1], template_block(model, last))
        row = {"model": name, "grown_stage": last, "training_step_s": round(step, 6), "grow_s": {},
               "grow_over_step": {},
               "copy": "copies the stage's last block" if copies else "falls back to he (the preceding block downsamples)"}
        for init in INITS:
            grow = statistics.median(time_growth(model, init, args.repeats, device))
            row["grow_s"][init] = round(grow, 6)
            row["grow_over_step"][init] = round(grow / step, 4)
        rows.append(row)
        print(f"{name}: one training step {step * 1e3:.1f} ms; grow_depth "
              + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in row["grow_s"].items()))
    result = {
        "benchmark": "one grow_depth step vs one training step (forward + backward + SGD) on the same model",
        "goal": "adding a block costs less than one training step (grow_over_step < 1)",
        "met": all(r < 1 for row in rows for r in row["grow_over_step"].values()),
        "rows": rows,
        "batch_size": args.batch_size,
        "image": "3x32x32, random",
        "repeats": args.repeats,
        "statistic": "median",
        "device": describe_device(device),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "date": datetime.date.today().isoformat(),
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"growth_step_{device.type}.json")
    atomic_write_json(out, result)
    print(f"goal met: {result['met']}; written to {out}")


if __name__ == "__main__":
    main()
