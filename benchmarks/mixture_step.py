"""How long does a MixtureGrowth growth step take, and one CKA? (Issue goals: the tiling of a WRN-28-10 well
under one training step; the CKA of one layer pair on the probe batch under a second on the CPU.)

Times ``growth.how.tile`` (new orthogonal coefficients, every layer tiled, every BN concatenated) on a
``TemplateWRNnoBN-28-10`` at member width 0.5 (two WRN-28-5s -> WRN-28-10, CIFAR-100 head), each round on a
fresh deep copy (not timed), against ONE training step of the grown net (forward, backward, SGD with
momentum, batch ``--batch`` of random 3x32x32 images; 128 is the paper's, the default here is smaller so
that a CPU round takes seconds, not minutes: a step's time grows with the batch, the tiling's does not).
Then the CKA of one layer pair: the outputs of the grown net's last convolution and of a member's, on a
probe batch of ``--probe`` images: capture (one forward pass each, ``layer_features``) and the linear,
debiased-linear and RBF CKA, each timed apart.  Tiling and steps alternate round after round; medians over
``--repeats`` rounds.  Results go to benchmarks/results/mixture_step_<device>.json.

    OMP_NUM_THREADS=1 python benchmarks/mixture_step.py      # CPU, one thread (as measured here)
    python benchmarks/mixture_step.py --device cuda           # on a GPU, where one is lent
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

from growth.files import atomic_write_json
from growth.how import tile
from growth.measure.cka import cka, gram_linear, gram_rbf, layer_features
from growth.models import template_net
from growth.train import describe_device, resolve_device
from step_timing import sync, time_training_step

MODEL, WIDTH, CLASSES = "WRNnoBN-28-10", 0.5, 100
LAYER = "stages.2.3.conv2"  # the last convolution


def time_tiling(model, device) -> float:
    work = copy.deepcopy(model)
    sync(device)
    start = time.perf_counter()
    tile(work, "orthogonal", generator=torch.Generator().manual_seed(0))
    sync(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--probe", type=int, default=500)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = template_net(MODEL, num_classes=CLASSES, width=WIDTH).to(device)
    grown = copy.deepcopy(model)
    tile(grown)
    tiling, steps = [], []
    time_tiling(model, device)  # warm-up
    for _ in range(args.repeats):
        tiling.append(time_tiling(model, device))
        steps.append(statistics.median(time_training_step(grown, 1, args.batch, device)))
    probe = torch.randn(args.probe, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    capture = []
    for net in (grown, model):
        start = time.perf_counter()
        features = layer_features(net, probe, [LAYER])[LAYER]
        capture.append(time.perf_counter() - start)
        if net is grown:
            big = features
        else:
            small = features
    kinds = {}
    for name, fn in (("linear", lambda: cka(gram_linear(big), gram_linear(small))),
                     ("debiased linear", lambda: cka(gram_linear(big), gram_linear(small), debiased=True)),
                     ("rbf", lambda: cka(gram_rbf(big), gram_rbf(small)))):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            value = fn()
            times.append(time.perf_counter() - start)
        kinds[name] = {"seconds": statistics.median(times), "value": value}
    result = {
        "what": __doc__.split("\n")[0],
        "date": datetime.date.today().isoformat(),
        "device": describe_device(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model": f"Template{MODEL} at member width {WIDTH}, {CLASSES} classes -> {MODEL}",
        "params_grown": sum(p.numel() for p in grown.parameters()),
        "tiling_seconds": statistics.median(tiling),
        "training_step_seconds": statistics.median(steps),
        "training_step_batch": args.batch,
        "tiling_over_step": statistics.median(tiling) / statistics.median(steps),
        "cka_layer": LAYER,
        "cka_probe_images": args.probe,
        "cka_features": [list(big.shape), list(small.shape)],
        "capture_seconds": {"grown": capture[0], "member": capture[1]},
        "cka": kinds,
        "repeats": args.repeats,
        "rounds": {"tiling": tiling, "step": steps},
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"mixture_step_{device.type}.json")
    atomic_write_json(out, result)
    print(f"tiling {result['tiling_seconds']:.3f} s, one training step (batch {args.batch}) "
          f"{result['training_step_seconds']:.3f} s: ratio {result['tiling_over_step']:.3f}")
    for name, k in kinds.items():
        print(f"CKA {name}: {k['seconds']:.3f} s (value {k['value']:.4f})")
    print(f"feature capture: grown {capture[0]:.2f} s, member {capture[1]:.2f} s; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
