"""Fold executors: where a run's folds are trained (``mertrain run --executor``).

Both take the run's shared :class:`~mertrain.train.FoldContext`, its clips
(:class:`~mertrain.data.ClipArrays`) and the :class:`~mertrain.train.FoldJob` s still to do, and
call ``on_done(outcome)`` in THIS process as each fold finishes, so the caller persists every
fold as soon as it exists (``--resume`` relies on it). A fold's result depends only on its job
(seed derived from run seed and fold name), never on the executor or on the folds before it.

- ``local`` (default): folds one after another in this process; the compiled model is reused
  across folds (re-initialised from each fold's seed; see :class:`~mertrain.train.FoldTrainer`).
- ``ray``: each fold is a Ray task in a fresh worker process (``max_calls=1``, so the worker
  exits and its GPU memory is released after one fold), ``num_gpus=1`` when the cluster has
  GPUs, else ``cpus_per_fold`` CPUs. Connects to ``address`` (``auto``, ``ray://host:10001``) or,
  by default, starts a local Ray instance (and stops it afterwards). Fold files such as weights
  and TensorBoard logs are written by the workers, so on a multi-node cluster ``--out`` must be
  on a shared filesystem. Ray is the optional extra ``ray``.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from merprep.errors import MerprepError

if TYPE_CHECKING:
    from mertrain.data import ClipArrays
    from mertrain.train import FoldContext, FoldJob, FoldOutcome

log = logging.getLogger(__name__)

OnDone = Callable[["FoldOutcome"], None]


class ExecutorError(MerprepError):
    """An executor that cannot start (Ray not installed, cluster unreachable)."""


class Executor(Protocol):
    def run(self, ctx: "FoldContext", data: "ClipArrays", jobs: Sequence["FoldJob"],
            on_done: OnDone) -> None: ...


class LocalExecutor:
    """Folds one after another in this process, sharing one :class:`FoldTrainer`."""

    def run(self, ctx: "FoldContext", data: "ClipArrays", jobs: Sequence["FoldJob"],
            on_done: OnDone) -> None:
        from mertrain.train import FoldTrainer

        trainer = FoldTrainer(ctx)
        for job in jobs:
            on_done(trainer.train(data, job))


def _ray_fold(ctx: "FoldContext", data: "ClipArrays", job: "FoldJob") -> "FoldOutcome":
    """Body of one Ray task: a fresh trainer in a fresh worker process (TensorFlow imported
    quietly first: the worker's stderr is forwarded to the driver)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from mertrain.tfenv import import_tensorflow
    from mertrain.train import train_fold

    import_tensorflow()

    return train_fold(ctx, data, job)


class RayExecutor:
    """Each fold as a Ray task in its own worker process (see the module docstring)."""

    def __init__(self, address: str | None = None, cpus_per_fold: float = 1.0):
        self.address = address
        self.cpus_per_fold = cpus_per_fold

    def _connect(self):
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs Ray: install the optional extra "
                                "(pip install 'merprep[ray]')") from None
        if ray.is_initialized():
            return ray, False
        try:
            ray.init(address=self.address, include_dashboard=False,
                     logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a new local instance"
            raise ExecutorError(f"cannot start or reach Ray at {where}: {exc}") from None
        return ray, True

    def run(self, ctx: "FoldContext", data: "ClipArrays", jobs: Sequence["FoldJob"],
            on_done: OnDone) -> None:
        ray, started = self._connect()
        pending: dict = {}
        try:
            gpus = ray.cluster_resources().get("GPU", 0)
            resources = {"num_gpus": 1} if gpus else {"num_cpus": self.cpus_per_fold}
            log.info("ray: %d folds, %s per fold", len(jobs), resources)
            task = ray.remote(max_calls=1, **resources)(_ray_fold)
            data_ref = ray.put(data)
            pending = {task.remote(ctx, data_ref, job): job for job in jobs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                pending.pop(done[0])
                on_done(ray.get(done[0]))
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def get_executor(name: str, *, address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address)
    raise ExecutorError(f"unknown executor {name!r}; choose local or ray")
