"""How much does growth.train cost over a minimal hand-written loop? (Goal: under 10%.)

Both loops train the same model from the same initial weights on the same batches (growth.data's
in-memory loader, same seed), with the same optimizer, and evaluate on the test split after every
epoch; growth.train adds its bookkeeping: schedule, accuracy and loss accumulation, cost
accounting (fvcore, cached per architecture), the History and its atomic JSON write each epoch.
The two loops alternate, `--repeats` times each; the ratio of their median times is recorded in
benchmarks/results/loop_overhead_<device>.json.

    python benchmarks/loop_overhead.py                 # CPU, ResNet-20 on synthetic CIFAR-shaped data
    python benchmarks/loop_overhead.py --device cuda   # on a GPU, where one is lent
"""
from __future__ import annotations

import argparse
import copy
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import growth
from growth.files import atomic_write_json
from growth.train import describe_device, resolve_device


def minimal_loop(model, data, epochs, batch_size, lr, device, amp, channels_last, seed):
    """The loop one would write by hand: forward, backward, step; test accuracy each epoch."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    loader = data.train_loader(batch_size, seed=seed)
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        correct = 0
        with torch.inference_mode():
            for x, y in data.eval_loader("test", 512):
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    correct += (model(x).argmax(1) == y).sum().item()
    return correct


def timed(fn):
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ResNet-20")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-train", type=int, default=2048)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None, help="result JSON (default benchmarks/results/loop_overhead_<device>.json)")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    data = growth.load_dataset("synthetic", num_train=args.num_train, num_test=1024, device=device)
    torch.manual_seed(0)
    reference = growth.build_model(args.model, num_classes=data.num_classes).to(device)
    if gpu:
        reference = reference.to(memory_format=torch.channels_last)

    def ours():
        with tempfile.TemporaryDirectory() as tmp:
            growth.train(copy.deepcopy(reference), data, epochs=args.epochs, batch_size=args.batch_size,
                         lr=0.05, device=str(device), history_path=Path(tmp) / "h.json", progress=False)

    def theirs():
        minimal_loop(copy.deepcopy(reference), data, args.epochs, args.batch_size, 0.05, device,
                     amp=gpu, channels_last=gpu, seed=0)

    ours(), theirs()  # warm-up: kernels, fvcore's trace (cached per architecture like in a real run)
    t_ours, t_min = [], []
    for _ in range(args.repeats):
        t_ours.append(timed(ours))
        t_min.append(timed(theirs))
    ratio = statistics.median(t_ours) / statistics.median(t_min)
    result = {
        "benchmark": "growth.train vs a minimal hand-written loop",
        "goal": "overhead under 10% (ratio < 1.10)",
        "ratio": round(ratio, 4),
        "overhead_percent": round(100 * (ratio - 1), 2),
        "seconds_growth_train": [round(t, 3) for t in t_ours],
        "seconds_minimal_loop": [round(t, 3) for t in t_min],
        "model": args.model,
        "data": f"synthetic, {args.num_train} train / 1024 test images, 3x32x32",
        "epochs_per_run": args.epochs,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "device": describe_device(device),
        "amp_bf16_and_channels_last": gpu,
        "load_average_1_5_15min_at_end": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "date": datetime.date.today().isoformat(),
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"loop_overhead_{device.type}.json")
    atomic_write_json(out, result)
    print(f"growth.train / minimal loop = {ratio:.3f} ({result['overhead_percent']:+.1f}%) on {result['device']}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
