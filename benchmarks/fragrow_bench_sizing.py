"""How much does a FRAGrow bench run cost, and does each candidate regime over- or underfit? Sizing for the chapter.

For each family (ResNet, VGG, MobileNetV2) and candidate data regime, the vanilla target (the net FRAGrow grows
to, trained from scratch for E_T epochs) and a FRAGrow run (alpha 4), one seed, and for ResNet a LipGrow run with
the recipe's defaults (100 power iterations per conv): per epoch the train, validation and test accuracy (the
vanilla run's gap says which regime overfits), and per run its seconds. The runs go two at a time in worker
processes of one thread each (growth.runs.run_jobs), as the book's bench pages run them, so the seconds are what
a page pays; each run's own seconds come from its History. Results: benchmarks/results/fragrow_bench_sizing_cpu.json.

    python benchmarks/fragrow_bench_sizing.py [--seed 0] [--workers 2] [--out DIR]
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from growth.files import atomic_write_json
from growth.history import History
from growth.machine import describe_device
from growth.recipes.fragrow import fragrow_config, run_fragrow
from growth.train import resolve_device
from sizing import portable_process, run_all

#: name -> (regime of the recipe, overrides of the bench configuration). Each candidate spells out its data, so
#: that the names stay true whatever the bench profile's own overfitting regime is (since this sizing: the last one).
OVERFIT_500 = {"num_train": 500, "num_test": 500, "num_classes": 10}
REGIMES = {
    "bench overfit (500 images, difficulty 1.5, no augmentation)": (
        "overfit", {"augment": False, "dataset_options": {**OVERFIT_500, "difficulty": 1.5}}),
    "500 images, difficulty 1.5, augmentation": (
        "overfit", {"augment": True, "dataset_options": {**OVERFIT_500, "difficulty": 1.5}}),
    "bench underfit (1200 images, 40 classes, augmentation)": ("underfit", {}),
    # candidates between the overfitting regime (train-val gap near 70 points) and augmentation (near 0)
    "1000 images, difficulty 1.5, no augmentation": (
        "overfit", {"augment": False, "dataset_options": {**OVERFIT_500, "num_train": 1000, "difficulty": 1.5}}),
    "2000 images, difficulty 1.5, no augmentation": (
        "overfit", {"augment": False, "dataset_options": {**OVERFIT_500, "num_train": 2000, "difficulty": 1.5}}),
    "500 images, difficulty 1.0, augmentation": (
        "overfit", {"augment": True, "dataset_options": {**OVERFIT_500, "difficulty": 1.0}}),
}
FAMILIES = ("resnet", "vgg", "mobilenet")


def jobs(seed: int, folder: Path) -> list[tuple[dict, object, str]]:
    """(description, configuration, History path) of every run."""
    out = []
    for regime_name, (regime, overrides) in REGIMES.items():
        for family in FAMILIES:
            for policy in ("vanilla", "fragrow") + (("lipgrow",) if family == "resnet" else ()):
                config = fragrow_config("bench", family=family, regime=regime, policy=policy, seed=seed, **overrides)
                about = {"regime": regime_name, "family": family, "policy": policy, "seed": seed}
                out.append((about, config, str(folder / f"{len(out)}.json")))
    return out


def summary(about: dict, history: History) -> dict:
    epochs = history.epochs
    return {**about, "epochs": len(epochs), "seconds": round(epochs[-1]["wall"], 1),
            "lipschitz_seconds": round(sum(e.get("lipschitz_seconds", 0.0) for e in epochs), 1),
            "train_acc": [round(e["train_acc"], 1) for e in epochs], "val_acc": [round(e["val_acc"], 1) for e in epochs],
            "final_gap": round(epochs[-1]["train_acc"] - epochs[-1]["val_acc"], 1),
            "test_acc": history.last("test_acc"), "grew_at": history.meta.get("growth_epochs")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    portable_process(__file__, argv)
    results, elapsed = run_all(run_fragrow, lambda folder: jobs(args.seed, folder), args.workers, summary)
    for r in results:
        print(f"{r['regime'][:44]:44s} {r['family']:9s} {r['policy']:8s} {r['seconds']:6.1f} s "
              f"(LipGrow {r['lipschitz_seconds']:.1f} s)  final train-val gap {r['final_gap']:5.1f}  "
              f"test {r['test_acc']:.1f}%  grew at {r['grew_at']}")
    out = args.out / "fragrow_bench_sizing_cpu.json"
    atomic_write_json(out, {"date": datetime.date.today().isoformat(), "device": describe_device(resolve_device("cpu")),
                            "workers": args.workers, "elapsed_seconds": round(elapsed, 1), "results": results})
    print(f"{len(results)} runs in {elapsed:.0f} s with {args.workers} workers; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
