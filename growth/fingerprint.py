"""What makes a run: the package's source, its configuration, its parts, as short stable digests.

* :func:`source_digest`: every ``.py`` file of the ``growth`` package that training can run (all but
  the presentation modules, :data:`PRESENTATION`); any edit of one changes it.
* :func:`describe`: a JSON-able description of a configuration or of a grower's parts (dataclass
  fields and public attributes, tensors by digest), the same in every process.
* :func:`digest`: SHA-256 of a description's canonical JSON, shortened.
* :func:`run_fingerprint`: the components of one :func:`growth.train` call (configuration, grower,
  seed model, data, meta), each a digest; a checkpoint stores them, so resuming can name the one
  that differs.
"""
from __future__ import annotations

import dataclasses
import enum
import hashlib
import inspect
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

PACKAGE = Path(__file__).resolve().parent
#: Modules that only read Histories and present them (tables, figures, verdicts): no training code
#: imports them (a test holds it), so editing them cannot change a run, and finished runs stay reusable.
PRESENTATION = ("claims.py", "report.py")


@lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 (16 hex digits) of the package's Python source that training can run: relative paths
    and contents of every ``.py`` file but :data:`PRESENTATION`."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).as_posix() in PRESENTATION:
            continue
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _tensor_digest(t: torch.Tensor) -> str:
    data = t.detach().cpu().contiguous()
    raw = data.reshape(-1).view(torch.uint8).numpy().tobytes()
    return f"tensor{tuple(data.shape)}:{data.dtype}:" + hashlib.sha256(raw).hexdigest()[:16]


def describe(obj: Any, _depth: int = 0) -> Any:
    """A JSON-able description of ``obj``: primitives as they are, containers element by element,
    dataclasses by their init fields, tensors by digest, functions by qualified name, modules by
    their state, other objects by their public attributes."""
    if _depth > 12:
        return type(obj).__qualname__
    d = _depth + 1
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, enum.Enum):
        return f"{type(obj).__qualname__}.{obj.name}"
    if isinstance(obj, (list, tuple)):
        return [describe(v, d) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((describe(v, d) for v in obj), key=repr)
    if isinstance(obj, dict):
        return {str(k): describe(v, d) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, torch.Tensor):
        return _tensor_digest(obj)
    if isinstance(obj, nn.Module):
        return {"type": type(obj).__qualname__, "state": describe(obj.state_dict(), d)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"type": type(obj).__qualname__,
                **{f.name: describe(getattr(obj, f.name), d) for f in dataclasses.fields(obj) if f.init}}
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj) or isinstance(obj, type):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
    attrs = getattr(obj, "__dict__", None)
    if attrs is None:
        return type(obj).__qualname__
    return {"type": type(obj).__qualname__,
            **{k: describe(v, d) for k, v in sorted(attrs.items()) if not k.startswith("_")}}


def canonical(obj: Any) -> str:
    """Canonical JSON of :func:`describe` (``obj``): sorted keys, no spaces."""
    return json.dumps(describe(obj), sort_keys=True, separators=(",", ":"), default=repr)


def digest(obj: Any) -> str:
    """SHA-256 (16 hex digits) of :func:`canonical` (``obj``)."""
    return hashlib.sha256(canonical(obj).encode()).hexdigest()[:16]


def run_fingerprint(config: Any, grower: Any, model: nn.Module, data: Any,
                    meta: dict[str, Any] | None) -> dict[str, str]:
    """The components of one training run, each a :func:`digest`: ``config`` (the TrainConfig),
    ``grower`` (its parts and their settings), ``model`` (the seed's architecture and weights),
    ``data`` (name, sizes, how the splits were made) and ``meta``."""
    return {
        "config": digest(config),
        "grower": digest(grower),
        "model": digest({"spec": getattr(model, "spec", type(model).__qualname__), "state": model.state_dict()}),
        "data": digest({"name": getattr(data, "name", None), "info": getattr(data, "info", None)}),
        "meta": digest(meta or {}),
    }
