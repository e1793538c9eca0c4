"""Learning-rate schedules, one value per epoch: constant, cosine, step (staircase), warm restarts.

The papers' settings: AutoGrow grows at a constant LR and fine-tunes with a staircase (decays at
epochs 100 and 150 of 200); FRAGrow grows at a constant LR, then decays with a cosine (its runs
without growth take ``hold-cosine``: the same shape at fixed epochs); VT uses cosine; MixtureGrowth's
code restarts the schedule for each network it trains and then trains the grown one at a small LR with
warm restarts (``phases``: one schedule per phase, each starting afresh).  VT's Transformer (Sec. 4.3)
trains with Adam under a warm-up and an inverse square-root decay (``inverse-sqrt``, in epochs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

SCHEDULES = ("constant", "cosine", "hold-cosine", "step", "warm-restarts", "phases", "inverse-sqrt")


@dataclass(frozen=True)
class Schedule:
    """``schedule(epoch)`` is the base learning rate of 0-based ``epoch``."""

    name: str
    fn: Callable[[int], float]

    def __call__(self, epoch: int) -> float:
        return self.fn(epoch)


def constant(lr: float) -> Schedule:
    return Schedule("constant", lambda epoch: lr)


def cosine(lr: float, epochs: int, min_lr: float = 0.0) -> Schedule:
    """Cosine annealing from ``lr`` at epoch 0 towards ``min_lr`` at epoch ``epochs``."""
    return Schedule(
        "cosine", lambda e: min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * min(e, epochs) / epochs))
    )


def hold_cosine(lr: float, epochs: int, hold: int, min_lr: float = 0.0) -> Schedule:
    """Constant ``lr`` for the first ``hold`` epochs, then a cosine from ``lr`` towards ``min_lr`` over the
    ``epochs - hold`` that are left (FRAGrow: constant while growing, cosine while fine-tuning)."""
    rest = cosine(lr, max(epochs - hold, 1), min_lr)
    return Schedule("hold-cosine", lambda e: lr if e < hold else rest(e - hold))


def step(lr: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    """Staircase: multiply by ``gamma`` at each milestone epoch (e.g. 100 and 150 of 200)."""
    marks = sorted(milestones)
    return Schedule("step", lambda e: lr * gamma ** sum(e >= m for m in marks))


def warm_restarts(lr: float, period: int, mult: int = 1, min_lr: float = 0.0, decay: float = 1.0) -> Schedule:
    """SGDR (Loshchilov & Hutter): cosine cycles of ``period`` epochs, each ``mult`` times longer and
    starting from ``decay`` times the previous cycle's peak (timm's ``cycle_decay``)."""

    def fn(e: int) -> float:
        t, length, peak = e, period, lr
        while t >= length:
            t, length, peak = t - length, length * mult, peak * decay
        return min_lr + (max(peak, min_lr) - min_lr) * 0.5 * (1 + math.cos(math.pi * t / length))

    return Schedule("warm-restarts", fn)


def inverse_sqrt(lr: float, warmup: int) -> Schedule:
    """Linear warm-up to ``lr`` over ``warmup`` epochs (epoch ``e`` gets ``lr (e + 1) / warmup``), then
    ``lr sqrt(warmup / (e + 1))``: Vaswani et al.'s (Noam) shape, and fairseq's ``inverse_sqrt``, counted
    in epochs instead of steps."""
    return Schedule("inverse-sqrt", lambda e: lr * min((e + 1) / warmup, math.sqrt(warmup / (e + 1))))


def phases(parts: Sequence[tuple[int, Schedule]]) -> Schedule:
    """Consecutive phases ``(epochs, schedule)``, each schedule counting its epochs from 0; the last one
    goes on past its end."""
    starts, at = [], 0
    for length, _ in parts:
        starts.append(at)
        at += length

    def fn(e: int) -> float:
        i = max(k for k, start in enumerate(starts) if start <= e or k == 0)
        return parts[i][1](e - starts[i])

    return Schedule("phases", fn)


def _phases(lr: float, epochs: int, specs: Any) -> Schedule:
    """``phases``' option: a list of ``{"epochs": n, "schedule": name, "lr": x (default: the run's),
    "options": {...}}`` whose epochs add up to the run's."""
    if not isinstance(specs, (list, tuple)) or not specs or not all(isinstance(p, dict) for p in specs):
        raise ValueError(f"phases={specs!r} is not allowed: give a list of dicts with keys epochs, schedule, lr, options")
    parts = []
    for i, spec in enumerate(specs):
        unknown = sorted(set(spec) - {"epochs", "schedule", "lr", "options"})
        if unknown:
            raise ValueError(f"phases[{i}]={spec!r} has {unknown}; allowed keys: epochs, schedule, lr, options")
        length = spec.get("epochs")
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"phases[{i}] epochs={length!r} is not allowed: use a non-negative integer")
        name = spec.get("schedule", "constant")
        if name == "phases":
            raise ValueError(f"phases[{i}] schedule='phases' is not allowed: phases do not nest")
        parts.append((length, make_schedule(name, spec.get("lr", lr), max(length, 1), **dict(spec.get("options", {})))))
    total = sum(length for length, _ in parts)
    if total != epochs:
        raise ValueError(f"phases={specs!r} last {total} epochs in all, the run {epochs}: make them add up")
    return phases(parts)


def _finite(name: str, value, *, low: float, high: float | None = None, low_open: bool = False) -> None:
    """``ValueError`` unless ``value`` is a finite real number in [low, high] (``(low, ...`` if ``low_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
        value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {'inf)' if high is None else f'{high:g}]'}"
        raise ValueError(f"{name}={value!r} is not allowed: use a finite number in {interval}")


def make_schedule(name: str, lr: float, epochs: int, **options) -> Schedule:
    """Build a schedule by name; bad names or options raise ``ValueError`` before any training.
    Every schedule's LR stays in ``[min_lr, lr]`` (``min_lr`` >= 0) or, for ``step``, decays by a
    ``gamma`` in (0, 1]."""
    _finite("lr", lr, low=0.0, low_open=True)
    if "min_lr" in options:
        _finite("min_lr", options["min_lr"], low=0.0, high=lr)
    if "gamma" in options:
        _finite("gamma", options["gamma"], low=0.0, high=1.0, low_open=True)
    if "mult" in options and (isinstance(options["mult"], bool) or not isinstance(options["mult"], int)
                              or options["mult"] < 1):
        raise ValueError(f"mult={options['mult']!r} is not allowed: use a positive integer (cycle length factor)")
    if name == "constant":
        _no_options(name, options)
        return constant(lr)
    if name == "cosine":
        _only(name, options, {"min_lr"})
        return cosine(lr, max(epochs, 1), **options)
    if name == "hold-cosine":
        _only(name, options, {"hold", "min_lr"})
        hold = options.get("hold")
        if isinstance(hold, bool) or not isinstance(hold, int) or not 0 <= hold <= epochs:
            raise ValueError(f"hold={hold!r} is not allowed: give the constant epochs, an integer in [0, {epochs}]")
        return hold_cosine(lr, max(epochs, 1), hold, options.get("min_lr", 0.0))
    if name == "step":
        _only(name, options, {"milestones", "gamma"})
        milestones = options.get("milestones")
        if milestones is None:
            milestones = [epochs // 2, (3 * epochs) // 4]  # the 100/150-of-200 staircase, scaled
        if not isinstance(milestones, (list, tuple)) or any(
                isinstance(m, bool) or not isinstance(m, int) or m < 0 for m in milestones):
            raise ValueError(f"milestones={milestones!r} is not allowed: use non-negative integer epochs")
        return step(lr, milestones, options.get("gamma", 0.1))
    if name == "warm-restarts":
        _only(name, options, {"period", "mult", "min_lr", "decay"})
        if "decay" in options:
            _finite("decay", options["decay"], low=0.0, high=1.0, low_open=True)
        period = options.pop("period", max(epochs // 4, 1))
        if isinstance(period, bool) or not isinstance(period, int) or period < 1:
            raise ValueError(f"period={period!r} is not allowed: use a positive number of epochs")
        return warm_restarts(lr, period, **options)
    if name == "phases":
        _only(name, options, {"phases"})
        return _phases(lr, epochs, options.get("phases"))
    if name == "inverse-sqrt":
        _only(name, options, {"warmup"})
        warmup = options.get("warmup", 1)
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
            raise ValueError(f"warmup={warmup!r} is not allowed: use a positive number of epochs")
        return inverse_sqrt(lr, warmup)
    raise ValueError(f"schedule={name!r} is unknown: choose one of {', '.join(SCHEDULES)}")


def _no_options(name: str, options: dict) -> None:
    _only(name, options, set())


def _only(name: str, options: dict, allowed: set[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"schedule_options={options!r} has {unknown} that schedule {name!r} does not take; "
            f"allowed: {sorted(allowed) or 'none'}"
        )
