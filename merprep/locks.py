"""One exclusive file lock (``flock``) for every writer that must not run twice at once.

Two ways to meet a lock that someone else holds: ``wait=False`` refuses at once, naming the
holder's pid (a second ``merprep`` writing the same store); ``wait=True`` queues (shards of
one run rebuilding its pooled outputs one after another). A lock left by a killed process never
blocks: the kernel drops ``flock`` locks with their process. Where the file system has no
``flock`` (Lustre mounted without ``-o flock``) :class:`LockUnsupported` is raised, so each
caller decides whether going on unlocked is safe.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockHeld(Exception):
    """Another live process holds the lock (``wait=False``)."""

    def __init__(self, path: Path, holder: str):
        super().__init__(f"{path} is held by pid {holder}")
        self.path, self.holder = path, holder


class LockUnsupported(OSError):
    """The file system does not support ``flock``."""


def _open_locked(path: Path, wait: bool) -> int:
    """Open ``path`` and lock it; retry when the previous holder removed the file between our
    open and our lock (we would otherwise lock a file nobody else can see)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockHeld(path, holder) from None
        except OSError as exc:
            os.close(fd)
            raise LockUnsupported(exc.errno, f"cannot lock {path}: {exc.strerror}") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def file_lock(path: Path | str, *, wait: bool, remove: bool = False) -> Iterator[Path]:
    """Hold ``path`` exclusively for the block; the holder's pid is written into it.

    ``remove`` deletes the lock file on release (a store's ``STORE.lock`` should not outlive the
    write); otherwise it stays for the next holder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_locked(path, wait)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield path
    finally:
        if remove:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
