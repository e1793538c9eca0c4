"""Tables and figures from Histories, labelled with what made them (every number shown
carries its profile, dataset, device, epochs and seeds), and a book page's bookkeeping (:class:`Page`)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .claims import Verdict, write_claims
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


def mean_sd(values: Iterable[float], digits: int = 2) -> str:
    """``"mean ± sd"`` of ``values`` (one per seed; the sample standard deviation), the mean alone for one value."""
    v = [float(x) for x in values]
    if not v:
        raise ValueError("values=[] is not allowed: give one value per seed")
    mean = sum(v) / len(v)
    if len(v) == 1:
        return f"{mean:.{digits}f}"
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def describe_data(dataset: str, options: Mapping[str, Any] | None = None, *, val_fraction: float = 0.0,
                  augment: bool | None = None) -> str:
    """A page's data as its setting line names it, e.g. ``synthetic, 500 train / 500 test images, 10
    classes, noise 1.0, 20% of train held out for validation, augmented``; a real dataset by its name."""
    o = dict(options or {})
    text = dataset
    if dataset == "synthetic":
        text += (f", {o['num_train']} train / {o['num_test']} test images, {o['num_classes']} classes, "
                 f"noise {o.get('difficulty', 1.0):g}")
        if o.get("prototypes_per_class", 1) != 1:
            text += f" ({o['prototypes_per_class']} patterns a class)"
    if val_fraction:
        text += f", {100 * val_fraction:.3g}% of train held out for validation"
    if augment is not None:
        text += ", augmented" if augment else ", no augmentation"
    return text


#: Figure defaults for the book's content column (about 750 px wide): text stays legible when a
#: figure of at most 8 inches is shown at that width.
BOOK_FIGURES = {"figure.dpi": 110, "savefig.dpi": 110, "font.size": 10, "axes.titlesize": 10,
                "axes.labelsize": 10, "legend.fontsize": 9, "xtick.labelsize": 9, "ytick.labelsize": 9,
                "figure.figsize": (7.5, 3.6)}


class Page:
    """A book page's bookkeeping, one call at its top: ``page = Page(globals(), notebook=..., paper=...)``.

    It checks the parameters papermill gave the notebook (:func:`growth.notebook_parameters.check_parameters`),
    sets the figure style for the book (:data:`BOOK_FIGURES`), picks knobs keyed by profile
    (:meth:`pick`), states the setting every number of the page was made in (:meth:`setting`), and
    collects the page's verdicts (:meth:`claim`), which :meth:`write_claims` stores for the book's
    Claims page.
    """

    def __init__(self, namespace: dict[str, Any], *, notebook: str, paper: str) -> None:
        from .notebook_parameters import check_parameters

        check_parameters(namespace)
        for name in ("profile", "seeds", "device"):
            if name not in namespace:
                raise ValueError(f"the notebook declares no parameter {name!r}: a page needs profile, seeds and device")
        self.notebook, self.paper = notebook, paper
        self.profile: str = namespace["profile"]
        self.is_paper = self.profile == "paper"
        self.seeds: list[int] = list(namespace["seeds"])
        self.data = self.provenance = ""
        self.verdicts: list[tuple[Verdict, dict[str, Any]]] = []
        import matplotlib.pyplot as plt

        plt.rcParams.update(BOOK_FIGURES)

    def pick(self, value: Any) -> Any:
        """A knob keyed by profile (``{"smoke": ..., "bench": ..., "paper": ...}``; a profile without an
        entry takes the bench entry), or a plain value as it is."""
        if isinstance(value, dict) and "bench" in value:
            return value.get(self.profile, value["bench"])
        return value

    def run_seeds(self, limit: Any = None) -> list[int]:
        """The profile's seeds, at most ``pick(limit)`` of them (``None``: all)."""
        n = self.pick(limit)
        return self.seeds if n is None else self.seeds[:n]

    def setting(self, *, data: str, device: str, epochs: str, seeds: Sequence[int]) -> str:
        """Print (and keep, as :attr:`provenance`) the line that says where this page's numbers come
        from: ``ours: profile | data | device | epochs | seeds``."""
        self.data = data
        seeds = list(seeds)
        self.provenance = (f"profile {self.profile} | {data} | device {device} | {epochs} | "
                           f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})")
        print("ours: " + self.provenance)
        return self.provenance

    def claim(self, verdict: Verdict, *, where: str, glue_key: str | None = None, **context: Any) -> Verdict:
        """Print ``verdict``'s line (and its parts), keep it for :meth:`write_claims` with ``where`` (the
        paper's table or figure) and ``context``; ``glue_key`` also glues the line for the chapter page."""
        print(f"[{where}] {verdict.line()}")
        for detail in verdict.details:
            print(f"    {detail}")
        self.verdicts.append((verdict, {"where": where, **context}))
        if glue_key:
            from myst_nb import glue

            glue(glue_key, verdict.line(), display=False)
        return verdict

    def write_claims(self, out_dir: str | Path) -> Path:
        """Write the page's verdicts to ``out_dir/claims.json`` (each with paper, notebook, profile,
        data and setting), the records the book's Claims page is generated from."""
        common = {"paper": self.paper, "notebook": self.notebook, "profile": self.profile, "data": self.data,
                  "setting": self.provenance}
        return write_claims(Path(out_dir) / "claims.json", [v.record(**common, **ctx) for v, ctx in self.verdicts])
