"""Model names in the papers' own notation -> builders, in timm's spirit.

Each family file registers its name pattern with :func:`register_family` (a decorator on a builder)
and its fixed names with :func:`register_alias`; :func:`build_model` parses a name, checks every
argument and calls the builder.  Names are case-insensitive: ``resnet-20`` is ``ResNet-20``.

A name is ``Family`` followed by ``arity`` positive integers joined by ``-``: ``Basic3ResNet-1-1-1``
(blocks per stage), ``WRN-28-10`` (depth, widening factor), ``MobileNetV1`` (no integers).  An alias
names one concrete model of a family: ``ResNet-20`` is ``Basic3ResNet-3-3-3``.

Input size: every family ends in global pooling (or an adaptive pooling) and so works at any
``image_size`` at least :attr:`Family.min_image_size` (1, or 32 for the nets that halve the image
five times with max-pooling).  Families that have both a CIFAR and an ImageNet layout take the
ImageNet stem from ``image_size >= IMAGENET_STEM_MIN_SIZE`` (128) up and the CIFAR stem below it, so
``32`` gives the CIFAR net and ``224`` the ImageNet net, as in the papers.

Options: a family may take named options beyond the width (the Transformer's ``d_model``, ``heads``,
...): ``build_model(name, ..., d_model=64)``; a model keeps them in ``build_options`` so that
``build_model(model.spec, ..., **model.build_options)`` rebuilds it.  ``Family.inputs`` says what a
family reads: ``"image"`` (every CNN) or ``"tokens"`` (the Transformer; ``image_size`` unused).
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

import torch

from ..machine import available_memory_bytes
from .base import GrowableNet

#: ``image_size`` from which two-layout families use their ImageNet stem (224 -> ImageNet, 32 -> CIFAR).
IMAGENET_STEM_MIN_SIZE = 128

Builder = Callable[..., GrowableNet]


@dataclass(frozen=True, eq=False)  # one object per family: hashed by identity (its options are a dict)
class Family:
    """One registered family: ``builder(parts, *, num_classes, image_size, width)`` builds it."""

    name: str  # canonical spelling, e.g. "Basic3ResNet"
    pattern: str  # the name pattern shown to users, e.g. "Basic3ResNet-a-b-c"
    arity: int  # number of integer parts after the family name
    builder: Builder
    examples: tuple[str, ...]  # concrete names for list_models() (the papers' seed nets)
    check: Callable[[tuple[int, ...]], str | None] | None = None  # extra rule: a reason, or None
    min_image_size: int = 1
    options: Mapping[str, Any] | None = None  # named options and their defaults (None: the family has none)
    check_options: Callable[[dict], str | None] | None = None  # a reason the options are bad, or None
    inputs: str = "image"  # "image" or "tokens"


_FAMILIES: dict[str, Family] = {}  # lower-case family name -> Family
_ALIASES: dict[str, tuple[str, str]] = {}  # lower-case alias -> (alias as written, target name)


def register_family(
    pattern: str,
    *,
    examples: tuple[str, ...] | list[str],
    check: Callable[[tuple[int, ...]], str | None] | None = None,
    min_image_size: int = 1,
    options: Mapping[str, Any] | None = None,
    check_options: Callable[[dict], str | None] | None = None,
    inputs: str = "image",
) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder`` for names of the form ``pattern`` (``"VGG-a-b-c-d-e"``).

    The pattern is the family name followed by one placeholder per integer part.  ``check`` gets the
    parsed integers and returns a reason string when they are not valid (``WRN-d-k``: d = 6n + 4).
    ``options``: the family's named options with their defaults (passed to ``builder`` as keywords),
    ``check_options`` their rule; ``inputs``: ``"image"`` or ``"tokens"``.
    """
    family, *placeholders = pattern.split("-")

    def decorator(builder: Builder) -> Builder:
        key = family.lower()
        if key in _FAMILIES:
            raise ValueError(f"family {family!r} is registered twice")
        _FAMILIES[key] = Family(
            name=family,
            pattern=pattern,
            arity=len(placeholders),
            builder=builder,
            examples=tuple(examples),
            check=check,
            min_image_size=min_image_size,
            options=None if options is None else dict(options),
            check_options=check_options,
            inputs=inputs,
        )
        return builder

    return decorator


def register_alias(alias: str, target: str) -> None:
    """Register a fixed name (``"ResNet-20"``) for a concrete name of a family (``"Basic3ResNet-3-3-3"``)."""
    key = alias.strip().lower()
    if key in _ALIASES:
        raise ValueError(f"alias {alias!r} is registered twice")
    _ALIASES[key] = (alias, target)


def list_families() -> list[str]:
    """The registered name patterns, e.g. ``["Basic3ResNet-a-b-c", ..., "WRN-d-k", "MobileNetV1"]``."""
    return [f.pattern for f in _FAMILIES.values()]


def list_models(inputs: str | None = None) -> list[str]:
    """Concrete buildable names: every alias, then the example (seed) names of every family; only the
    families reading ``inputs`` (``"image"``, ``"tokens"``) if given."""
    names = [alias for alias, _ in _ALIASES.values()]
    for family in _FAMILIES.values():
        names += [n for n in family.examples if n not in names]
    return names if inputs is None else [n for n in names if parse_name(n)[0].inputs == inputs]


def _valid_forms() -> str:
    aliases = ", ".join(alias for alias, _ in _ALIASES.values())
    return f"{', '.join(list_families())} (each part a positive integer), or one of {aliases}"


def parse_name(name: str) -> tuple[Family, tuple[int, ...]]:
    """``"ResNet-20"`` -> (the Basic3ResNet family, ``(3, 3, 3)``); raises ``ValueError`` for a bad name."""
    if not isinstance(name, str):
        raise ValueError(f"name={name!r} is not a model name: give a string, one of {_valid_forms()}")
    key = name.strip().lower()
    target = _ALIASES[key][1] if key in _ALIASES else name.strip()
    head, *parts = target.split("-")
    family = _FAMILIES.get(head.lower())
    if family is None:
        raise ValueError(f"name={name!r}: unknown model family {head!r}; valid forms: {_valid_forms()}")
    if "" in parts:
        raise ValueError(
            f"name={name!r}: an empty part or a negative number in {family.pattern}: every part is a "
            f"positive integer; valid forms: {_valid_forms()}"
        )
    if len(parts) != family.arity:
        raise ValueError(
            f"name={name!r}: {family.name} takes {family.arity} integer part(s), {family.pattern}, "
            f"but {len(parts)} were given; valid forms: {_valid_forms()}"
        )
    bad = [p for p in parts if not re.fullmatch(r"[0-9]+", p) or int(p) < 1]
    if bad:
        raise ValueError(
            f"name={name!r}: {', '.join(map(repr, bad))} is not a positive integer in {family.pattern}; "
            f"valid forms: {_valid_forms()}"
        )
    values = tuple(int(p) for p in parts)
    reason = family.check(values) if family.check is not None else None
    if reason:
        raise ValueError(f"name={name!r}: {reason}; valid forms: {_valid_forms()}")
    return family, values


def canonical_name(name: str) -> str:
    """The name a model built from ``name`` reports as its ``spec``: ``"ResNet-20"`` -> ``"Basic3ResNet-3-3-3"``."""
    family, parts = parse_name(name)
    return "-".join([family.name, *map(str, parts)])


def scale_channels(channels: int, width: float) -> int:
    """A hidden channel count times the width multiplier, rounded half up, at least 1."""
    return max(1, int(math.floor(channels * width + 0.5)))


def build_model(name: str, *, num_classes: int, image_size: int = 32, width: float = 1.0, **options: Any) -> GrowableNet:
    """Build a model of the zoo from its name in the papers' notation.

    ``name``: e.g. ``"Basic3ResNet-1-1-1"``, ``"ResNet-20"``, ``"VGG-11"``, ``"MobileNetV2-2-3-4-3-3"``,
    ``"WRN-28-10"``, ``"CNN4"`` (case-insensitive; :func:`list_families` gives the forms).
    ``num_classes``: logits.  ``image_size``: input height = width; selects the CIFAR (< 128) or the
    ImageNet (>= 128) layout where a family has both.  ``width``: multiplies every hidden channel
    count (rounded half up, at least 1); the input channels and the logits are never scaled.
    ``options``: the family's own options (``Family.options``; the Transformer's ``d_model``, ...).
    Every bad argument raises ``ValueError`` naming it, its value and what is valid.
    """
    family, parts = parse_name(name)
    options = _family_options(family, options)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} is not allowed: give a positive integer")
    if (
        isinstance(width, bool)
        or not isinstance(width, numbers.Real)
        or not math.isfinite(width)
        or width <= 0
    ):
        raise ValueError(f"width={width!r} is not allowed: give a finite number > 0 (1.0 is the papers' width)")
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, numbers.Integral)
        or image_size < family.min_image_size
    ):
        raise ValueError(
            f"image_size={image_size!r} is not supported by {family.name}: give an integer >= "
            f"{family.min_image_size} (32 selects the CIFAR layout, 224 the ImageNet layout)"
        )
    frozen = tuple(sorted(options.items()))
    _check_fits_in_memory(name, family, parts, int(num_classes), int(image_size), float(width), frozen)
    return family.builder(parts, num_classes=int(num_classes), image_size=int(image_size), width=float(width),
                          **options)


def _family_options(family: Family, given: dict[str, Any]) -> dict[str, Any]:
    """The family's options, defaults filled in; ``ValueError`` for an unknown or a bad one."""
    allowed = dict(family.options or {})
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not option(s) of {family.pattern}; its options are "
                         f"{', '.join(f'{k}={v!r}' for k, v in allowed.items()) or 'none'}")
    options = {**allowed, **given}
    reason = family.check_options(options) if family.check_options is not None else None
    if reason:
        raise ValueError(f"{family.pattern}: {reason}")
    return options


@lru_cache(maxsize=512)
def parameter_count(family: "Family", parts: tuple[int, ...], num_classes: int, image_size: int, width: float,
                    options: tuple = ()) -> int:
    """How many parameters the model would have: built on PyTorch's ``meta`` device, which allocates
    nothing.  ``options``: the family's options as sorted ``(name, value)`` pairs."""
    with torch.device("meta"):
        model = family.builder(parts, num_classes=num_classes, image_size=image_size, width=width, **dict(options))
    return sum(p.numel() for p in model.parameters())


def _check_fits_in_memory(name: str, family: "Family", parts: tuple[int, ...], num_classes: int, image_size: int,
                          width: float, options: tuple = ()) -> None:
    """``ValueError`` before allocating a model whose float32 weights alone exceed the free memory."""
    count = parameter_count(family, parts, num_classes, image_size, width, options)
    need, free = 4 * count, available_memory_bytes("cpu")
    if free is not None and need > free:
        raise ValueError(f"name={name!r} at width={width:g} has {count:,} parameters, {need / 2**30:.1f} GiB in "
                         f"float32, more than the {free / 2**30:.1f} GiB of memory free: use a smaller width")
