"""One long video per task: locally in spawned worker processes, or as Ray tasks.

Extraction and spotting both map one function over videos. ``local`` is
:func:`merprep.parallel.map_clips` (a bounded spawn pool, or inline for one worker); ``ray``
runs each video as a Ray task (one CPU each) on a cluster at ``address`` or on a local instance
started for the call (``workers`` CPUs) and stopped after it, as mertrain's Ray executor does
for folds. Either way results come back in this process, in completion order; the callers sort
them, so the outputs do not depend on the executor (tested equal).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from merprep.errors import MerprepError
from merprep.parallel import map_clips, progress_bar

log = logging.getLogger(__name__)

R = TypeVar("R")
EXECUTORS = ("local", "ray")


def map_videos(
    fn: Callable[..., R],
    items: Sequence[tuple[Any, ...]],
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
    progress: bool | None = None,
    desc: str = "videos",
) -> Iterator[tuple[tuple[Any, ...], R]]:
    """Yield ``(args, fn(*args))`` for every ``args`` in ``items`` (see the module docstring).
    ``fn`` and its arguments must be picklable module-level objects."""
    if executor == "local":
        yield from map_clips(
            fn,
            items,
            workers=workers,
            total=len(items),
            desc=desc,
            progress=progress,
            initializer=initializer,
            initargs=initargs,
        )
        return
    if executor != "ray":
        raise MerprepError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    yield from _map_ray(fn, items, workers, address, initializer, initargs, progress, desc)


def _call(
    fn: Callable[..., R],
    initializer: Callable[..., object] | None,
    initargs: tuple[Any, ...],
    *args: Any,
) -> R:
    """Body of one Ray task: the worker set-up (cached per worker process), then the call."""
    if initializer is not None:
        initializer(*initargs)
    return fn(*args)


def _map_ray(
    fn: Callable[..., R],
    items: Sequence[tuple[Any, ...]],
    workers: int,
    address: str | None,
    initializer: Callable[..., object] | None,
    initargs: tuple[Any, ...],
    progress: bool | None,
    desc: str,
) -> Iterator[tuple[tuple[Any, ...], R]]:
    try:
        import ray
    except ImportError:
        raise MerprepError(
            "--executor ray needs Ray: install the optional extra (pip install 'merprep[ray]')"
        ) from None
    started = False
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                num_cpus=None if address else max(1, workers),
                include_dashboard=False,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise MerprepError(
                f"cannot start or reach Ray at {address or 'a new local instance'}: {exc}"
            ) from None
        started = True
    pending: dict[Any, tuple[Any, ...]] = {}
    bar = progress_bar(len(items), desc, progress)
    try:
        task = ray.remote(num_cpus=1)(_call)
        pending = {task.remote(fn, initializer, initargs, *args): args for args in items}
        log.info("ray: %d video tasks", len(pending))
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            args = pending.pop(done[0])
            result = ray.get(done[0])
            bar.update(1)
            yield args, result
    finally:
        bar.close()
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
