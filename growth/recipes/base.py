"""What a recipe is: a paper's experiment as a named, parameterised, runnable configuration.

A recipe (torchvision's classification references in spirit: a short, runnable log of how a number
was made) bundles

* a configuration dataclass whose defaults are the paper's own setting,
* named profiles (``smoke``, ``bench``, ``paper``: DESIGN.md's three scales) that override it,
* ``run(config, *, history_path, meta, progress) -> growth.Run``, which validates everything before
  any training, builds data, model and grower, and calls :func:`growth.train`,
* the command line of ``python -m growth run NAME`` (``add_arguments`` / ``config_from_args``) and
  ``summary(run)``, the facts the command prints.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Recipe:
    """One entry of :data:`growth.recipes.RECIPES`."""

    name: str
    description: str
    config_class: type
    profiles: tuple[str, ...]
    make_config: Callable[..., Any]  # (profile="paper", **overrides) -> config
    run: Callable[..., Any]  # (config, *, history_path=None, meta=None, progress=None) -> growth.Run
    add_arguments: Callable[[argparse.ArgumentParser], None]
    config_from_args: Callable[[argparse.Namespace], Any]
    summary: Callable[..., dict]  # (run) -> JSON-able dict of what the CLI prints
    format_summary: Callable[[dict], str]
