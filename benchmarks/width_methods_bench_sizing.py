"""What does a bench run of each width method cost on the VT scheduler? Sizing for VT Tables 2-3's full columns.

Table 2's models (ResNet-20, VGG-11, MobileNetV1) at the VT recipe's bench profile (synthetic data, 20 epochs,
5 stages from a quarter of width 0.5), one seed, every arm the tables need: Large, Net2Net, Ours (the full
method), and GradMax, Splitting and Firefly (the GradMax authors' form) filling the new units on the same
scheduler (variant ``growing``: global LR, as the paper runs the comparison methods).  Per run: its seconds, the
MACs of its growth steps (``extra_macs``) beside its training MACs, the groups where a method fell back to its
authors' fallback, and the final test accuracy of this one seed (a size check, not a result).  The runs go two at
a time in worker processes of one thread each (growth.runs.run_jobs), as the book's pages run them.  Results:
benchmarks/results/width_methods_bench_sizing_cpu.json.

    python benchmarks/width_methods_bench_sizing.py [--seed 0] [--workers 2] [--out DIR]
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from growth.files import atomic_write_json
from growth.history import History
from growth.machine import describe_device
from growth.recipes.vt import run_vt, vt_config
from growth.train import resolve_device
from sizing import portable_process, run_all

MODELS = ("ResNet-20", "VGG-11", "MobileNetV1")
#: arm -> overrides of the bench configuration
ARMS = {
    "Large": {"variant": "large"},
    "Net2Net": {"variant": "net2net"},
    "Ours": {"variant": "full"},
    "GradMax": {"variant": "growing", "width_method": "gradmax"},
    "Splitting": {"variant": "growing", "width_method": "splitting"},
    "Firefly (GradMax authors' form)": {"variant": "growing", "width_method": "firefly-simple"},
}


def jobs(seed: int, folder: Path) -> list[tuple[dict, object, str]]:
    """(description, configuration, History path) of every run."""
    out = []
    for model in MODELS:
        for arm, overrides in ARMS.items():
            config = vt_config("bench", model=model, seed=seed, **overrides)
            out.append(({"model": model, "arm": arm, "seed": seed}, config, str(folder / f"{len(out)}.json")))
    return out


def summary(about: dict, history: History) -> dict:
    epochs = history.epochs
    cost = history.meta.get("cost", {})
    fallbacks = sorted({group for e in history.events if e["kind"] == "width"
                        for group, found in e["found"].get("groups", {}).items()
                        if "random" in found or "net2net" in found})
    return {**about, "seconds": round(epochs[-1]["wall"], 1), "test_acc": history.last("test_acc"),
            "training_macs": cost.get("training_macs"), "extra_macs": sum(cost.get("extra_macs", {}).values()),
            "growth_seconds": round(sum(e["seconds"] for e in history.events if e["kind"] == "grow"), 1),
            "fallback_groups": fallbacks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    portable_process(__file__, argv)
    results, elapsed = run_all(run_vt, lambda folder: jobs(args.seed, folder), args.workers, summary)
    for r in results:
        extra = r["extra_macs"] / r["training_macs"] if r["training_macs"] else 0.0
        print(f"{r['model']:12s} {r['arm']:32s} {r['seconds']:7.1f} s  growth {r['growth_seconds']:6.1f} s  "
              f"growth MACs {extra:6.1%} of training  test {r['test_acc']:.1f}%  fallback {len(r['fallback_groups'])}")
    out = args.out / "width_methods_bench_sizing_cpu.json"
    atomic_write_json(out, {"date": datetime.date.today().isoformat(), "device": describe_device(resolve_device("cpu")),
                            "workers": args.workers, "elapsed_seconds": round(elapsed, 1),
                            "setting": "VT recipe, bench profile (synthetic 5000/2000, 20 epochs, 5 stages), one seed",
                            "results": results})
    print(f"{len(results)} runs in {elapsed:.0f} s with {args.workers} workers; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
