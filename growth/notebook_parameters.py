"""Checking the parameters papermill gives a notebook: unknown names and values of the wrong type.

papermill injects ``-p NAME VALUE`` as a cell (its first line ``# Parameters``) right after the cell
tagged ``parameters``, which declares every parameter with its default.  papermill itself only warns
about a name the notebook does not declare, and passes ``-p epochs abc`` as the string ``"abc"``,
which fails cells later with an error about something else.  :func:`check_parameters`, called in the
first cell after the parameters (``check_parameters(globals())``), raises a ``ValueError`` naming the
parameter instead: an unknown name, or a value whose type differs from its default's (an int where
the default is an int, a number where it is a float, a list where it is a list, ...; a default of
``None`` takes anything).  ``tools/run_notebooks.py`` makes the same checks before it starts a kernel
(:func:`check_value`).
"""
from __future__ import annotations

import ast
import numbers
from typing import Any, Mapping

INJECTED_HEADER = "# Parameters"


def _kind(default: Any) -> tuple[type | tuple[type, ...], str] | None:
    """What a parameter with ``default`` accepts: (types, their name); None: anything."""
    if default is None:
        return None
    if isinstance(default, bool):
        return bool, "True or False"
    if isinstance(default, int):
        return int, "an integer"
    if isinstance(default, float):
        return numbers.Real, "a number"
    if isinstance(default, str):
        return str, "a string"
    if isinstance(default, (list, tuple)):
        return (list, tuple), "a list"
    if isinstance(default, dict):
        return dict, "a mapping"
    return None


def check_value(name: str, value: Any, default: Any) -> None:
    """``ValueError`` naming ``name`` when ``value`` is not of the kind its ``default`` is."""
    kind = _kind(default)
    if kind is None:
        return
    types, words = kind
    ok = isinstance(value, types) and not (isinstance(value, bool) and not isinstance(default, bool))
    if not ok:
        raise ValueError(f"parameter {name}={value!r} is not allowed: {name} takes {words} "
                         f"(its default is {default!r})")


def declared_parameters(source: str) -> dict[str, Any]:
    """The parameters a ``parameters`` cell declares: ``{name: default}`` for every top-level
    assignment (a default that is not a literal is given as ``None``: any value is accepted)."""
    found: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        else:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(node.value) if node.value is not None else None
                except (ValueError, SyntaxError):
                    found[target.id] = None
    return found


def check_parameters(namespace: Mapping[str, Any]) -> None:
    """Check what papermill injected into a running notebook (``namespace`` = ``globals()``); see the
    module docstring.  Does nothing where no parameters were injected."""
    history = list(namespace.get("In") or [])
    injected = [i for i, src in enumerate(history) if src.splitlines()[:1] == [INJECTED_HEADER]]
    if not injected or injected[-1] == 0:
        return
    given = declared_parameters(history[injected[-1]])
    declared = declared_parameters(history[injected[-1] - 1])
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"parameter {unknown[0]}={given[unknown[0]]!r} is unknown: this notebook's parameters "
                         f"are {', '.join(declared)}")
    for name in given:
        check_value(name, namespace.get(name), declared[name])
