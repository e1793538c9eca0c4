"""Where a book's time goes: per notebook, its runs and the seconds they trained and evaluated.

Reads every History under `BOOK/runs/<notebook>/` (the runs a book notebook made) and sums, per notebook,
the runs' wall-clock seconds (training, evaluation and growth steps, as each History records them), with
the device they ran on.  Comparing two books (the committed 2-core CPU book and one executed on a GPU)
compares the same runs on two machines.

    python benchmarks/book_times.py book/notebooks                        # the committed bench book
    python benchmarks/book_times.py $OUT/book --out $OUT/book_times.json  # one executed elsewhere
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from growth.files import atomic_write_json  # noqa: E402


def notebook_times(book: Path) -> dict[str, dict]:
    """``{notebook: {"runs": n, "run_seconds": s, "devices": [...]}}`` from the Histories under ``book/runs``."""
    out = {}
    for folder in sorted(p for p in (book / "runs").glob("*") if p.is_dir()):
        seconds, devices, runs = 0.0, set(), 0
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or "epochs" not in data:
                continue  # claims.json and other records
            runs += 1
            epochs = data["epochs"]
            seconds += epochs[-1].get("wall", 0.0) if epochs else 0.0
            devices.add(data.get("meta", {}).get("device", "?"))
        out[folder.name] = {"runs": runs, "run_seconds": round(seconds, 1), "devices": sorted(devices)}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("book", type=Path, help="a folder of executed notebooks with their runs/ (e.g. book/notebooks)")
    p.add_argument("--out", type=Path, default=None, help="write the table as JSON here")
    args = p.parse_args(argv)
    times = notebook_times(args.book)
    if not times:
        print(f"book_times: no runs under {args.book / 'runs'}", file=sys.stderr)
        return 2
    for name, t in times.items():
        print(f"{name:>36}: {t['runs']:4d} runs, {t['run_seconds'] / 60:8.1f} min of runs  {'; '.join(t['devices'])}")
    total = sum(t["run_seconds"] for t in times.values())
    print(f"{'all':>36}: {sum(t['runs'] for t in times.values()):4d} runs, {total / 60:8.1f} min of runs")
    if args.out is not None:
        atomic_write_json(args.out, {"book": str(args.book), "notebooks": times, "total_run_seconds": round(total, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
