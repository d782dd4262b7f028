"""Set-up shared by merprep's worker processes (extract, flow)."""

from __future__ import annotations

import logging

from threadpoolctl import threadpool_limits


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
