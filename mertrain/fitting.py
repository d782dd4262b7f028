"""The Keras side of training one fold: optimizer, learning-rate schedule, epoch selection, the
non-finite-loss guard, precision policy and deterministic kernels.

Each piece is one function or class so the trainer (:mod:`mertrain.trainer`) reads as the
recipe it applies, and tests can check each piece alone.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mertrain.backend import keras
from mertrain.fold_inputs import FoldInputs
from mertrain.folds import FoldContext, FoldJob, fold_file_stem
from mertrain.metrics import scores
from mertrain.models.registry import ModelSpec, predict_proba
from mertrain.recipe import Plateau, Recipe, StepDecay

log = logging.getLogger(__name__)


def make_optimizer(recipe: Recipe) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(recipe.lr)


def reset_optimizer(optimizer: keras.optimizers.Optimizer, recipe: Recipe) -> None:
    """Back to the state of a newly built optimizer (step 0, zero moments, initial rate; with
    mixed_float16, the loss scale back to its initial value)."""
    for v in optimizer.variables:
        v.assign(np.zeros(v.shape, dtype=v.dtype))
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) and optimizer.built:
        optimizer.dynamic_scale.assign(optimizer.initial_scale)
    optimizer.learning_rate = recipe.lr


def plateau_monitor(select: str) -> str:
    """What a plateau schedule watches: the inner-validation loss with select ``inner-val``,
    else the training loss (the test fold is never watched)."""
    return "val_loss" if select == "inner-val" else "loss"


def schedule_callbacks(recipe: Recipe, monitor: str) -> list[keras.callbacks.Callback]:
    """The learning-rate schedule of the recipe."""
    sched = recipe.schedule
    if isinstance(sched, StepDecay):
        f, every, lr0 = sched.factor, sched.every, recipe.lr
        return [
            keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr0 * f ** (epoch // every))
        ]
    if isinstance(sched, Plateau):
        return [
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                factor=sched.factor,
                patience=sched.patience,
                min_lr=sched.min_lr or 0.0,
            )
        ]
    return []


class EpochSelector(keras.callbacks.Callback):
    """Scores every epoch on an evaluation set and keeps the best epoch.

    ``inner-val``: validation UF1 (ties: lower validation loss, then the earlier epoch); the
    best weights are restored at the end. ``oracle``: each held-out fold's TEST accuracy (as
    published code does); the best epoch's test probabilities are kept. ``oracle-per-subject``:
    nothing is chosen here (each test subject's best epoch by the references' metric is picked
    afterwards, :func:`mertrain.published.select_per_subject`). In both optimistic modes every
    epoch's test probabilities are kept (``epoch_proba``) for the as-published scores. Runs
    before the schedule callbacks so ReduceLROnPlateau can monitor ``val_loss``.
    """

    def __init__(
        self,
        mode: str,
        x: dict[str, np.ndarray],
        y: np.ndarray,
        n_classes: int,
        spec: ModelSpec,
        batch_size: int,
    ):
        super().__init__()
        self.mode, self.x, self.y = mode, x, np.asarray(y, int)
        self.n_classes, self.spec, self.batch_size = n_classes, spec, batch_size
        self.best_key: tuple[float, ...] | None = None
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.best_proba: np.ndarray | None = None
        #: every epoch's probabilities on the evaluation set (optimistic modes only)
        self.epoch_proba: list[np.ndarray] | None = None if mode == "inner-val" else []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        proba = np.asarray(predict_proba(self.model, self.x, self.spec, self.batch_size))
        if self.epoch_proba is not None:
            self.epoch_proba.append(proba)
        pred = proba.argmax(axis=1)
        sc = scores(self.y, pred, self.n_classes)
        key: tuple[float, ...]
        if self.mode == "inner-val":
            loss = float(
                -np.mean(np.log(np.clip(proba[np.arange(len(self.y)), self.y], 1e-12, None)))
            )
            logs["val_uf1"], logs["val_loss"] = sc["uf1"], loss
            key = (sc["uf1"], -loss)
        else:
            logs["test_acc"] = sc["acc"]
            key = (sc["acc"],)
        if self.mode == "oracle-per-subject":
            return
        if self.best_key is None or key > self.best_key:
            self.best_key, self.best_epoch = key, epoch + 1
            if self.mode == "inner-val":
                self.best_weights = self.model.get_weights()
            else:
                self.best_proba = proba


class NonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first batch whose running loss is NaN or infinite and says where
    (Keras' TerminateOnNaN stops silently); the trainer then fails the fold."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: str | None = None
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = float(np.asarray(loss))
        if not math.isfinite(value):
            what = "NaN" if math.isnan(value) else "inf"
            self.failure = f"loss became {what} at epoch {self.epoch + 1} (batch {batch + 1})"
            self.model.stop_training = True


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.4 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


#: a run estimated to train longer than this (on this machine) is warned about
LONG_RUN_SECONDS = 3600.0


class EpochProgress(keras.callbacks.Callback):
    """A sign of life inside each fold: one log line per epoch (epoch, loss, seconds, the fold's
    ETA; ``mertrain -v``) and, on a terminal, a bar; after the first epoch of the first fold, an
    estimate of the whole run, with a warning when it is hours on this machine."""

    def __init__(self, label: str, epochs: int, *, bar: bool | None, run_epochs: int | None):
        super().__init__()
        self.label, self.epochs, self.show, self.run_epochs = label, epochs, bar, run_epochs
        self._bar: tqdm | None = None
        self._t = 0.0
        self._first = 0.0
        #: wall seconds of each epoch (recorded in the fold record: throughput, benchmarks)
        self.seconds: list[float] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._t = time.perf_counter()
        self._bar = tqdm(
            total=self.epochs,
            desc=self.label,
            unit="epoch",
            leave=False,
            dynamic_ncols=True,
            disable=None if self.show is None else not self.show,
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        seconds, self._t = now - self._t, now
        self.seconds.append(seconds)
        loss = float((logs or {}).get("loss", float("nan")))
        left = (self.epochs - epoch - 1) * seconds
        log.info(
            "%s epoch %d/%d: loss %.4f, %.1f s, fold done in about %s",
            self.label,
            epoch + 1,
            self.epochs,
            loss,
            seconds,
            duration(left),
        )
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.4f}", s_per_epoch=f"{seconds:.1f}")
        # the first epoch also traces the training step: estimate from the second when there is
        # one (first + second x the rest)
        if self.run_epochs and epoch == min(1, self.epochs - 1):
            if epoch == 0:
                self._first = seconds
            total = self._first + seconds * (self.run_epochs - 1)
            line = (
                f"at {seconds:.1f} s per epoch, this run's {self.run_epochs} epochs of training "
                f"take about {duration(total)} on this machine"
            )
            if total > LONG_RUN_SECONDS:
                log.warning(
                    "%s: consider a GPU machine (README: 'On a GPU'), fewer --epochs or "
                    "smaller --frames/--size",
                    line,
                )
            else:
                log.info(line)
        elif epoch == 0:
            self._first = seconds

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:
            self._bar.close()


def make_callbacks(
    ctx: FoldContext, job: FoldJob, inputs: FoldInputs, spec: ModelSpec
) -> tuple[list[keras.callbacks.Callback], EpochSelector | None]:
    """(callbacks in order, the epoch selector or None): selector, schedule, TensorBoard."""
    callbacks: list[keras.callbacks.Callback] = []
    selector = None
    select, batch = ctx.training.select, ctx.recipe.batch_size
    if select == "inner-val":
        selector = EpochSelector(
            "inner-val", inputs.x_val, inputs.y_val, ctx.n_classes, spec, batch
        )
    elif select in ("oracle", "oracle-per-subject"):
        selector = EpochSelector(select, inputs.x_test, inputs.y_test, ctx.n_classes, spec, batch)
    if selector is not None:
        callbacks.append(selector)
    callbacks += schedule_callbacks(ctx.recipe, plateau_monitor(select))
    if ctx.execution.tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir=str(Path(ctx.execution.out) / "tensorboard" / fold_file_stem(job.index)),
                write_graph=False,
                profile_batch=0,
            )
        )
    return callbacks, selector


def gpu_available() -> bool:
    """Whether the Keras backend sees a GPU (TensorFlow, JAX or PyTorch)."""
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if name == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if name == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


@contextmanager
def op_determinism(enabled: bool) -> Iterator[None]:
    """Deterministic kernels for the block, restoring the previous process state afterwards
    (so a library caller's other work is not slowed or changed). TensorFlow: op determinism;
    PyTorch: deterministic algorithms; JAX is deterministic on CPU, and on a GPU with
    ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` set before it starts (docs/training.md)."""
    if not enabled:
        yield
        return
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        was_torch = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_torch)
        return
    if backend != "tensorflow":
        yield
        return
    import tensorflow as tf

    try:
        from tensorflow.python.framework import config as tf_config

        was = tf_config.is_op_determinism_enabled()
    except (ImportError, AttributeError):  # private API moved: leave determinism on
        tf_config, was = None, True
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was and tf_config is not None:
            tf_config.disable_op_determinism()


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy for ``precision`` on this machine."""
    if precision == "float32":
        return "float32"
    if precision == "bf16":
        return "mixed_bfloat16"
    if gpu_available():
        return "mixed_float16"
    log.warning(
        "precision mixed: no GPU visible; training in float32 (TensorFlow has no "
        "float16 CPU kernels for 3-D pooling, and float16 is not faster on CPU; "
        "precision bf16 runs on CPU)"
    )
    return "float32"


@contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy for the block (restored afterwards)."""
    old = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(old)
