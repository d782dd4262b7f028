"""Set-up shared by merprep's worker processes (extract, flow)."""

from __future__ import annotations

import logging
import os

from threadpoolctl import threadpool_limits

from merprep.quiet import verbose


def single_threaded_worker() -> None:
    """Make this worker process use one thread for OpenCV and BLAS.

    The processes are the parallelism. Left alone, OpenCV and OpenBLAS each start a thread per
    core in every worker, and OpenBLAS's idle threads spin in ``sched_yield`` after each
    threaded call: before this limit, extracting 260 clips with 2 workers spent 11 s of system
    time against 19 s of user time, and took 40 % longer.
    """
    import cv2

    cv2.setNumThreads(1)
    threadpool_limits(1)
    logging.basicConfig(level=logging.WARNING)
    quiet_worker_stderr()


def quiet_worker_stderr() -> None:
    """Drop what native libraries write to this worker's descriptor 2 (MediaPipe's graph and
    TensorFlow Lite log from their own threads whenever they start), unless ``merprep -v``.
    Nothing of the worker's Python side is lost: its results and exceptions travel back to the
    parent, which reports them; its log records (Python ``logging``) still print, through a
    handler on a copy of the original descriptor."""
    if verbose():
        return
    original = os.fdopen(os.dup(2), "w", buffering=1)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(original)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
