"""An exclusive lock per store path, so two processes never write the same store at once."""

from __future__ import annotations

import fcntl
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from merprep.errors import StoreError

log = logging.getLogger(__name__)


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


@contextmanager
def store_lock(store: Path | str, must_exist: bool = False) -> Iterator[Path]:
    """Hold ``STORE.lock`` exclusively; refuse at once (no waiting) if another process holds it.

    ``must_exist`` (stages that modify a store) refuses a missing store before anything is
    created beside it.

    The lock file records the holder's pid for the error message and is removed on release.
    A lock left by a killed process does not block: the kernel drops flock locks with the process.
    Temporary files that a killed writer left beside the store are removed once the lock is
    held: every merprep writer takes this lock before it creates one, so none is in use.
    """
    store = Path(store)
    if must_exist and not store.is_file():
        raise StoreError("no such store", file=store)
    path = lock_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"another merprep process (pid {holder}) is writing this store; "
                             f"wait for it to finish (lock: {path})", file=store)
        # The previous holder may have unlinked the file between our open and flock: retry then.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _remove_stale_temp_files(store)
        yield path
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _remove_stale_temp_files(store: Path) -> None:
    from merprep.store.writer import temp_files

    for tmp in temp_files(store):
        try:
            tmp.unlink()
            log.info("removed %s, left by an interrupted write of %s", tmp.name, store.name)
        except OSError:
            pass
