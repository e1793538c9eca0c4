"""Checkpoint files: everything a run needs to continue exactly where it stopped, and nothing stale.

A checkpoint is one file, written atomically (:mod:`growth.files`)::

    growth-checkpoint\\n
    {"format": 1, "source": ..., "fingerprint": {...}, "epoch": ..., "payload_bytes": ..., ...}\\n
    <torch.save payload>

The header says which code (:func:`growth.runs.source_digest`) and which run (its fingerprint: the
training configuration, the grower, the seed model, the data, the meta) wrote it, so
:func:`load_checkpoint` refuses, before unpickling anything, a checkpoint of another code version or
another configuration, and a truncated file, each with an error that says which.

The payload is pickled by ``torch.save`` in one piece, so objects that refer to each other (the
optimizer's state and the model's parameters, a trigger's per-layer vectors and the model's layers)
still do after loading. Unpickling runs code: load only checkpoints you wrote.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch

from .files import atomic_write_bytes

MAGIC = b"growth-checkpoint\n"
FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that must not be resumed from: another code version or configuration, or damaged."""


def save_checkpoint(path: str | os.PathLike, header: dict[str, Any], payload: dict[str, Any]) -> Path:
    """Write ``payload`` (anything ``torch.save`` pickles) under ``header`` (JSON), atomically."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    head = {**header, "format": FORMAT, "payload_bytes": len(data),
            "payload_sha256": hashlib.sha256(data).hexdigest()}
    return atomic_write_bytes(path, MAGIC + json.dumps(head, sort_keys=True).encode() + b"\n" + data)


def _split(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    if not raw.startswith(MAGIC):
        raise CheckpointError(f"checkpoint {path} is not a growth checkpoint (no header); delete it to start afresh")
    head, newline, data = raw[len(MAGIC):].partition(b"\n")
    try:
        header = json.loads(head) if newline else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict):
        raise CheckpointError(f"checkpoint {path} is truncated (its header is incomplete); delete it to start afresh")
    return header, data


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The header of the checkpoint at ``path`` (``CheckpointError`` if it has none)."""
    return _split(Path(path))[0]


def mismatch(header: dict[str, Any], *, source: str, fingerprint: dict[str, Any]) -> str | None:
    """Why a checkpoint with ``header`` is not this run's (one phrase), or None if it is."""
    if header.get("format") != FORMAT:
        return f"it has format {header.get('format')!r}, this version reads format {FORMAT}"
    if header.get("source") != source:
        return "it was written by another version of the growth package (its source differs)"
    theirs = header.get("fingerprint", {})
    differ = sorted(k for k in set(theirs) | set(fingerprint) if theirs.get(k) != fingerprint.get(k))
    if differ:
        return f"it was written by another configuration (differs in: {', '.join(differ)})"
    return None


def load_checkpoint(path: str | os.PathLike, *, source: str, fingerprint: dict[str, Any],
                    map_location: str | torch.device | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(header, payload)`` of the checkpoint at ``path``, after checking that this run wrote it
    (:func:`mismatch`) and that it is whole; ``CheckpointError`` saying which check failed."""
    path = Path(path)
    header, data = _split(path)
    why = mismatch(header, source=source, fingerprint=fingerprint)
    if why:
        raise CheckpointError(f"checkpoint {path} cannot be resumed: {why}; delete it to start afresh")
    if len(data) != header.get("payload_bytes") or hashlib.sha256(data).hexdigest() != header.get("payload_sha256"):
        raise CheckpointError(f"checkpoint {path} is truncated or damaged ({len(data)} of "
                              f"{header.get('payload_bytes')} payload bytes, checksum "
                              f"{'differs' if len(data) == header.get('payload_bytes') else 'not checked'}); "
                              "delete it to start afresh")
    payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)
    return header, payload
