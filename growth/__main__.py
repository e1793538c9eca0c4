"""The command line: ``python -m growth <command> ...`` (or the ``growth`` console script).

Commands
--------
``describe NAME``  a zoo model's spec, parameter count and forward MACs per sample
``models``         the names the model zoo builds
``run RECIPE``     a paper's experiment (``growth.recipes.RECIPES``), e.g. ``run autogrow --profile smoke``;
                   prints the found net, its accuracy and cost, and writes the History JSON (``--out``)

Every command is a pair of functions below, ``_add_<command>(subparsers)`` declaring its arguments and
``_cmd_<command>(args) -> int`` running it; :func:`_build_parser` lists them. A bad value (an unknown
model, a malformed name, a non-positive size) prints the ``ValueError``'s message to stderr and exits
with status 2, as argparse does for its own usage errors; no traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from typing import Sequence

USAGE_ERROR = 2
OUTCOME_WORDS = {"computed": "computed now", "resumed": "resumed from its checkpoint",
                 "reused": "reused: this run had finished; nothing was trained"}


def _quiet_deprecations() -> None:
    """PyTorch deprecates ``torch.jit`` (used by torchvision at import and by fvcore to trace): not the user's concern."""
    warnings.filterwarnings("ignore", message=r".*torch\.jit\..* is deprecated", category=FutureWarning)


# --------------------------------------------------------------------------- argument types


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


# --------------------------------------------------------------------------- describe


def _add_describe(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "describe",
        help="a model's spec, parameters and forward MACs per sample",
        description=(
            "Build a zoo model and print its spec, parameter count and forward MACs per sample "
            "(FLOPs as fvcore counts them: 1 multiply-add = 1; training = 3 x forward)."
        ),
    )
    p.add_argument("name", help="model name in the papers' notation, e.g. ResNet-20, Basic3ResNet-1-1-1, VGG-11")
    p.add_argument("--image-size", type=_positive_int, default=32, help="input height and width (default 32)")
    p.add_argument("--num-classes", type=_positive_int, default=10, help="number of classes (default 10)")
    p.add_argument("--width", type=_positive_float, default=1.0, help="width multiplier (default 1.0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=_cmd_describe)


def describe(name: str, *, image_size: int = 32, num_classes: int = 10, width: float = 1.0) -> dict:
    """The facts ``describe`` prints, as a JSON-serialisable dict (MACs and parameters as ints)."""
    from growth.measure.cost import forward_macs_by_operator
    from growth.models import build_model

    model = build_model(name, num_classes=num_classes, image_size=image_size, width=width)
    by_op = forward_macs_by_operator(model)
    macs = sum(by_op.values())
    shape = (getattr(model, "in_channels", 3), image_size, image_size)
    depths = getattr(model, "depths", None)
    return {
        "name": name,
        "spec": getattr(model, "spec", name),
        "depths": None if depths is None else list(depths),
        "params": int(sum(p.numel() for p in model.parameters())),
        "macs": int(macs),
        "training_macs_per_sample": 3 * int(macs),
        "macs_by_operator": by_op,
        "input_shape": list(shape),
        "image_size": image_size,
        "num_classes": num_classes,
        "width": width,
    }


def _cmd_describe(args: argparse.Namespace) -> int:
    from growth.measure.cost import PRODUCT_OPS, format_macs

    info = describe(args.name, image_size=args.image_size, num_classes=args.num_classes, width=args.width)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    shape = "x".join(map(str, info["input_shape"]))
    products = sum(v for k, v in info["macs_by_operator"].items() if k in PRODUCT_OPS)
    ops = ", ".join(f"{k} {v:,}" for k, v in info["macs_by_operator"].items())
    print(f"{info['name']}: spec {info['spec']}, input {shape}, {info['num_classes']} classes, width {info['width']:g}")
    print(f"  params:                     {info['params']:,}")
    print(f"  forward MACs per sample:    {info['macs']:,} ({format_macs(info['macs'])}; FLOPs as fvcore counts, 1 MAC = 1)")
    print(f"    conv + linear products:   {products:,}")
    print(f"    by operator:              {ops}")
    print(f"  training MACs per sample:   {info['training_macs_per_sample']:,} (3 x forward)")
    return 0


# --------------------------------------------------------------------------- models


def _add_models(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the model names the zoo builds")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from growth.models import list_models

    for name in list_models():
        print(name)
    return 0


# --------------------------------------------------------------------------- run


def _add_run(subparsers: argparse._SubParsersAction) -> None:
    from growth.recipes import RECIPES

    p = subparsers.add_parser(
        "run",
        help="run a paper's experiment (a recipe): print the found net, its accuracy and cost",
        description=(
            "Run a recipe of growth.recipes at a profile's scale (smoke, bench, paper), with any of its "
            "parameters overridden; print the found net, its accuracy and training cost, and write the "
            "run's History as JSON."
        ),
    )
    recipes = p.add_subparsers(dest="recipe", metavar="RECIPE", required=True)
    for name, recipe in RECIPES.items():
        rp = recipes.add_parser(name, help=recipe.description, description=recipe.description)
        recipe.add_arguments(rp)
        rp.add_argument("--out", default="history.json", help="where to write the History JSON (default history.json)")
        rp.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint beside --out (OUT with suffix .ckpt), written after every "
                             "epoch, if there is one; it must come from the same configuration and code")
        rp.add_argument("--json", action="store_true", help="print the summary as one JSON object")
        rp.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from growth.recipes import get_recipe

    from growth.files import FileBusyError, check_writable
    from growth.train import TrainingDiverged

    from growth import distributed

    recipe = get_recipe(args.recipe)
    check_writable(args.out, "--out")
    config = recipe.config_from_args(args)  # every parameter checked here, before any data or training
    started = distributed.init_from_environment()  # under torchrun: one run on every process (growth.distributed)
    try:
        run = recipe.run(config, history_path=args.out, resume=args.resume)
    except (TrainingDiverged, FileBusyError) as err:  # a diverged run; a History another run is writing
        print(f"growth {args.command}: {err}", file=sys.stderr)
        return 1
    finally:
        if started:
            import torch.distributed

            torch.distributed.destroy_process_group()
    if started and int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 prints the summary and wrote the History
    summary = {**recipe.summary(run), "history": str(args.out), "outcome": run.outcome}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(recipe.format_summary(summary))
        print(f"  history:         {args.out} ({OUTCOME_WORDS[run.outcome]})")
    return 0


# --------------------------------------------------------------------------- the parser


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="growth",
        description="Grow neural networks in depth and width: how, where and when.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_describe(subparsers)
    _add_models(subparsers)
    _add_run(subparsers)
    # New commands go here, each as an _add_<command>/_cmd_<command> pair above.
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m growth`` and of the ``growth`` console script; returns the exit status."""
    _quiet_deprecations()
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse's own usage errors (status 2) and --help (status 0)
        return exit_.code if isinstance(exit_.code, int) else USAGE_ERROR
    try:
        return args.func(args)
    except ValueError as err:
        print(f"growth {args.command}: error: {err}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
