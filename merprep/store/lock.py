"""An exclusive lock per store path, so two processes never write the same store at once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from merprep.errors import StoreError
from merprep.locks import LockHeld, file_lock
from merprep.store.tempfiles import temp_files

log = logging.getLogger(__name__)


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


@contextmanager
def store_lock(store: Path | str, must_exist: bool = False) -> Iterator[Path]:
    """Hold ``STORE.lock`` exclusively; refuse at once (no waiting) if another process holds it.

    ``must_exist`` (stages that modify a store) refuses a missing store before anything is
    created beside it.

    The lock (:func:`merprep.locks.file_lock`) records the holder's pid for the error message
    and is removed on release; one left by a killed process does not block. Temporary files
    that a killed writer left beside the store are removed once the lock is held: every merprep
    writer takes this lock before it creates one, so none is in use.
    """
    store = Path(store)
    if must_exist and not store.is_file():
        raise StoreError("no such store", file=store)
    path = lock_path(store)
    with ExitStack() as held:
        try:  # only taking the lock is translated, not what the caller's block raises
            held.enter_context(file_lock(path, wait=False, remove=True))
        except LockHeld as exc:
            raise StoreError(
                f"another merprep process (pid {exc.holder}) is writing this store; "
                f"wait for it to finish (lock: {path})",
                file=store,
            ) from None
        _remove_stale_temp_files(store)
        yield path


def _remove_stale_temp_files(store: Path) -> None:
    for tmp in temp_files(store):
        try:
            tmp.unlink()
            log.info("removed %s, left by an interrupted write of %s", tmp.name, store.name)
        except OSError:
            pass
