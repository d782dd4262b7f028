"""The ``ray`` executor: each fold a Ray task in a fresh worker process.

``max_calls=1``, so the worker exits and its GPU memory is released after one fold;
``num_gpus=1`` when the cluster has GPUs, else ``cpus_per_fold`` CPUs. Connects to ``address``
(``auto``, ``ray://host:10001``) or, by default, starts a local Ray instance (and stops it
afterwards). Fold files such as weights and TensorBoard logs are written by the workers, so on
a multi-node cluster ``--out`` must be on a shared filesystem. Ray is the optional extra ``ray``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from mertrain.data import ClipArrays
from mertrain.executors import ExecutorError, OnDone
from mertrain.folds import FoldContext, FoldJob, FoldOutcome

log = logging.getLogger(__name__)


def _ray_fold(ctx: FoldContext, data: ClipArrays, job: FoldJob) -> FoldOutcome:
    """Body of one Ray task: a fresh trainer in a fresh worker process (TensorFlow imported
    quietly first, by mertrain.backend: the worker's stderr is forwarded to the driver)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from mertrain.trainer import train_fold

    return train_fold(ctx, data, job)


class RayExecutor:
    """Each fold as a Ray task in its own worker process (see the module docstring)."""

    def __init__(
        self,
        address: str | None = None,
        cpus_per_fold: float = 1.0,
        gpus_per_fold: float | None = None,
    ):
        self.address = address
        self.cpus_per_fold = cpus_per_fold
        #: GPUs each fold asks Ray for (0.125: eight folds share a GPU); None = 1 with GPUs
        self.gpus_per_fold = gpus_per_fold

    def _connect(self):
        try:
            import ray
        except ImportError:
            raise ExecutorError(
                "--executor ray needs Ray: install the optional extra (pip install 'merprep[ray]')"
            ) from None
        if ray.is_initialized():
            return ray, False
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "a new local instance"
            raise ExecutorError(f"cannot start or reach Ray at {where}: {exc}") from None
        return ray, True

    def run(
        self, ctx: FoldContext, data: ClipArrays, jobs: Sequence[FoldJob], on_done: OnDone
    ) -> None:
        ray, started = self._connect()
        pending: dict = {}
        try:
            gpus = ray.cluster_resources().get("GPU", 0)
            resources = (
                {"num_gpus": self.gpus_per_fold or 1} if gpus else {"num_cpus": self.cpus_per_fold}
            )
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
