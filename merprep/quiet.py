"""Silencing what native libraries write straight to file descriptor 2.

TensorFlow, MediaPipe and absl print start-up chatter from C++ ("All log messages before
absl::InitializeLog() is called...", CUDA plugin registrations on a CPU-only machine, XNNPACK
delegate notes) whatever the logging settings, about 25 lines per process. Python's own errors
are not affected: exceptions propagate and are printed after the descriptor is restored.
Setting ``MERPREP_VERBOSE=1`` (``merprep -v`` / ``mertrain -v`` do) keeps everything.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "MERPREP_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Descriptor 2 -> /dev/null for the block, unless :func:`verbose`."""
    if verbose():
        yield
        return
    with fd2_to_devnull():
        yield


@contextmanager
def fd2_to_devnull() -> Iterator[None]:
    """Descriptor 2 -> /dev/null for the block (the C++ side writes there directly)."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a daemon): nothing to hide
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
