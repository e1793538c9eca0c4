"""Files a run writes: atomic writes, strict JSON, leftovers of a kill, and one writer per file.

* :func:`atomic_write_bytes` / :func:`atomic_write_text` / :func:`atomic_write_json`: through a
  temporary file in the same folder and ``os.replace``, so a run killed midway never leaves a
  half-written file behind, only (at worst) a temporary, which :func:`remove_stale_temporaries`
  deletes at the next start.
* :func:`strict_json`: JSON has no NaN or infinity (strict readers reject them): non-finite floats
  are written as ``null``.
* :func:`check_writable`: a path a run will write, checked before any work starts.
* :class:`FileLock`: one process writes a file at a time; a second one is refused at once. The lock
  is an OS lock (``flock``), so a killed process never leaves a stale one.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

_TEMP_SUFFIX = ".tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None``, recursively (tuples become lists)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """``atomic_write_text`` of ``obj`` as indented, strict JSON (:func:`strict_json`)."""
    return atomic_write_text(path, json.dumps(strict_json(obj), indent=1, allow_nan=False) + "\n")


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries an interrupted atomic write of ``path`` left beside it; returns them.
    Call it only while holding ``path``'s :class:`FileLock` (another writer's temporary is live)."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = list(path.parent.glob(f"{_temp_prefix(path)}*{_TEMP_SUFFIX}"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def check_writable(path: str | os.PathLike, name: str) -> Path:
    """``path`` as a :class:`Path`, after checking that a file can be written there: ``ValueError``
    naming the parameter ``name`` for an empty path, a folder, a file under a non-folder, or a folder
    that cannot be created or written to. Creates the missing folders."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not text:
        raise ValueError(f"{name}={path!r} is not allowed: give the path of a file to write")
    path = Path(text)
    if path.is_dir() or text.endswith(("/", os.sep)):
        example = f"{text.rstrip('/')}/run.json"
        raise ValueError(f"{name}={text!r} is a folder: give the path of a file in it, e.g. {example}")
    parent = path.parent
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ValueError(f"{name}={text!r} is not allowed: {ancestor} is a file, not a folder")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=_temp_prefix(path), suffix=_TEMP_SUFFIX)
        try:
            os.write(fd, b"\0" * 4096)  # a full disk refuses this
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{name}={text!r} cannot be written: {err.strerror or err} ({parent})") from None
    return path


class FileBusyError(RuntimeError):
    """Another process is writing the file (it holds its :class:`FileLock`)."""


class FileLock:
    """Hold ``<path>.lock`` while writing ``path``: a second :class:`FileLock` on the same path, in
    any process, raises :class:`FileBusyError` at once. The OS releases the lock when the process ends,
    however it ends. The empty ``.lock`` file stays (deleting it would let two processes lock two
    different files of one name). Where the OS has no ``flock`` (Windows), the lock is not taken."""

    def __init__(self, path: str | os.PathLike, what: str = "file") -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> "FileLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise FileBusyError(f"{self.what} {self.path} is being written by {holder}: two runs writing one "
                               "file would lose one's results; wait for it, or give this run another path") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None
