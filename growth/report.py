"""Tables and figures from Histories, labelled with what made them (every number shown
carries its profile, dataset, device, epochs and seeds)."""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from .history import History

LABELS = {
    "epoch": "epoch",
    "train_acc": "train accuracy (%)",
    "val_acc": "validation accuracy (%)",
    "test_acc": "test accuracy (%)",
    "train_loss": "train loss",
    "test_loss": "test loss",
    "macs": "cumulative training FLOPs (fvcore, 1 MAC = 1)",
    "wall": "wall-clock (s)",
    "lr": "learning rate",
    "params": "parameters",
}


def provenance(meta: Mapping[str, Any], seeds: Sequence[int] | None = None) -> str:
    """One line: profile, dataset, device, epochs and seeds of a run (or of runs over ``seeds``)."""
    seeds = list(seeds) if seeds is not None else [meta.get("seed")]
    return (
        f"profile {meta.get('profile', '?')} | dataset {meta.get('dataset', '?')} | "
        f"device {meta.get('device', '?')} | {meta.get('epochs', '?')} epochs | "
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
    )


def plot_runs(histories: Mapping[str, History], y: str, *, x: str = "epoch", ax=None, events: bool = True):
    """One curve per run of ``y`` against ``x``; growth events marked with dots on the curve."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for label, history in histories.items():
        xs, ys = history.series(x), history.series(y)
        (line,) = ax.plot(xs, ys, label=label)
        if events and history.events:
            grew = {e["epoch"] for e in history.events if e.get("kind", "grow") == "grow"}
            marks = [(a, b) for a, b, r in zip(xs, ys, history.epochs) if r["epoch"] in grew]
            if marks:
                ax.plot(*zip(*marks), "o", color=line.get_color(), markersize=4)
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    ax.grid(alpha=0.3)
    return ax


def markdown_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], digits: int = 2) -> str:
    """A Markdown table of ``rows`` (dicts) restricted to ``columns``; floats to ``digits`` places."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.{digits}f}"
        if isinstance(v, int) and abs(v) >= 10_000:
            return f"{v:,}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def accuracy_sem(acc: Sequence[float], n_test: int) -> float:
    """Standard error of a mean test accuracy (%) over seeds: the seeds' spread, never below the test
    set's binomial sampling error (one seed has no spread)."""
    a = [float(v) for v in acc]
    if not a or n_test < 1:
        raise ValueError(f"acc={acc!r}, n_test={n_test!r}: need at least one accuracy and a positive test size")
    mean = sum(a) / len(a)
    p = min(max(mean / 100, 0.0), 1.0)
    sampling = 100 * math.sqrt(p * (1 - p) / n_test) / math.sqrt(len(a))
    spread = (math.sqrt(sum((v - mean) ** 2 for v in a) / (len(a) - 1)) / math.sqrt(len(a))) if len(a) > 1 else 0.0
    return max(spread, sampling)


def compare_means(a: Sequence[float], b: Sequence[float], *, sem_a: float, sem_b: float) -> tuple[float, float, str]:
    """``mean(a) - mean(b)``, the tolerance (two standard errors of the difference) and the verdict on
    "a is larger than b": ``holds``, ``does not hold`` (b larger beyond the tolerance) or
    ``inconclusive (within noise)``, each "at this scale"."""
    diff = sum(a) / len(a) - sum(b) / len(b)
    tol = 2 * math.sqrt(sem_a ** 2 + sem_b ** 2)
    verdict = ("holds at this scale" if diff > tol else "does not hold at this scale" if diff < -tol
               else "inconclusive at this scale (within noise)")
    return diff, tol, verdict


def combine_verdicts(parts: Sequence[tuple[str, str]]) -> str:
    """One verdict over several ``(verdict, detail)`` comparisons: holds if every part holds, does not
    hold if any part does not, else inconclusive; the details follow."""
    if not parts:
        return "not judged: nothing to compare"
    heads = [v for v, _ in parts]
    head = ("holds at this scale" if all(h.startswith("holds") for h in heads)
            else "does not hold at this scale" if any(h.startswith("does not") for h in heads)
            else "inconclusive at this scale")
    return head + ": " + "; ".join(f"{d} ({v.split(' at this scale')[0]})" for v, d in parts)
