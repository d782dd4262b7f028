"""Parallel work over clips in spawned worker processes, shared by extract and every stage.

Workers are spawned, never forked: OpenCV's thread pool (and TensorFlow/MediaPipe threads, when
a notebook has them loaded) deadlock a forked child. At most ``in_flight`` items (default twice
the workers) are submitted at a time, so memory stays flat however many clips there are, and
results come back in completion order for the caller to write.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from merprep.errors import MerprepError

R = TypeVar("R")
#: names an item of work in messages (a clip id)
Label = Callable[[tuple[Any, ...]], str]


class WorkerFailed(MerprepError):
    """Processing one item raised in a worker process: names the item and the exception (the
    worker's traceback is chained; ``--workers 1`` raises it here, where it happened)."""


class WorkerDied(MerprepError, BrokenProcessPool):
    """A worker process died (killed, out of memory) while items were in flight."""


def available_cpus() -> int:
    """CPUs this process may use: its CPU affinity (what SLURM and ``taskset`` set), capped by a
    cgroup v2 CPU quota when one is set (containers). ``os.cpu_count()`` ignores both and would
    oversubscribe a shared node."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota(Path("/sys/fs/cgroup/cpu.max"))
    if quota is not None:
        n = min(n, quota)
    return max(1, n)


def _cgroup_cpu_quota(path: Path) -> int | None:
    """``ceil(quota / period)`` from a cgroup v2 ``cpu.max`` ("max 100000" means no quota)."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def worker_count(requested: int) -> int:
    """``requested`` worker processes, or (0) one per available CPU."""
    if requested < 0:
        raise ValueError(f"workers must be >= 0 (0 = one per available CPU), got {requested}")
    return requested or available_cpus()


def map_in_workers(
    fn: Callable[..., R],
    items: Iterable[tuple[Any, ...]],
    *,
    workers: int,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
    in_flight: int | None = None,
    label: Label | None = None,
) -> Iterator[tuple[tuple[Any, ...], R]]:
    """Yield ``(args, fn(*args))`` for each ``args`` of ``items``, in completion order, from
    ``workers`` spawned processes (each runs ``initializer(*initargs)`` once).

    ``fn``, its arguments and results must be picklable. An exception raised by ``fn`` in a
    worker stops the work (the rest is cancelled): a :class:`MerprepError` is re-raised as it
    is, any other becomes :class:`WorkerFailed` naming the item (``label(args)``); a worker
    that dies (killed, out of memory) raises :class:`WorkerDied` naming the items in flight.
    """
    limit = in_flight or 2 * workers
    queue = iter(items)
    pool = ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=initializer, initargs=initargs
    )
    pending: dict[Future[R], tuple[int, tuple[Any, ...]]] = {}
    submitted = 0

    def submit(args: tuple[Any, ...]) -> None:
        nonlocal submitted
        try:
            future = pool.submit(fn, *args)
        except OSError as exc:
            # a worker died while the pool was still starting the others: the executor marks
            # itself broken and closes its pipes under the process being spawned
            if getattr(pool, "_broken", False):
                raise BrokenProcessPool(str(pool._broken)) from exc
            raise
        pending[future] = (submitted, args)
        submitted += 1

    def name(args: tuple[Any, ...]) -> str:
        return label(args) if label is not None else f"item {args!r:.60}"

    finished = False
    workers_seen: list[Any] = []
    try:
        for args in queue:  # the workers are spawned by these first submits
            # only the submit ignores Ctrl-C, not making the next item (which may take long): a
            # Ctrl-C while SIGINT is ignored here is lost (the user presses it again)
            with _workers_ignore_ctrl_c():
                submit(args)
            workers_seen = list(getattr(pool, "_processes", {}).values())
            if len(pending) >= limit:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            # finished together: report in submission order, so logs do not depend on timing
            for fut in sorted(done, key=lambda f: pending[f][0]):
                _, args = pending[fut]
                try:
                    result = fut.result()
                except (BrokenProcessPool, MerprepError):
                    raise
                except Exception as exc:
                    raise WorkerFailed(
                        f"{name(args)}: failed in a worker process ({type(exc).__name__}: "
                        f"{exc}); rerun with --workers 1 for the traceback"
                    ) from exc
                del pending[fut]
                for nxt in queue:  # keep the workers busy while the caller writes
                    submit(nxt)
                    break
                yield args, result
        finished = True
    except BrokenProcessPool as exc:  # from a result, or from submitting to the broken pool
        busy = [name(a) for _, a in pending.values()]
        raise WorkerDied(_died(workers_seen, busy)) from exc
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # an error, Ctrl-C, or the caller stopped early: stop the workers now
            _stop(pool)


def _died(processes: list[Any], in_flight: list[str]) -> str:
    """Which worker died how, and what it may have been doing."""
    # the pool's manager thread reaps the dead worker and stops the others; wait for that
    deadline = time.monotonic() + 2.0
    while any(p.exitcode is None for p in processes) and time.monotonic() < deadline:
        time.sleep(0.02)
    codes = {p.exitcode for p in processes if p.exitcode not in (None, 0)}
    if len(codes) > 1:  # the pool terminates (SIGTERM) the others once one has died
        codes.discard(-signal.SIGTERM)
    how = ", ".join(
        f"killed by {signal.Signals(-c).name}" if c < 0 and -c in signal.valid_signals()
        else f"exit code {c}"
        for c in sorted(codes)
    ) or "ended"  # fmt: skip
    shown = ", ".join(in_flight[:4]) + (", ..." if len(in_flight) > 4 else "")
    return (
        f"a worker process died ({how}; out of memory, or killed) with {shown} in progress; "
        "the run stopped and nothing of it was committed"
    )


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Ctrl-C at a terminal reaches every process of the foreground group. Workers spawned
    while SIGINT is ignored inherit that (Python keeps an ignored SIGINT ignored at start-up),
    so only this process sees Ctrl-C, stops them and reports one line, instead of each worker
    printing a KeyboardInterrupt traceback from wherever it was (loading dlib's model, ...)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and terminate the workers (they ignore Ctrl-C)."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=10)


def progress_bar(total: int, desc: str, progress: bool | None) -> tqdm:
    """The clip progress bar of every merprep command (``progress`` None: only on a terminal)."""
    return tqdm(
        total=total,
        unit="clip",
        desc=desc,
        dynamic_ncols=True,
        disable=None if progress is None else not progress,
    )


def map_clips(
    fn: Callable[..., R],
    items: Iterable[tuple[Any, ...]],
    *,
    workers: int,
    total: int,
    desc: str,
    progress: bool | None,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
    label: Label | None = None,
) -> Iterator[tuple[tuple[Any, ...], R]]:
    """:func:`map_in_workers` over ``total`` clips behind a progress bar, or inline in this
    process (no initializer, no pickling) when ``workers`` <= 1 or there is one clip at most;
    inline, an exception keeps its type and traceback and gets a note naming ``label(args)``.

    ``items`` is consumed lazily, so a caller reading clips from a store holds at most the
    clips in flight.
    """
    bar = progress_bar(total, desc, progress)
    try:
        if workers <= 1 or total <= 1:
            for args in items:
                try:
                    result = fn(*args)
                except Exception as exc:
                    if label is not None:
                        exc.add_note(f"while processing {label(args)}")
                    raise
                yield args, result
                bar.update(1)
            return
        for args, result in map_in_workers(
            fn,
            items,
            workers=min(workers, total),
            initializer=initializer,
            initargs=initargs,
            label=label,
        ):
            yield args, result
            bar.update(1)
    finally:
        bar.close()
