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

The command line is generated from the configuration's fields (:func:`add_config_arguments`): a field
with a ``help`` (in its metadata, see :func:`option`, or :data:`COMMON_HELP` for the fields every
recipe shares) is an option ``--field-name``; its type comes from the field's annotation.  The shared
fields' checks are :func:`validate_common`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..data import list_datasets
from ..data import load as load_dataset
from ..train import resolve_device, seed_everything, train


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


# ---------------------------------------------------------------------------- the fields recipes share

#: The command line's help for the fields every recipe has (a recipe's own fields carry theirs, :func:`option`).
COMMON_HELP = {
    "width": "width multiplier of the full model (1.0 is the paper's)",
    "dataset": "dataset name: synthetic, digits, cifar10, cifar100, svhn, mnist, fashionmnist, imagenet",
    "dataset_options": "a dataset option (repeatable), e.g. num_train=1000; VALUE is read as JSON when it parses",
    "data_root": "folder of the on-disk datasets (default $GROWTH_DATA or ./data)",
    "val_fraction": "fraction of the training set held out for validation",
    "lr": "initial learning rate",
    "momentum": "SGD momentum",
    "weight_decay": "weight decay",
    "batch_size": "mini-batch size",
    "augment": "random crops and flips of the training images (--no-augment: none)",
    "seed": "random seed (default 0)",
    "device": "auto, cpu, cuda or cuda:N",
}


def option(default: Any = None, *, help: str, flag: str | None = None, cli_type: Callable | None = None,
           factory: Callable[[], Any] | None = None) -> Any:
    """A configuration field with ``default`` (or ``factory``'s value) that is a command-line option:
    ``help`` its text, ``flag`` the option's name when not ``--field-name``, ``cli_type`` a parser when
    the annotation does not give one."""
    metadata = {"help": help, "flag": flag, "cli_type": cli_type}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _cli_fields(config_class: type) -> list[tuple[dataclasses.Field, str]]:
    """The fields of ``config_class`` that are options, each with its help."""
    found = []
    for f in dataclasses.fields(config_class):
        text = f.metadata.get("help") or COMMON_HELP.get(f.name)
        if text:
            found.append((f, text))
    return found


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") else name


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type, *, profiles: Sequence[str]) -> None:
    """``--profile`` and one option per field of ``config_class`` that has a help: ``--field-name``
    (underscores as dashes) of the annotation's type; a ``bool`` is ``--x`` / ``--no-x``, a ``list`` is
    repeated, a ``dict`` (``dataset_options``) is ``--dataset-option KEY=VALUE``, repeated.  Every
    option defaults to unset: the profile's value holds."""
    parser.add_argument("--profile", choices=profiles, default="smoke",
                        help="scale: smoke (seconds, CPU), bench (minutes, offline data), paper (the paper's data, "
                             "GPU); default smoke")
    for f, text in _cli_fields(config_class):
        annotation = str(f.type)
        flag = f.metadata.get("flag") or f.name.replace("_", "-")
        if annotation.startswith("dict"):
            flag = _singular(flag)
            parser.add_argument(f"--{flag}", dest=f"{f.name}_items", action="append", default=[], metavar="KEY=VALUE",
                                help=text)
        elif annotation.startswith("bool"):
            parser.add_argument(f"--{flag}", dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=text)
        elif annotation.startswith("list"):
            parser.add_argument(f"--{flag}", dest=f.name, action="append", metavar=f.name.upper(), help=text)
        else:
            kind = f.metadata.get("cli_type") or next(
                (t for name, t in (("int", int), ("float", float)) if annotation.startswith(name)), str)
            parser.add_argument(f"--{flag}", dest=f.name, type=kind, help=text)


def config_from_cli(args: argparse.Namespace, make_config: Callable[..., Any], config_class: type,
                    **fixed: Any) -> Any:
    """A recipe's configuration from ``python -m growth run NAME``'s parsed ``args``: the profile's
    configuration (``make_config(args.profile, **fixed)``) with every option that was given on top,
    and the ``KEY=VALUE`` items of a dict field (``--dataset-option``) merged into the profile's."""
    cli = _cli_fields(config_class)
    overrides = {f.name: getattr(args, f.name) for f, _ in cli if getattr(args, f.name, None) is not None}
    items = {f.name: getattr(args, f"{f.name}_items", []) for f, _ in cli if str(f.type).startswith("dict")}
    if any(items.values()):
        base = make_config(args.profile, **fixed, **overrides)
        for name, given in items.items():
            if given:
                overrides[name] = {**getattr(base, name), **parse_dataset_options(given)}
    return make_config(args.profile, **fixed, **overrides)


def profile_config(config_class: type, values: dict[str, Any], overrides: dict[str, Any], *, what: str) -> Any:
    """``config_class`` built from a profile's ``values`` with ``overrides`` (its fields) on top, validated:
    an unknown name is refused (``what``: whose parameters, e.g. "VT"), and the profile's
    ``dataset_options`` are dropped where ``overrides`` change the dataset but give none of their own."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown {what} parameter(s) {unknown}; allowed: {sorted(known)}")
    values = dict(values)
    if "dataset" in overrides and overrides["dataset"] != values.get("dataset") and "dataset_options" not in overrides:
        values.pop("dataset_options", None)
    values.update(overrides)
    values["dataset_options"] = dict(values.get("dataset_options", {}))
    config = config_class(**values)
    config.validate()
    return config


def launch(recipe: str, paper: str, config: Any, train_config: Any, make_model: Callable[[Any], Any], *,
           grower: Any, label: dict[str, Any], facts: dict[str, Any], finalize: Callable[[Any, Any], None],
           history_path: str | None, meta: dict[str, Any] | None, progress: bool | None, resume: bool,
           prepare_data: Callable[[Any], Any] | None = None) -> Any:
    """The run every recipe makes of its resolved ``config``: check ``train_config`` (a
    :class:`growth.TrainConfig`), read the data on the config's device (``subsample`` where the config has
    one), seed, ``make_model(data)``, and :func:`growth.train` with the History's meta: the recipe, paper,
    profile, ``label`` (variant, policy), the configuration, the dataset, ``facts`` and ``meta``;
    ``finalize(run, data)`` adds the recipe's facts about the finished run, after ``input_shape``.
    ``prepare_data(data)``: the data the run trains on, made from what was read (a growing stream)."""
    train_config.validate()
    device = resolve_device(config.device)
    subsample = {"subsample": config.subsample} if hasattr(config, "subsample") else {}
    data = load_dataset(config.dataset, root=config.data_root, val_fraction=config.val_fraction, seed=config.seed,
                        device=device, **subsample, **config.dataset_options)
    if prepare_data is not None:
        data = prepare_data(data)
    seed_everything(config.seed)
    model = make_model(data)
    run_meta = {"recipe": recipe, "paper": paper, "profile": config.profile, **label,
                "recipe_config": jsonable(dataclasses.asdict(config)), "dataset": config.dataset, **facts,
                **(meta or {})}

    def close(run: Any) -> None:
        run.history.meta["input_shape"] = list(data.input_shape)
        finalize(run, data)

    return train(model, data, train_config, grower=grower, history_path=history_path, meta=run_meta,
                 progress=progress, resume=resume, finalize=close)


def validate_common(config: Any) -> None:
    """``ValueError`` naming the first shared field of ``config`` (:data:`COMMON_HELP`'s, those it has) whose
    value is not allowed; ``lr`` and ``weight_decay`` may be None (derived).  Touches no data."""
    names = {f.name for f in dataclasses.fields(config)}
    if "width" in names:
        check_number("width", config.width, minimum=0.0, open_low=True)
    check_choice("dataset", config.dataset, list_datasets())
    if not isinstance(config.dataset_options, dict):
        raise ValueError(f"dataset_options={config.dataset_options!r} is not allowed: use a dict of options")
    check_number("val_fraction", config.val_fraction, minimum=0.0, maximum=1.0, open_high=True)
    if config.lr is not None:
        check_number("lr", config.lr, minimum=0.0, open_low=True)
    check_number("momentum", config.momentum, minimum=0.0)
    if config.weight_decay is not None:
        check_number("weight_decay", config.weight_decay, minimum=0.0)
    check_int("batch_size", config.batch_size, minimum=1)
    if not isinstance(config.augment, bool):
        raise ValueError(f"augment={config.augment!r} is not allowed: use True or False")
    check_int("seed", config.seed, minimum=0)
    resolve_device(config.device)
    if not isinstance(config.profile, str) or not config.profile:
        raise ValueError(f"profile={config.profile!r} is not allowed: use a label such as 'paper'")

