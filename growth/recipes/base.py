"""What a recipe is: a paper's experiment as a named, parameterised, runnable configuration.

A recipe (torchvision's classification references in spirit: a short, runnable log of how a number
was made) bundles

* a configuration dataclass whose defaults are the paper's own setting,
* named profiles (``smoke``, ``bench``, ``paper``: the three scales of the book's "Reproducing" page) that override it,
* ``run(config, *, history_path, meta, progress, resume) -> growth.Run``, which validates everything
  before any training, builds data, model and grower, and calls :func:`growth.train` (``resume``:
  from the checkpoint beside ``history_path``),
* the command line of ``python -m growth run NAME`` (``add_arguments`` / ``config_from_args``) and
  ``summary(run)``, the facts the command prints.
"""
from __future__ import annotations

import argparse
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Recipe:
    """One entry of :data:`growth.recipes.RECIPES`."""

    name: str
    description: str
    config_class: type
    profiles: tuple[str, ...]
    make_config: Callable[..., Any]  # (profile="paper", **overrides) -> config
    run: Callable[..., Any]  # (config, *, history_path=None, meta=None, progress=None, resume=False) -> growth.Run
    add_arguments: Callable[[argparse.ArgumentParser], None]
    config_from_args: Callable[[argparse.Namespace], Any]
    summary: Callable[..., dict]  # (run) -> JSON-able dict of what the CLI prints
    format_summary: Callable[[dict], str]


# ---------------------------------------------------------------------------- shared by the recipes


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    """``ValueError`` unless ``value`` is one of ``allowed`` (strings)."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is unknown: choose one of {', '.join(allowed)}")


def check_int(name: str, value: Any, *, minimum: int) -> None:
    """``ValueError`` unless ``value`` is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name}={value!r} is not allowed: use {what}")


def check_number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
                 open_low: bool = False, open_high: bool = False) -> None:
    """``ValueError`` unless ``value`` is a finite real number in the interval the bounds give."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if open_low else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if open_high else value <= maximum
    if not ok:
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        left = "(" if open_low or minimum is None else "["
        right = ")" if open_high or maximum is None else "]"
        interval = f"{left}{low}, {high}{right}"
        raise ValueError(f"{name}={value!r} is not allowed: use a finite number in {interval}")


def jsonable(value: Any) -> Any:
    """``value`` with tuples turned into lists, recursively (what a History's JSON holds)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def parse_dataset_options(items: Sequence[str]) -> dict[str, Any]:
    """``--dataset-option KEY=VALUE`` items as a dict; VALUE is read as JSON where it parses."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--dataset-option {item!r} is not KEY=VALUE, e.g. num_train=1000")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def config_from_cli(args: argparse.Namespace, make_config: Callable[..., Any], fields: Sequence[str],
                    **fixed: Any) -> Any:
    """A recipe's configuration from ``python -m growth run NAME``'s parsed ``args``: the profile's
    configuration (``make_config(args.profile, **fixed)``) with every option of ``fields`` that was
    given on top, and the ``--dataset-option`` items merged into the profile's ``dataset_options``."""
    overrides = {name: getattr(args, name) for name in fields if getattr(args, name, None) is not None}
    if args.dataset_option:
        base = make_config(args.profile, **fixed, **overrides)
        overrides["dataset_options"] = {**base.dataset_options, **parse_dataset_options(args.dataset_option)}
    return make_config(args.profile, **fixed, **overrides)

