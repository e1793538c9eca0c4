"""Which memory layout and thread count make a bench training step fastest on this CPU, and which batch size
its evaluation?

The bench book's time goes to a few architectures (`benchmarks/book_times.py`); for each, at the width and
batch size the book trains it, this times a training step (forward, backward, SGD) in four settings:
contiguous or channels_last memory, one thread or all cores.  One process, the settings alternating
round by round (a loaded machine slows them alike), medians over `--rounds`; ratios are against
contiguous with one thread, the book's setting (its runs use one thread each, two runs side by side).
Each step is `growth.layout.step_seconds`, what `channels_last="auto"` times.
Evaluation (the loop's `growth.epoch.evaluate`: forward passes in eval mode over 1,000 test images) is timed at
one thread in both layouts for each batch size of `EVAL_BATCHES`, also alternating; its ratios are against
batches of 512, the loop's evaluation batch before the training batch became its default.  The kernels are the book's portable ones (ATen AVX2, oneDNN capped at AVX2, MKL COMPATIBLE) unless
`--kernels native`.

    python benchmarks/cpu_layout.py                   # writes benchmarks/results/cpu_layout_cpu.json
    python benchmarks/cpu_layout.py --quick           # one small model, two rounds: checks that it runs
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
from pathlib import Path

PORTABLE = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE"}

#: (model, width, batch size): the architectures that take most of the bench book's run time, as it trains them
CASES = [("WRNnoBN-10-2", 1.0, 128), ("TemplateWRNnoBN-10-2", 1.0, 128), ("Basic4ResNet-4-4-2-2", 0.125, 32),
         ("VGG-3-3-1-1-2", 0.25, 32), ("ResNet-20", 0.5, 64), ("WRNnoBN-28-1", 1.0, 64),
         ("MobileNetV2-2-2-2-2-1", 0.25, 32)]


#: evaluation batch sizes timed; 512 was the loop's default
EVAL_BATCHES = (32, 64, 128, 256, 512)


def eval_seconds(model, x, batch: int, channels_last: bool) -> float:
    """Seconds of ``growth.epoch.evaluate`` of ``model`` over ``x`` (random labels) in batches of ``batch``."""
    import time

    import torch

    from growth.data.core import TensorLoader
    from growth.epoch import evaluate

    loader = TensorLoader(x, torch.zeros(len(x), dtype=torch.long), batch, shuffle=False, augment=False)
    start = time.perf_counter()
    evaluate(model, loader, channels_last=channels_last)
    return time.perf_counter() - start


def build(name: str, width: float):
    import torch

    import growth
    from growth.how.mixture import tile
    from growth.models.template import template_net

    torch.manual_seed(0)
    if name.startswith("Template"):  # the grown template net, as MixtureGrowth trains it after tiling
        return tile(template_net(name[len("Template"):], width=width / 2, num_classes=10), "orthogonal")
    return growth.build_model(name, width=width, num_classes=10)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5, help="steps timed per setting and round")
    p.add_argument("--kernels", choices=("portable", "native"), default="portable")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="result JSON (default benchmarks/results/cpu_layout_cpu.json)")
    args = p.parse_args(argv)
    if args.kernels == "portable" and any(os.environ.get(k) != v for k, v in PORTABLE.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PORTABLE})  # before torch starts

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from growth.files import atomic_write_json
    from growth.machine import machine_info
    from growth.layout import step_seconds, to_channels_last

    cores = os.cpu_count() or 1
    settings = [(layout, threads) for threads in sorted({1, cores}) for layout in ("contiguous", "channels_last")]
    cases = [("ResNet-20", 0.25, 16)] if args.quick else CASES
    rounds, steps = (2, 1) if args.quick else (args.rounds, args.steps)
    rows = []
    for name, width, batch in cases:
        base = build(name, width)
        x = torch.randn(batch, 3, 32, 32)
        y = torch.randint(0, 10, (batch,))
        models = {"contiguous": base, "channels_last": to_channels_last(build(name, width))}
        inputs = {"contiguous": x, "channels_last": x.contiguous(memory_format=torch.channels_last)}
        times = {s: [] for s in settings}
        for r in range(rounds + 1):  # round 0 warms every setting up
            for layout, threads in settings if r % 2 else reversed(settings):
                torch.set_num_threads(threads)
                t = step_seconds(models[layout], inputs[layout], y, steps) / steps
                if r:
                    times[layout, threads].append(t)
        median = {s: statistics.median(v) for s, v in times.items()}
        ref = median["contiguous", 1]
        row = {"model": name, "width": width, "batch_size": batch,
               **{f"{layout}_{threads}t_seconds": round(median[layout, threads], 5) for layout, threads in settings},
               **{f"{layout}_{threads}t_speedup": round(ref / median[layout, threads], 3) for layout, threads in settings}}
        print(f"{name:>22} w{width:<5} b{batch:<4} " + "  ".join(
            f"{layout[:8]}/{threads}t {ref / median[layout, threads]:.2f}x" for layout, threads in settings))
        torch.set_num_threads(1)
        test = torch.randn(64 if args.quick else 1000, 3, 32, 32)
        evals = [(layout, size) for layout in ("contiguous", "channels_last") for size in EVAL_BATCHES]
        eval_times = {s: [] for s in evals}
        for r in range(rounds + 1):
            for layout, size in evals if r % 2 else reversed(evals):
                t = eval_seconds(models[layout], test, size, layout == "channels_last")
                if r:
                    eval_times[layout, size].append(t)
        eval_median = {s: statistics.median(v) for s, v in eval_times.items()}
        eval_ref = eval_median["contiguous", 512]
        row["eval_seconds_per_1000"] = {f"{layout}_{size}": round(eval_median[layout, size] * 1000 / len(test), 4)
                                        for layout, size in evals}
        row["eval_speedup_vs_contiguous_512"] = {f"{layout}_{size}": round(eval_ref / eval_median[layout, size], 3)
                                                 for layout, size in evals}
        print(f"{'':>22} eval, 1 thread: " + "  ".join(
            f"{layout[:8]}/{size} {eval_ref / eval_median[layout, size]:.2f}x" for layout, size in evals))
        rows.append(row)
    torch.set_num_threads(cores)
    result = {
        "benchmark": "a bench training step per memory layout and thread count (speedup vs contiguous, 1 thread); "
                     "evaluation per layout and batch size at 1 thread (speedup vs contiguous, batches of 512)",
        "kernels": args.kernels, "rounds": rounds, "steps_per_round": steps, "cases": rows,
        "machine": machine_info(torch.device("cpu")), "load_average_1_5_15min_at_end": [round(v, 2) for v in os.getloadavg()],
        "torch": torch.__version__, "date": datetime.date.today().isoformat(), "quick": args.quick,
    }
    out = Path(args.out or Path(__file__).parent / "results" / "cpu_layout_cpu.json")
    atomic_write_json(out, result)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
