"""The book's statistics policy: a paper's claim judged on our seeds, with one of four verdicts.

A comparative claim compares a quantity of two arms (``a`` and ``b``) over seeds.  Before the runs,
its page declares the **margin**: the smallest effect (``mean(a) - mean(b)``, in the quantity's units)
that counts.  :func:`judge` computes the **interval** on the difference of the seed means (Welch's
t-interval, 95%; paired differences when both arms share their seeds and ``paired=True``) and gives
one of four verdicts (the book's "Statistics policy" page):

=================  ==============================================================================
claim              holds / does not hold (anything else: inconclusive)
=================  ==============================================================================
``greater``        interval above 0 and effect >= margin / interval entirely below the margin
``less``           interval below 0 and effect <= -margin / interval entirely above -margin
``equivalent``     interval inside (-margin, margin) / interval entirely outside it
``not_worse``      interval above -margin / interval entirely below -margin
``not_better``     interval below margin / interval entirely above margin
=================  ==============================================================================

``not run`` names what the claim needs (fewer than ``MIN_SEEDS`` seeds an arm, or an arm that was
not run at this profile); ``not judged`` names why a comparison would mean nothing (a reference arm
that never trained).  A claim made of several comparisons is combined by :func:`combine`.

Every verdict is a :class:`Verdict`; :func:`write_claims` stores a page's records as JSON beside its
runs, and the book's "Claims" page is generated from those files.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_RUN = "holds", "does not hold", "inconclusive", "not run"
NOT_JUDGED = "not judged"
#: The four verdicts, and "not judged" for a comparison that would mean nothing.
VERDICTS = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_RUN, NOT_JUDGED)
KINDS = ("greater", "less", "equivalent", "not_worse", "not_better")
#: Seeds an arm needs for a comparative claim to be judged.
MIN_SEEDS = 3
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Verdict:
    """One claim's verdict with the numbers that decide it.

    ``effect`` is ``mean(a) - mean(b)`` and ``interval`` its confidence interval (``None`` when not
    judged or not run); ``reason`` says what a verdict other than holds / does not hold needs or means.
    """

    claim: str
    verdict: str
    kind: str
    margin: float
    units: str = "points"
    effect: float | None = None
    interval: tuple[float, float] | None = None
    n: tuple[int, int] = (0, 0)
    reason: str = ""
    details: tuple[str, ...] = field(default_factory=tuple)

    def line(self) -> str:
        """One readable line: the verdict, then effect, interval, margin and seeds (or the reason)."""
        head = f"{self.verdict}: {self.claim}" if self.claim else self.verdict
        if self.effect is None:
            return head + (f" ({self.reason})" if self.reason else "")
        lo, hi = self.interval
        text = (f"{head} (effect {self.effect:+.3g} {self.units}, {CONFIDENCE:.0%} interval "
                f"[{lo:+.3g}, {hi:+.3g}], margin {self.margin:g}, {self.n[0]} vs {self.n[1]} seeds)")
        return text + (f"; {self.reason}" if self.reason else "")

    def record(self, **context: Any) -> dict[str, Any]:
        """A JSON-able record of this verdict, with ``context`` (paper, where, profile, data, notebook)."""
        out = asdict(self)
        out["interval"] = list(self.interval) if self.interval is not None else None
        out["n"] = list(self.n)
        out["details"] = list(self.details)
        return {**context, **out}


def _values(name: str, values: Sequence[float]) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"{name}={values!r} is not allowed: give a sequence of numbers, one per seed") from None
    if any(not math.isfinite(v) for v in out):
        raise ValueError(f"{name}={values!r} is not allowed: every value must be finite")
    return out


def interval(a: Sequence[float], b: Sequence[float], *, paired: bool = False,
             confidence: float = CONFIDENCE) -> tuple[float, tuple[float, float]]:
    """``mean(a) - mean(b)`` and its two-sided ``confidence`` interval: Welch's t-interval (unequal
    variances, Welch-Satterthwaite degrees of freedom), or with ``paired`` the t-interval of the
    seed-by-seed differences.  Both arms need at least two values; identical values give a zero-width
    interval."""
    from scipy.stats import t as student_t

    a, b = _values("a", a), _values("b", b)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} is not allowed: use a number between 0 and 1")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least two values an arm for an interval, got {len(a)} and {len(b)}")
    q = 1 - (1 - confidence) / 2
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired=True needs as many values in a as in b, got {len(a)} and {len(b)}")
        d = [x - y for x, y in zip(a, b)]
        mean = sum(d) / len(d)
        se = math.sqrt(sum((v - mean) ** 2 for v in d) / (len(d) - 1) / len(d))
        half = float(student_t.ppf(q, len(d) - 1)) * se
        return mean, (mean - half, mean + half)
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((v - ma) ** 2 for v in a) / (len(a) - 1) / len(a)
    vb = sum((v - mb) ** 2 for v in b) / (len(b) - 1) / len(b)
    diff, se = ma - mb, math.sqrt(va + vb)
    if se == 0:
        return diff, (diff, diff)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(student_t.ppf(q, df)) * se
    return diff, (diff - half, diff + half)


def _decide(kind: str, effect: float, lo: float, hi: float, m: float) -> str:
    if kind == "greater":
        return HOLDS if lo > 0 and effect >= m else DOES_NOT_HOLD if hi < m else INCONCLUSIVE
    if kind == "less":
        return HOLDS if hi < 0 and effect <= -m else DOES_NOT_HOLD if lo > -m else INCONCLUSIVE
    if kind == "equivalent":
        return HOLDS if -m < lo and hi < m else DOES_NOT_HOLD if lo >= m or hi <= -m else INCONCLUSIVE
    if kind == "not_worse":
        return HOLDS if lo > -m else DOES_NOT_HOLD if hi < -m else INCONCLUSIVE
    return HOLDS if hi < m else DOES_NOT_HOLD if lo > m else INCONCLUSIVE  # not_better


def judge(a: Sequence[float], b: Sequence[float], *, kind: str, margin: float, claim: str = "",
          units: str = "points", paired: bool = False, min_seeds: int = MIN_SEEDS,
          not_judged: str | None = None, confidence: float = CONFIDENCE) -> Verdict:
    """The verdict on "``a`` is ``kind`` than ``b``" over seeds (``a`` and ``b``: one value per seed).

    ``margin`` (> 0, in ``units``) is the smallest effect that counts, declared before the runs.
    ``not_judged`` gives the reason a comparison would mean nothing (e.g. "the Large baseline never
    trained"): the verdict is then "not judged", and ``a`` or ``b`` may be ``None`` (not measured).
    With fewer than ``min_seeds`` values in an arm the verdict is "not run", saying how many seeds it
    needs, whether or not the comparison would mean something (a profile of too few seeds tests no
    claim).
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not allowed: use one of {', '.join(KINDS)}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin) or margin <= 0:
        raise ValueError(f"margin={margin!r} is not allowed: declare a positive effect that counts, in {units}")
    if isinstance(min_seeds, bool) or not isinstance(min_seeds, int) or min_seeds < 2:
        raise ValueError(f"min_seeds={min_seeds!r} is not allowed: use an integer of at least 2")
    n = tuple(0 if arm is None else len(arm) for arm in (a, b))
    base = dict(claim=claim, kind=kind, margin=float(margin), units=units, n=n)
    if not_judged and (a is None or b is None):
        return Verdict(verdict=NOT_JUDGED, reason=not_judged, **base)
    a, b = _values("a", a), _values("b", b)
    if min(n) < min_seeds:
        return Verdict(verdict=NOT_RUN, reason=f"needs {min_seeds} seeds an arm, has {n[0]} and {n[1]}", **base)
    if not_judged:
        return Verdict(verdict=NOT_JUDGED, reason=not_judged, **base)
    effect, (lo, hi) = interval(a, b, paired=paired, confidence=confidence)
    return Verdict(verdict=_decide(kind, effect, lo, hi, float(margin)), effect=effect, interval=(lo, hi), **base)


def untrained(arm: str, accuracy: Sequence[float], *, chance: float, min_points: float) -> str | None:
    """Why a comparison against ``arm`` would mean nothing, or ``None``: its mean ``accuracy`` (%, one
    value per seed) is less than ``min_points`` above ``chance`` (%), so it never trained.  Give the
    result to :func:`judge` as ``not_judged``."""
    acc = _values("accuracy", accuracy)
    if not acc:
        raise ValueError("accuracy=[] is not allowed: give one accuracy per seed")
    mean = sum(acc) / len(acc)
    if mean < chance + min_points:
        return f"{arm} never trained: mean accuracy {mean:.1f}%, chance {chance:.3g}%"
    return None


def not_run(claim: str, needs: str, *, kind: str = "greater", margin: float = 1.0, units: str = "points") -> Verdict:
    """The verdict of a claim this profile cannot test, saying what it ``needs``."""
    return Verdict(claim=claim, verdict=NOT_RUN, kind=kind, margin=margin, units=units, reason=needs)


def combine(claim: str, parts: Sequence[Verdict]) -> Verdict:
    """One verdict over the comparisons a claim is made of (all of which it asserts): does not hold if
    any part does not (one failed part refutes the whole), else not judged or not run if any part is
    (that part's reason), holds if every part holds, and inconclusive otherwise.  The parts' lines
    are kept as ``details``."""
    if not parts:
        raise ValueError("parts=[] is not allowed: a claim needs at least one comparison")
    words = [p.verdict for p in parts]
    for word in (DOES_NOT_HOLD, NOT_JUDGED, NOT_RUN):
        if word in words:
            head = word
            break
    else:
        head = HOLDS if all(w == HOLDS for w in words) else INCONCLUSIVE
    reason = "; ".join(dict.fromkeys(p.reason for p in parts
                                     if p.verdict == head and p.reason and head in (NOT_JUDGED, NOT_RUN)))
    first = parts[0]
    return Verdict(claim=claim, verdict=head, kind=first.kind, margin=first.margin, units=first.units,
                   n=tuple(min(p.n[i] for p in parts) for i in (0, 1)), reason=reason,
                   details=tuple(p.line() for p in parts))


def write_claims(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``records`` (:meth:`Verdict.record`: a verdict with its paper, notebook, setting, ...) as a
    JSON list to ``path``, atomically; returns the path."""
    from .files import atomic_write_text

    records = [dict(r) for r in records]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(records, indent=1, sort_keys=True) + "\n")
    return path


def read_claims(paths: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """Every record of the claims files at ``paths``, in order."""
    out: list[dict[str, Any]] = []
    for p in paths:
        records = json.loads(Path(p).read_text())
        if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
            raise ValueError(f"{p} is not a claims file: expected a JSON list of records")
        out += [dict(r) for r in records]
    return out
