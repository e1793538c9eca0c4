"""Where does FRAGrow's overfitting signal move its growth interval? A calibration of bench data regimes.

FRAGrow grows when ``I = I_max / (1 + exp(alpha - ORL))`` epochs have passed since the last growth (Eq. 3),
with ``ORL`` the train minus validation accuracy of the epoch that just ended (Eq. 2).  With ``alpha = 4``,
``I`` only departs from 0 (grow every epoch) once ``ORL`` reaches a few points, and only nears ``I_max``
above ~8 points: a bench regime exercises FRAGrow only if ``ORL`` crosses that band while the net is
still growing.  This script runs the FRAGrow recipe (ResNet, bench) in candidate regimes (training-set
size, data difficulty, augmentation) and records, per epoch, ORL, the interval ``I`` at alpha 2, 4 and 6,
and the epochs the net grew at; results go to benchmarks/results/fragrow_orl_calibration_cpu.json.
It runs with the portable CPU kernels the book's notebooks run with (``growth.machine.PORTABLE_CPU_ENV``;
it restarts itself under them), so that its bench-overfit runs can be compared with the book's own
(``book/notebooks/runs/fragrow_policies``): ``same_as_book`` says whether they grew at the same epochs
and reached the same test accuracy.

    python benchmarks/fragrow_orl_calibration.py [--seeds 0 1] [--out DIR]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

from growth.files import atomic_write_json
from growth.machine import PORTABLE_CPU_ENV, describe_device
from growth.recipes.fragrow import fragrow_config, run_fragrow
from growth.train import resolve_device
from growth.when.fragrow import growth_interval

#: name -> overrides of the bench ResNet configuration (the first is the bench profile's own overfitting regime)
CANDIDATES = {
    "bench overfit (500 images, difficulty 1.5, no augmentation)": {},
    "2000 images, difficulty 1.5, no augmentation": {
        "dataset_options": {"num_train": 2000, "num_test": 500, "num_classes": 10, "difficulty": 1.5}},
    "500 images, difficulty 1.0, no augmentation": {
        "dataset_options": {"num_train": 500, "num_test": 500, "num_classes": 10, "difficulty": 1.0}},
    "500 images, difficulty 1.5, augmentation": {"augment": True},
    "bench underfit (1200 images, 40 classes, augmentation)": "underfit",
}
ALPHAS = (2.0, 4.0, 6.0)
BOOK_RUNS = Path(__file__).resolve().parent.parent / "book" / "notebooks" / "runs" / "fragrow_policies"


def same_as_book(seed: int, grew_at: list, test_acc: float) -> bool | None:
    """Whether the book's bench-overfit FRAGrow run of ``seed`` grew at the same epochs to the same accuracy."""
    path = BOOK_RUNS / f"resnet-overfit-fragrow-seed{seed}.json"
    if not path.is_file():
        return None
    book = json.loads(path.read_text())
    return book["meta"]["growth_epochs"] == grew_at and book["epochs"][-1]["test_acc"] == test_acc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    if any(os.environ.get(k) != v for k, v in PORTABLE_CPU_ENV.items()):  # before torch starts its kernels
        os.execve(sys.executable, [sys.executable, __file__, *(sys.argv[1:] if argv is None else argv)],
                  {**os.environ, **PORTABLE_CPU_ENV})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in CANDIDATES.items():
            for seed in args.seeds:
                if overrides == "underfit":
                    config = fragrow_config("bench", family="resnet", regime="underfit", policy="fragrow", seed=seed)
                else:
                    config = fragrow_config("bench", family="resnet", policy="fragrow", seed=seed, **overrides)
                c = config.resolved()
                run = run_fragrow(c, history_path=str(Path(tmp) / f"{len(results)}.json"), progress=False)
                h = run.history
                orl = [round(e["train_acc"] - e["val_acc"], 2) for e in h.epochs]
                results.append({
                    "regime": name, "seed": seed, "i_max": c.i_max, "blocks": c.blocks, "epochs": c.epochs,
                    "orl": orl,
                    "interval": {f"alpha={a:g}": [round(growth_interval(o, c.i_max, a), 3) for o in orl] for a in ALPHAS},
                    "grew_at": h.meta["growth_epochs"], "test_acc": h.last("test_acc"),
                })
                if not overrides:
                    results[-1]["same_as_book"] = same_as_book(seed, h.meta["growth_epochs"], h.last("test_acc"))
                print(f"{name}, seed {seed}: grew at {h.meta['growth_epochs']}; ORL by epoch {orl[:10]} ...; "
                      f"test {h.last('test_acc'):.1f}%", flush=True)
    out = args.out / "fragrow_orl_calibration_cpu.json"
    atomic_write_json(out, {"date": datetime.date.today().isoformat(),
                            "device": describe_device(resolve_device("cpu")),
                            "profile": "bench (FRAGrow recipe, ResNet, policy fragrow, alpha 4)",
                            "alphas": list(ALPHAS), "results": results})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
