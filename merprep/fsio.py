"""Writing files so that readers see the old file or the whole new one, never a torn one.

One helper for every atomic write in the project (stores, stage commits, staged clips, run
directory files, weights): write a temporary file beside the target, then rename it over the
target. ``durable`` says whether the data must survive a power cut once the call returns
(fsync the file before the rename and the folder after it); a rename alone already protects
against a killed process. New files get ``0666`` minus the umask, as ``open()`` gives them
(``mkstemp`` alone would give ``0600`` and hide shared-cluster results from colleagues).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def new_file_mode() -> int:
    """The mode ``open()`` would give a new file under the current umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_path(path: Path | str) -> None:
    """fsync a file (or folder) by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_file(tmp: Path | str, target: Path | str, *, durable: bool) -> None:
    """Rename a finished temporary file over ``target`` (same folder); with ``durable``, fsync
    the file first and the folder after, so the rename itself is on disk when this returns."""
    tmp, target = Path(tmp), Path(target)
    if durable:
        fsync_path(tmp)
    os.replace(tmp, target)
    if durable:
        fsync_path(target.parent)


def temp_path_beside(
    target: Path | str, *, prefix: str | None = None, suffix: str = ".tmp", mode: int | None = None
) -> Path:
    """Create an empty temporary file in ``target``'s folder, with ``mode`` (default: as
    :func:`new_file_mode`, what ``open()`` would give it)."""
    target = Path(target)
    fd, name = tempfile.mkstemp(
        prefix=prefix if prefix is not None else f".{target.name}.",
        suffix=suffix,
        dir=target.parent,
    )
    try:
        os.fchmod(fd, new_file_mode() if mode is None else mode)
    finally:
        os.close(fd)
    return Path(name)


def atomic_write(path: Path | str, data: bytes | str, *, durable: bool = True) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; see the module docstring.

    OSError (disk full, read-only folder) propagates after the temporary file is removed; the
    target is untouched.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(payload), durable=durable)


def atomic_write_with(
    path: Path | str,
    write: Callable[[Path], object],
    *,
    durable: bool = True,
    prefix: str | None = None,
    suffix: str | None = None,
) -> Path:
    """Atomically create ``path`` from ``write(temporary path)`` (for writers that want a path,
    such as Keras' ``model.save``); ``suffix`` keeps an extension those writers insist on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(path, prefix=prefix, suffix=suffix if suffix is not None else ".tmp")
    try:
        write(tmp)
        commit_file(tmp, path, durable=durable)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
    return path
