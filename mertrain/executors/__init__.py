"""Fold executors: where a run's folds are trained (``mertrain run --executor``).

Every executor takes the run's shared :class:`~mertrain.folds.FoldContext`, its clips
(:class:`~mertrain.data.ClipArrays`) and the :class:`~mertrain.folds.FoldJob` s still to do, and
calls ``on_done(outcome)`` in THIS process as each fold finishes, so the caller persists every
fold as soon as it exists (``--resume`` relies on it). A fold's result depends only on its job
(seed derived from run seed and fold name), never on the executor or on the folds before it.

- ``local`` (default, :mod:`.local`): folds one after another in this process.
- ``ray`` (:mod:`.ray_tasks`): each fold a Ray task in a fresh worker process (a fraction of a
  GPU each with ``gpus_per_fold``, so a cluster's GPUs are packed too).
- ``packed`` (:mod:`.packed`): K folds at once on this machine's GPU, one worker process each.

Executors are registered lazily: choosing one imports it (and the trainer, and Keras).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from merprep.errors import MerprepError
from merprep.registry import Registry

if TYPE_CHECKING:
    from mertrain.data import ClipArrays
    from mertrain.folds import FoldContext, FoldJob, FoldOutcome

OnDone = Callable[["FoldOutcome"], None]


class ExecutorError(MerprepError):
    """An executor that cannot start (Ray not installed, cluster unreachable)."""


class Executor(Protocol):
    def run(
        self, ctx: FoldContext, data: ClipArrays, jobs: Sequence[FoldJob], on_done: OnDone
    ) -> None: ...


#: executor name -> class taking keyword options (``address`` for Ray)
EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor")
EXECUTORS.register_lazy("local", "mertrain.executors.local:LocalExecutor")
EXECUTORS.register_lazy("ray", "mertrain.executors.ray_tasks:RayExecutor")
EXECUTORS.register_lazy("packed", "mertrain.executors.packed:PackedExecutor")


def get_executor(
    name: str,
    *,
    address: str | None = None,
    pack: int | None = None,
    gpus_per_fold: float | None = None,
) -> Executor:
    """The executor ``name`` with its options (Ray: cluster address and GPUs per fold;
    packed: folds at once, None = from the free GPU memory)."""
    try:
        factory = EXECUTORS.get(name)
    except ValueError as exc:
        raise ExecutorError(str(exc)) from None
    if name == "ray":
        return factory(address=address, gpus_per_fold=gpus_per_fold)
    if name == "packed":
        return factory(pack=pack)
    return factory()
