"""The ``packed`` executor: K folds at once on one machine, each in its own worker process.

One fold of these small models (2-8 M parameters, a few hundred clips) leaves a modern GPU
mostly idle; K worker processes share it, each with its share of the device's memory (JAX:
``XLA_PYTHON_CLIENT_MEM_FRACTION``; TensorFlow: memory growth) and of the CPU threads. A fold's
result depends only on its job (seed from the run seed and the fold's name), and each worker
keeps one :class:`~mertrain.trainer.FoldTrainer` whose compiled model is re-initialised exactly
as a fresh build per fold, so packed runs give the predictions of sequential ones (tested on
the CPU with K = 2; on a GPU, bit-identity needs deterministic kernels, ``--deterministic``).

``pack`` None chooses K from the free memory of the first GPU (``nvidia-smi``) and an estimate
of one fold's footprint (:func:`fold_bytes`); without a GPU it is 1 (the CPU's threads already
serve one fold).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from merprep.parallel import map_in_workers
from mertrain.data import ClipArrays
from mertrain.executors import OnDone
from mertrain.folds import FoldContext, FoldJob, FoldOutcome
from mertrain.models.registry import get_model

log = logging.getLogger(__name__)

#: activations kept for the backward pass, per input element of a batch, in bytes (float32 x a
#: generous depth factor of these shallow networks); part of the per-fold memory estimate
ACTIVATION_BYTES_PER_INPUT = 4 * 64
#: what a process of the framework takes on the device before any model (CUDA context, pools)
PROCESS_OVERHEAD_BYTES = 600 * 2**20


def free_gpu_bytes() -> int | None:
    """Free memory of the first GPU, from ``nvidia-smi`` (no framework imported); None without
    one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
        return int(out.strip().splitlines()[0]) * 2**20
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def fold_bytes(n_params: int, input_elems: int, batch_size: int) -> int:
    """A fold's device memory, roughly: weights, gradients and Adam's two moments (16 bytes a
    parameter), the batch's activations, and the process's own overhead."""
    return (
        16 * n_params
        + ACTIVATION_BYTES_PER_INPUT * input_elems * batch_size
        + PROCESS_OVERHEAD_BYTES
    )


def choose_pack(n_jobs: int, per_fold: int | None, free: int | None) -> int:
    """K for ``n_jobs`` folds: as many as fit in 90 % of the free GPU memory, at least 1."""
    if free is None or per_fold is None or per_fold <= 0:
        return 1
    return max(1, min(n_jobs, math.floor(0.9 * free / per_fold)))


# -- the worker side ---------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(ctx: FoldContext, data: ClipArrays, pack: int) -> None:
    """Runs once per worker, before Keras is imported there: its share of the device, then one
    trainer for all its folds. CPU thread pools keep their default size: a reduction split over
    another number of threads sums in another order, and the folds would no longer be bit-equal
    to sequential ones."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / pack:.3f}")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    from mertrain.trainer import FoldTrainer  # heavy: Keras, after the settings above

    _WORKER["trainer"] = FoldTrainer(ctx)
    _WORKER["data"] = data


def _train(job: FoldJob) -> FoldOutcome:
    outcome: FoldOutcome = _WORKER["trainer"].train(_WORKER["data"], job)
    return outcome


class PackedExecutor:
    """K folds at once in K worker processes (see the module docstring)."""

    def __init__(self, pack: int | None = None):
        if pack is not None and pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        self.pack = pack

    def choose(self, ctx: FoldContext, data: ClipArrays, n_jobs: int) -> int:
        if self.pack is not None:
            return min(self.pack, max(1, n_jobs))
        free = free_gpu_bytes()
        if free is None:
            log.info("packed: no GPU seen; one fold at a time")
            return 1
        spec = get_model(ctx.model)
        shapes = spec.input_shapes(ctx.model_config)
        elems = sum(math.prod(s) for s in shapes.values())
        params = _count_params(spec, ctx)
        per_fold = fold_bytes(params, elems, ctx.recipe.batch_size)
        k = choose_pack(n_jobs, per_fold, free)
        log.info(
            "packed: %d folds at once (%.1f GiB free on the GPU, about %.2f GiB a fold)",
            k,
            free / 2**30,
            per_fold / 2**30,
        )
        return k

    def run(
        self, ctx: FoldContext, data: ClipArrays, jobs: Sequence[FoldJob], on_done: OnDone
    ) -> None:
        if not jobs:
            return
        k = self.choose(ctx, data, len(jobs))
        for _, outcome in map_in_workers(
            _train,
            ((job,) for job in jobs),
            workers=k,
            initializer=_init_worker,
            initargs=(ctx, data, k),
            in_flight=k,
        ):
            on_done(outcome)


def _count_params(spec: Any, ctx: FoldContext) -> int:
    """Parameters of the run's model, counted in a subprocess-free way: built once here (a few
    seconds; only when K is chosen automatically)."""
    if spec.kind != "keras":
        return 0
    from mertrain.backend import keras  # heavy

    model, _ = spec.build(ctx.n_classes, config=ctx.model_config)
    n = int(model.count_params())
    del model
    keras.backend.clear_session()
    return n
