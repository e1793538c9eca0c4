"""How much sooner the bench book's runs finish with this checkout's CPU settings than with an earlier commit's.

For every bench page with recipe runs (`book/notebooks/runs/PAGE/*.json`), the run whose recorded wall-clock
is the page's median is run again from scratch twice: by the code of `--baseline` (a checkout of an earlier
commit, with its defaults) and by this checkout with the bench profile's runtime settings (`channels_last`
and `threads` "auto", from `profiles/bench.yaml`, as `tools/run_notebooks.py` sets them; a run's share of
the cores is one, two runs side by side on two cores).  Both use the portable kernels.  This checkout's
runs go first with an empty layout cache ("first": each probe's time counted; in a book a probe is paid
once per architecture and machine, then its choice is read back for every run), then again with the
choices cached, interleaved with the baseline's: two runs at a time, as the book's two workers do, a
page's baseline run and cached run queued together, so that they share the machine's load.

Each page's ratio (baseline seconds / this checkout's cached seconds, whole processes: imports, data,
training, evaluation) is applied to the page's committed single-thread run time (its Histories' wall-clock,
as `benchmarks/book_times.py` sums it); pages without a recipe run (runs made by `growth.train`
directly) take the measured pages' overall ratio.  The sum, plus every page's probe time (first minus
cached seconds: an upper bound, as pages share architectures), projects the whole bench book's run time.

    git worktree add /tmp/baseline 00813ae
    python benchmarks/book_speed.py --baseline /tmp/baseline     # writes benchmarks/results/book_speed_cpu.json
    python benchmarks/book_speed.py --baseline /tmp/baseline --pages vt_ablation --out /tmp/q.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "book" / "notebooks" / "runs"


def median_runs(pages: list[str] | None) -> dict[str, Path]:
    """``{page: History path}``: per page, the recipe run with the median recorded wall-clock, of those on
    generated data."""
    chosen = {}
    for folder in sorted(p for p in RUNS.iterdir() if p.is_dir() and (pages is None or p.name in pages)):
        runs = []
        for path in sorted(folder.glob("*.json")):
            history = json.loads(path.read_text())
            if not isinstance(history, dict) or not history.get("meta", {}).get("recipe") or not history.get("epochs"):
                continue
            if history["meta"]["recipe_config"].get("data_root") is not None:
                continue  # its data were files made for the page (Table 4's ImageNet-layout folder), gone since
            wall = history["epochs"][-1].get("wall")
            if wall:
                runs.append((wall, path))
        if runs:
            runs.sort()
            chosen[folder.name] = runs[len(runs) // 2][1]
    return chosen


def run_one(path: str, out: str) -> None:
    """Child process: train the run of the History at ``path`` anew (``growth`` from ``PYTHONPATH``); print facts."""
    import growth
    from growth.recipes import RECIPES

    meta = json.loads(Path(path).read_text())["meta"]
    recipe = RECIPES[meta["recipe"]]
    config = recipe.config_class(**meta["recipe_config"])
    start = time.perf_counter()
    history = recipe.run(config, history_path=Path(out) / "history.json", progress=False).history
    seconds = time.perf_counter() - start
    print(json.dumps({
        "seconds": seconds, "growth": str(Path(growth.__file__).parent),
        "train_seconds": sum(e["train_seconds"] for e in history.epochs),
        "eval_seconds": sum(e["eval_seconds"] for e in history.epochs),
        "channels_last": sorted({e["channels_last"] for e in history.epochs if "channels_last" in e}),
        "threads": sorted({e["threads"] for e in history.epochs if "threads" in e}),
    }))


def measure(page: str, path: Path, tree: Path, runtime: dict[str, str], cache: Path) -> dict:
    """One run of ``path`` by the code in ``tree`` in a child process; its facts."""
    from growth.machine import PORTABLE_CPU_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("GROWTH_")}
    env.update(PORTABLE_CPU_ENV, PYTHONPATH=str(tree), GROWTH_CACHE=str(cache), **runtime)
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, __file__, "--run-one", str(path), out], env=env, cwd=out,
                              capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{page} ({tree}) failed:\n{done.stderr[-3000:]}")
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(facts["growth"]).resolve() != (tree / "growth").resolve():
        raise RuntimeError(f"{page}: the child imported {facts['growth']}, not {tree / 'growth'}")
    return facts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", help="a checkout of the earlier commit (git worktree add DIR COMMIT)")
    p.add_argument("--pages", nargs="*", default=None, help="only these pages (default: every bench page)")
    p.add_argument("--workers", type=int, default=2, help="runs at a time (default 2, the book's)")
    p.add_argument("--out", default=None, help="result JSON (default benchmarks/results/book_speed_cpu.json)")
    p.add_argument("--run-one", nargs=2, metavar=("HISTORY", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.run_one:
        return run_one(*args.run_one)
    if not args.baseline or not (Path(args.baseline) / "growth").is_dir():
        p.error(f"--baseline={args.baseline!r}: give a checkout of the earlier commit (a folder with growth/)")
    sys.path.insert(0, str(REPO))
    import torch
    import yaml

    from growth.files import atomic_write_json
    from growth.layout import CORES_ENV, LAYOUT_ENV, THREADS_ENV
    from growth.machine import machine_info

    bench = yaml.safe_load((REPO / "profiles" / "bench.yaml").read_text())
    runtime = {LAYOUT_ENV: str(bench["channels_last"]).lower(), THREADS_ENV: str(bench["threads"]).lower(),
               CORES_ENV: str(max(1, (os.cpu_count() or 1) // args.workers))}
    baseline = Path(args.baseline).resolve()
    commit = subprocess.run(["git", "-C", str(baseline), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    chosen = median_runs(args.pages)
    trees = {"baseline": (baseline, {}), "first": (REPO, runtime), "this": (REPO, runtime)}
    results = {}
    with tempfile.TemporaryDirectory() as cache, ThreadPoolExecutor(args.workers) as pool:
        for sides in (("first",), ("baseline", "this")):
            tasks = [(page, path, side) for page, path in chosen.items() for side in sides]
            futures = {task: pool.submit(measure, task[0], task[1], *trees[task[2]], Path(cache)) for task in tasks}
            results.update({task: future.result() for task, future in futures.items()})

    sys.path.insert(0, str(REPO / "benchmarks"))
    from book_times import notebook_times

    book = notebook_times(REPO / "book" / "notebooks")
    rows = []
    for page, path in chosen.items():
        old, new, first = results[page, path, "baseline"], results[page, path, "this"], results[page, path, "first"]
        rows.append({"page": page, "run": path.name, "baseline_seconds": round(old["seconds"], 2),
                     "seconds": round(new["seconds"], 2), "speedup": round(old["seconds"] / new["seconds"], 3),
                     "first_seconds": round(first["seconds"], 2),
                     "probe_seconds": round(max(0.0, first["seconds"] - new["seconds"]), 2),
                     "baseline_eval_seconds": round(old["eval_seconds"], 2), "eval_seconds": round(new["eval_seconds"], 2),
                     "channels_last": new["channels_last"], "threads": new["threads"]})
        print(f"{page:>30} {old['seconds']:7.1f} s -> {new['seconds']:7.1f} s  {rows[-1]['speedup']:.2f}x  "
              f"(first {first['seconds']:.1f} s) "
              f"(eval {old['eval_seconds']:.1f} -> {new['eval_seconds']:.1f} s; channels_last {new['channels_last']})")
    overall = sum(r["baseline_seconds"] for r in rows) / sum(r["seconds"] for r in rows)
    speedups = {r["page"]: r["speedup"] for r in rows}
    pages = {name: {"run_seconds": facts["run_seconds"], "speedup": speedups.get(name, overall),
                    "measured": name in speedups} for name, facts in book.items()
             if args.pages is None or name in args.pages}
    before = sum(p["run_seconds"] for p in pages.values())
    probes = sum(r["probe_seconds"] for r in rows)
    after = sum(p["run_seconds"] / p["speedup"] for p in pages.values()) + probes
    result = {
        "benchmark": "the bench book's median run per page, trained anew by an earlier commit's code and by this "
                     "checkout's with the bench profile's runtime settings (seconds of whole processes)",
        "baseline_commit": commit, "runtime": runtime, "workers": args.workers, "runs": rows,
        "measured_speedup": round(overall, 3),
        "book_run_seconds": {"committed": round(before, 1), "projected": round(after, 1), "probes": round(probes, 1),
                             "speedup": round(before / after, 3), "pages": pages},
        "machine": machine_info(torch.device("cpu")), "load_average_1_5_15min_at_end": [round(v, 2) for v in os.getloadavg()],
        "date": datetime.date.today().isoformat(),
    }
    out = Path(args.out or REPO / "benchmarks" / "results" / "book_speed_cpu.json")
    atomic_write_json(out, result)
    print(f"measured {overall:.2f}x over {len(rows)} runs; the book's single-thread run time {before / 60:.0f} min -> "
          f"{after / 60:.0f} min projected ({before / after:.2f}x); written to {out}")


if __name__ == "__main__":
    main()
