"""``mertrain run``: train and evaluate one model under one protocol, fold by fold.

Honest by construction:

- each fold's weights start from a seed derived from (run seed, fold name) only, so a fold gives
  the same result whether it runs first, after others, alone (``--folds``), resumed, or on a Ray
  worker; no state crosses folds (a reused compiled model is re-initialised from a fresh build
  with the fold seed and its optimizer reset, which is bit-identical to building it anew);
- normalisation statistics, class weights and logit priors come from the fold's training
  clips only (minus the inner-validation subjects with ``--select inner-val``); augmentation
  (``--augment``) touches the training clips only, after that split, seeded by the fold seed;
- epoch selection is a fixed schedule by default (``last``); ``inner-val`` keeps the best epoch
  on whole training subjects held out; ``oracle`` (the published practice of keeping each held-out
  subject's best TEST epoch) exists only for comparison and is labelled "oracle (optimistic)";
- UF1/UAR are computed once on the predictions pooled over all folds.

Structure: :func:`prepare` checks everything and reads the clips (no training before every
check has passed); an executor (:mod:`mertrain.executors`) runs :class:`FoldJob` s through a
:class:`FoldTrainer`; each fold's outcome is persisted atomically as it finishes
(:mod:`mertrain.report`), and the run directory's outputs are derived from those records.
A fold's recipe is one function each: :func:`fold_inputs` (data pipeline, with
:class:`AugmentedTraining`), :func:`make_optimizer`, :class:`mertrain.losses.FoldLoss`,
:func:`schedule_callbacks`, :func:`make_callbacks`.

Failures: a damaged store is refused by :func:`prepare` (every array is read and checksummed
before the run directory exists); a fold whose loss becomes NaN/inf fails alone (recorded in
``folds/NNN.failed.json`` and ``results.json`` ``failed_folds``; the other folds go on); weights
that cannot be written (disk full) stop the run with :class:`WeightsError`, leaving the finished
fold records intact for ``--resume``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from merprep.errors import MerprepError
from mertrain.data import ClipArrays, Normaliser, StoreCollection, load_arrays
from mertrain.protocols import (PROTOCOLS, ProtocolError, Sample, Splits, build_splits,
                                check_against, get_task, inner_validation_subjects,
                                parse_fold_selection)
from mertrain.protocols.megc2019 import TASK as MEGC2019_TASK
from mertrain.protocols.megc2019 import official_samples
from mertrain.protocols.splits import labelled_samples
from mertrain.report import SELECT_LABELS

log = logging.getLogger(__name__)

SELECT_MODES = tuple(SELECT_LABELS)
EXECUTORS = ("local", "ray")
#: ``--precision``: float32; mixed = Keras "mixed_float16" on a GPU (float32 on CPU, with a
#: warning: TensorFlow has no float16 CPU kernels for 3-D pooling); bf16 = "mixed_bfloat16"
PRECISIONS = ("float32", "mixed", "bf16")
#: the loss names of the model configuration (ModelConfig.loss)
LOSS_NAMES = ("ce", "weighted_ce", "logit_adjusted", "focal")


class RunError(MerprepError):
    """A run that cannot start (bad protocol/task/store/run-directory combination)."""


# --------------------------------------------------------------------------- configuration

@dataclass
class RunConfig:
    """Everything needed to rerun; written to ``RUN_DIR/config.json``.

    Fields after ``model_options`` only say HOW to execute (which folds, where, resumed or not)
    and never change a prediction; the rest is the run's identity, which resumed runs and merged
    shards must share (:meth:`identity`).
    """

    stores: list[str]
    out: str
    model: str = "dual3dcnn-gru-ecbam"
    protocol: str = "loso"
    task: str = "3class"
    test_subjects: list[str] = field(default_factory=list)  # holdout
    k: int | None = None  # kfold
    splits_file: str | None = None  # reuse a saved split (validated against the stores)
    preset: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    frames: int | None = None
    size: int | None = None
    input: str = "onset-diff"
    input_gain: float = 10.0
    balance: bool = False
    select: str = "last"
    val_fraction: float = 0.2
    seed: int = 0
    deterministic: bool = True
    lr_schedule: str | None = None  # constant | step:F:N | plateau:F:P (model recipe override)
    loss: str | None = None  # ce | weighted_ce | logit_adjusted | focal (model recipe override)
    class_weights: list[float] | None = None
    logit_adjust_tau: float | None = None
    focal_gamma: float | None = None
    #: training-clip augmentation: None, or every AugmentConfig field (see mertrain.augment);
    #: "default" is accepted and resolved to AugmentConfig()'s fields
    augment: dict[str, Any] | None = None
    precision: str = "float32"
    jit: bool | None = None  # XLA jit_compile; None = Keras' "auto" (on with a GPU, off on CPU)
    model_options: dict[str, Any] = field(default_factory=dict)
    # -- execution only ------------------------------------------------------------------------
    folds: str | None = None
    resume: bool = False
    executor: str = "local"
    ray_address: str | None = None
    reuse_model: bool = True
    tensorboard: bool = False
    save_weights: bool = False

    EXECUTION_FIELDS = ("out", "stores", "folds", "resume", "executor", "ray_address",
                        "reuse_model", "tensorboard", "save_weights")
    #: paths: the content they name is identified by store fingerprints and the splits sha256
    PATH_FIELDS = ("splits_file",)

    def __post_init__(self):
        self.stores = [str(s) for s in self.stores]
        self.out = str(self.out)
        self.test_subjects = [str(s) for s in self.test_subjects]
        self.model_options = dict(self.model_options)
        if not self.stores:
            raise ValueError("give at least one clip store")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of "
                             f"{', '.join(PROTOCOLS)}")
        get_task(self.task)
        Normaliser(self.input)  # checks the mode name
        if self.protocol == "megc2019" and self.task != MEGC2019_TASK:
            raise ValueError(f"protocol megc2019 is 3-class; use --task {MEGC2019_TASK}")
        if self.test_subjects and self.protocol != "holdout":
            raise ValueError("--test-subjects is for --protocol holdout")
        if self.protocol == "holdout" and not (self.test_subjects or self.splits_file):
            raise ValueError("--protocol holdout needs --test-subjects")
        if self.k is not None and self.protocol != "kfold":
            raise ValueError("--k is for --protocol kfold")
        if self.protocol == "kfold" and not self.splits_file and (self.k is None or self.k < 2):
            raise ValueError("--protocol kfold needs --k of at least 2")
        if self.select not in SELECT_MODES:
            raise ValueError(f"unknown --select {self.select!r}; choose one of "
                             f"{', '.join(SELECT_MODES)}")
        if not 0 < self.val_fraction < 1:
            raise ValueError("--val-fraction must be in (0, 1)")
        if self.executor not in EXECUTORS:
            raise ValueError(f"unknown --executor {self.executor!r}; choose one of "
                             f"{', '.join(EXECUTORS)}")
        if self.ray_address and self.executor != "ray":
            raise ValueError("--ray-address needs --executor ray")
        if self.seed < 0:
            raise ValueError("--seed must be >= 0")
        if self.loss is not None and self.loss not in LOSS_NAMES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSS_NAMES)}")
        if self.class_weights is not None:
            self.class_weights = [float(w) for w in self.class_weights]
            if not all(math.isfinite(w) and w >= 0 for w in self.class_weights) \
                    or not any(self.class_weights):
                raise ValueError("--class-weights must be finite, non-negative and not all zero")
        for name in ("logit_adjust_tau", "focal_gamma"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown --precision {self.precision!r}; choose one of "
                             f"{', '.join(PRECISIONS)}")
        self.augment = resolve_augment(self.augment)
        if self.jit and self.deterministic:
            raise ValueError("--jit needs --no-deterministic: Keras does not XLA-compile while "
                             "TensorFlow's op determinism is on")

    @property
    def select_label(self) -> str:
        return SELECT_LABELS[self.select]

    def model_overrides(self) -> dict[str, Any]:
        over = dict(self.model_options)
        for name in ("epochs", "batch_size", "lr", "frames", "size", "lr_schedule", "loss",
                     "logit_adjust_tau", "focal_gamma"):
            value = getattr(self, name)
            if value is not None:
                over[name] = value
        if self.class_weights is not None:
            over["class_weights"] = tuple(self.class_weights)
        over.setdefault("seed", self.seed)
        return over

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def identity(self) -> dict[str, Any]:
        """The fields that decide predictions (execution fields and paths left out)."""
        skip = self.EXECUTION_FIELDS + self.PATH_FIELDS
        return {k: v for k, v in self.to_dict().items() if k not in skip}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def resolve_augment(value: Any) -> dict[str, Any] | None:
    """``None``/"none" -> None; "default" -> AugmentConfig()'s fields; a mapping -> every field
    of the AugmentConfig it describes (checked), so the run's identity names every parameter."""
    from mertrain.augment import AugmentConfig

    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, str) and value.lower() == "default":
        value = {}
    if not isinstance(value, Mapping):
        raise ValueError(f"--augment: expected none, default or a JSON object of AugmentConfig "
                         f"fields, got {value!r}")
    names = [f.name for f in dataclasses.fields(AugmentConfig)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ValueError(f"--augment: unknown field(s) {unknown}; AugmentConfig fields: {names}")
    return dataclasses.asdict(AugmentConfig(**value))


def fold_seed(run_seed: int, fold_name: str) -> int:
    """A per-fold seed that depends only on the run seed and the fold's name."""
    digest = hashlib.sha256(f"{run_seed}:{fold_name}".encode()).hexdigest()
    return int(digest[:8], 16)


# --------------------------------------------------------------------------- fold units

@dataclass(frozen=True)
class FoldContext:
    """What every fold of a run shares (picklable: Ray workers receive it)."""

    model: str
    model_config: Any
    n_classes: int
    classes: tuple[str, ...]
    input_mode: str
    input_gain: float
    select: str
    balance: bool = False
    deterministic: bool = True
    reuse_model: bool = True
    out: str | None = None
    save_weights: bool = False
    tensorboard: bool = False
    augment: dict[str, Any] | None = None  # AugmentConfig fields (training clips only)
    precision: str = "float32"
    jit: bool | None = None


@dataclass(frozen=True)
class FoldJob:
    """One fold: row indices into the run's :class:`ClipArrays`."""

    index: int
    name: str
    seed: int
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray  # inner-validation rows (empty unless --select inner-val)
    val_subjects: tuple[str, ...] = ()


@dataclass
class FoldOutcome:
    """A finished fold: the test clips' probabilities and what produced them."""

    index: int
    name: str
    seed: int
    clip_ids: list[str]
    datasets: list[str]
    subjects: list[str]
    y_true: list[int]
    proba: np.ndarray
    history: dict[str, list[float]]
    seconds: float
    best_epoch: int | None = None
    val_subjects: list[str] = field(default_factory=list)
    train_subjects: list[str] = field(default_factory=list)
    #: what the fold's recipe took from its training clips (class weights, logit prior) and how
    #: it ran (effective precision, augmentation, plateau monitor)
    recipe: dict[str, Any] = field(default_factory=dict)
    #: why the fold did not finish (e.g. "loss became NaN at epoch 3"); then ``proba`` is empty
    failure: str | None = None

    @property
    def y_pred(self) -> list[int]:
        return [int(i) for i in np.asarray(self.proba).argmax(axis=1)]

    def to_record(self) -> dict[str, Any]:
        """JSON form (floats written in full, so a resumed run reproduces results exactly)."""
        return {
            "index": self.index, "name": self.name, "seed": self.seed,
            "clip_ids": list(self.clip_ids), "datasets": list(self.datasets),
            "subjects": list(self.subjects), "y_true": [int(v) for v in self.y_true],
            "proba": [[float(p) for p in row] for row in np.asarray(self.proba, np.float64)],
            "history": {k: [float(v) for v in vals] for k, vals in self.history.items()},
            "seconds": float(self.seconds), "best_epoch": self.best_epoch,
            "val_subjects": list(self.val_subjects), "train_subjects": list(self.train_subjects),
            "recipe": json.loads(json.dumps(self.recipe, default=str)),
            **({"failure": self.failure} if self.failure else {}),
        }

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> "FoldOutcome":
        return cls(index=int(d["index"]), name=d["name"], seed=int(d["seed"]),
                   clip_ids=list(d["clip_ids"]), datasets=list(d["datasets"]),
                   subjects=list(d["subjects"]), y_true=[int(v) for v in d["y_true"]],
                   proba=np.asarray(d["proba"], np.float64), history=dict(d["history"]),
                   seconds=float(d["seconds"]), best_epoch=d.get("best_epoch"),
                   val_subjects=list(d.get("val_subjects") or []),
                   train_subjects=list(d.get("train_subjects") or []),
                   recipe=dict(d.get("recipe") or {}), failure=d.get("failure"))


# --------------------------------------------------------------------------- fold recipe

@dataclass
class FoldInputs:
    """A fold's model inputs, normalised with statistics of its training rows.

    With augmentation, ``augmented`` produces the training batches (new random transforms every
    epoch) and ``x_train`` is empty; validation and test inputs are never augmented."""

    x_train: dict[str, np.ndarray]
    y_train: np.ndarray
    x_val: dict[str, np.ndarray]
    y_val: np.ndarray
    x_test: dict[str, np.ndarray]
    y_test: np.ndarray
    augmented: "AugmentedTraining | None" = None


@dataclass
class AugmentedTraining:
    """Training batches augmented afresh every epoch, reproducibly.

    Epoch ``e`` visits the training clips in the order ``default_rng([seed, e]).permutation``;
    batch ``b`` of epoch ``e`` draws its transforms from ``default_rng([seed, e, b])`` (one draw
    of :func:`mertrain.augment.sample_params` shared by every augmented input of a clip, e.g.
    face and AU clips) and its pixel noise from ``default_rng([seed, e, b, i + 1])`` for the
    i-th input. A batch therefore depends only on (fold seed, epoch, batch index): not on the
    thread or the order TensorFlow asks for it. Clips are augmented as read (uint8, so
    brightness and noise are fractions of 255), then normalised with the fold's training
    statistics (fitted on the unaugmented training clips). Inputs not in ``augmented`` (flow
    stacks) pass through unaugmented.
    """

    raw: dict[str, np.ndarray]  # the fold's training rows as read from the stores
    labels: np.ndarray
    norms: dict[str, Normaliser]
    config: Any  # mertrain.augment.AugmentConfig
    seed: int
    augmented: tuple[str, ...]
    _order: tuple[int, np.ndarray] | None = field(default=None, init=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.labels)

    def steps(self, batch_size: int) -> int:
        return max(1, math.ceil(self.n / batch_size))

    def rows(self, epoch: int, step: int, batch_size: int) -> np.ndarray:
        """Row indices (into ``raw``) of batch ``step`` of ``epoch``."""
        cached = self._order
        if cached is None or cached[0] != epoch:
            cached = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
            self._order = cached
        return cached[1][step * batch_size:(step + 1) * batch_size]

    def batch(self, epoch: int, step: int, batch_size: int
              ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        from mertrain.augment import apply_params, sample_params

        rows = self.rows(epoch, step, batch_size)
        params = sample_params(len(rows), np.random.default_rng([self.seed, epoch, step]),
                               self.config)
        x = {}
        for i, name in enumerate(sorted(self.raw)):
            clips = self.raw[name][rows]
            if name in self.augmented:
                noise_rng = np.random.default_rng([self.seed, epoch, step, i + 1])
                clips = apply_params(clips, params, noise_rng, self.config)
            x[name] = self.norms[name](clips)
        return x, self.labels[rows]

    def dataset(self, epochs: int, batch_size: int):
        """A ``tf.data`` pipeline of ``epochs * steps(batch_size)`` batches (fit it with
        ``steps_per_epoch=steps(batch_size)``); batches are made in NumPy by
        ``tf.numpy_function``, one ahead of training (prefetch)."""
        import tensorflow as tf

        names = sorted(self.raw)
        steps = self.steps(batch_size)
        shapes = {k: (None, *self.raw[k].shape[1:]) for k in names}

        def make(j):
            j = int(j)
            x, y = self.batch(j // steps, j % steps, batch_size)
            return [x[k].astype(np.float32, copy=False) for k in names] + [y.astype(np.int64)]

        def tf_make(j):
            out = tf.numpy_function(make, [j], [tf.float32] * len(names) + [tf.int64])
            x = {k: tf.ensure_shape(t, shapes[k]) for k, t in zip(names, out)}
            return x, tf.ensure_shape(out[-1], (None,))

        return tf.data.Dataset.range(epochs * steps).map(tf_make).prefetch(1)


def augmentable_inputs(spec: Any, config: Any) -> tuple[str, ...]:
    """The model inputs augmentation may touch: clips (face, AU regions), never flow stacks (a
    flip negates u, a rotation turns the (u, v) vectors; see mertrain.augment)."""
    return tuple(i.name for i in spec.required_inputs(config)
                 if i.source != "flow" and i.rank == "clip")


def fold_inputs(ctx: FoldContext, data: ClipArrays, job: FoldJob) -> FoldInputs:
    """The fold's data pipeline: split rows, fit normalisation on the training rows only, apply
    it everywhere; with ``ctx.augment``, training batches are augmented per epoch (training rows
    only, after the split and the inner-validation draw; :class:`AugmentedTraining`)."""
    x_train = data.take(job.train)
    norms = {k: Normaliser(ctx.input_mode, ctx.input_gain).fit(v) for k, v in x_train.items()}

    def norm(x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: norms[k](v) for k, v in x.items()}

    y_train = data.labels[job.train]
    augmented = None
    if ctx.augment is not None:
        from mertrain.augment import AugmentConfig
        from mertrain.models import get_model

        spec = get_model(ctx.model)
        augmented = AugmentedTraining(x_train, y_train, norms, AugmentConfig(**ctx.augment),
                                      job.seed, augmentable_inputs(spec, ctx.model_config))
        train_x: dict[str, np.ndarray] = {}
    else:
        train_x = norm(x_train)
    return FoldInputs(train_x, y_train, norm(data.take(job.val)), data.labels[job.val],
                      norm(data.take(job.test)), data.labels[job.test], augmented)


def make_optimizer(cfg: Any):
    import keras

    return keras.optimizers.Adam(cfg.lr)


def reset_optimizer(optimizer: Any, cfg: Any) -> None:
    """Back to the state of a newly built optimizer (step 0, zero moments, initial rate; with
    mixed_float16, the loss scale back to its initial value)."""
    import keras

    for v in optimizer.variables:
        v.assign(np.zeros(v.shape, dtype=v.dtype))
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) and optimizer.built:
        optimizer.dynamic_scale.assign(optimizer.initial_scale)
    optimizer.learning_rate = cfg.lr


def plateau_monitor(select: str) -> str:
    """What ``plateau:F:P`` watches: the inner-validation loss with ``--select inner-val``, else
    the training loss (the test fold is never watched)."""
    return "val_loss" if select == "inner-val" else "loss"


def schedule_callbacks(cfg: Any, monitor: str) -> list:
    """The learning-rate schedule of the model's recipe (``lr_schedule``)."""
    import keras

    sched = cfg.schedule
    if sched["kind"] == "step":
        f, every, lr0 = sched["factor"], sched["every"], cfg.lr
        return [keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: lr0 * f ** (epoch // every))]
    if sched["kind"] == "plateau":
        return [keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=sched["factor"],
                                                  patience=sched["patience"])]
    return []


def _epoch_selector_class():
    import keras

    from mertrain.metrics import scores

    class EpochSelector(keras.callbacks.Callback):
        """Scores every epoch on an evaluation set and keeps the best epoch.

        ``inner-val``: validation UF1 (ties: lower validation loss, then the earlier epoch);
        the best weights are restored at the end. ``oracle``: each held-out fold's TEST accuracy
        (as published code does); only the best epoch's test probabilities are kept. Runs before
        the schedule callbacks so ReduceLROnPlateau can monitor ``val_loss``.
        """

        def __init__(self, mode: str, x, y, n_classes: int, spec, batch_size: int):
            super().__init__()
            self.mode, self.x, self.y = mode, x, np.asarray(y, int)
            self.n_classes, self.spec, self.batch_size = n_classes, spec, batch_size
            self.best_key: tuple | None = None
            self.best_epoch: int | None = None
            self.best_weights = None
            self.best_proba: np.ndarray | None = None

        def on_epoch_end(self, epoch, logs=None):
            from mertrain.models import predict_proba

            logs = logs if logs is not None else {}
            proba = np.asarray(predict_proba(self.model, self.x, self.spec, self.batch_size))
            pred = proba.argmax(axis=1)
            sc = scores(self.y, pred, self.n_classes)
            if self.mode == "inner-val":
                loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(self.y)), self.y],
                                                     1e-12, None))))
                logs["val_uf1"], logs["val_loss"] = sc["uf1"], loss
                key = (sc["uf1"], -loss)
            else:
                logs["test_acc"] = sc["acc"]
                key = (sc["acc"],)
            if self.best_key is None or key > self.best_key:
                self.best_key, self.best_epoch = key, epoch + 1
                if self.mode == "inner-val":
                    self.best_weights = self.model.get_weights()
                else:
                    self.best_proba = proba

    return EpochSelector


def make_callbacks(ctx: FoldContext, cfg: Any, job: FoldJob, inputs: FoldInputs, spec
                   ) -> tuple[list, Any]:
    """(callbacks in order, the epoch selector or None): selector, schedule, TensorBoard."""
    import keras

    callbacks: list = []
    selector = None
    if ctx.select == "inner-val":
        selector = _epoch_selector_class()("inner-val", inputs.x_val, inputs.y_val,
                                           ctx.n_classes, spec, cfg.batch_size)
    elif ctx.select == "oracle":
        selector = _epoch_selector_class()("oracle", inputs.x_test, inputs.y_test,
                                           ctx.n_classes, spec, cfg.batch_size)
    if selector is not None:
        callbacks.append(selector)
    callbacks += schedule_callbacks(cfg, plateau_monitor(ctx.select))
    if ctx.tensorboard and ctx.out:
        callbacks.append(keras.callbacks.TensorBoard(
            log_dir=str(Path(ctx.out) / "tensorboard" / fold_file_stem(job)),
            write_graph=False, profile_batch=0))
    return callbacks, selector


def _non_finite_loss_class():
    import keras

    class NonFiniteLoss(keras.callbacks.Callback):
        """Stops training at the first batch whose running loss is NaN or infinite and says
        where (Keras' TerminateOnNaN stops silently); the trainer then fails the fold."""

        def __init__(self):
            super().__init__()
            self.failure: str | None = None
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is None:
                return
            value = float(np.asarray(loss))
            if not math.isfinite(value):
                what = "NaN" if math.isnan(value) else "inf"
                self.failure = f"loss became {what} at epoch {self.epoch + 1} (batch {batch + 1})"
                self.model.stop_training = True

    return NonFiniteLoss


def fold_file_stem(job: FoldJob | FoldOutcome) -> str:
    return f"{job.index:03d}"


@contextmanager
def op_determinism(enabled: bool) -> Iterator[None]:
    """TensorFlow's deterministic kernels for the block, restoring the previous process state
    afterwards (so a library caller's other work is not slowed or changed)."""
    if not enabled:
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


class FoldTrainer:
    """Trains folds one after another in this process.

    With ``ctx.reuse_model`` the Keras model is built and compiled once: for each fold a fresh
    model is built from the fold seed (cheap; no tracing), its variables (weights and dropout
    seed states) are copied into the compiled model and the optimizer is reset. This gives
    bit-identical predictions to a fresh build (tested, and checked by
    benchmarks/bench_fold_overhead.py) while the traced training step is reused.

    A fold whose training loss becomes NaN/inf, or whose predictions are not finite, is returned
    as a failed :class:`FoldOutcome` (``failure`` set, no probabilities) instead of raising, so
    the other folds go on; :func:`run` records it apart from the finished folds.
    """

    def __init__(self, ctx: FoldContext):
        from mertrain.models import get_model

        self.ctx = ctx
        self.spec = get_model(ctx.model)
        self._model = None
        self._loss = None
        self._policy: str | None = None
        if self.spec.kind == "keras":
            from mertrain.tfenv import import_tensorflow

            import_tensorflow()

    def train(self, data: ClipArrays, job: FoldJob) -> FoldOutcome:
        t0 = time.perf_counter()
        inputs = fold_inputs(self.ctx, data, job)
        with op_determinism(self.ctx.deterministic and self.spec.kind == "keras"):
            if self.spec.kind == "sklearn":
                proba, history, best, recipe, failure = \
                    self._train_sklearn(inputs, job), {}, None, {}, None
            else:
                proba, history, best, recipe, failure = self._train_keras(inputs, job)
        if failure is None and not np.all(np.isfinite(proba)):
            failure = "predictions are not finite (NaN/inf probabilities)"
        if failure is not None:
            log.error("fold %d %s failed: %s", job.index, job.name, failure)
            proba = np.zeros((0, self.ctx.n_classes))
        # the protocol's training side: the rows fitted plus the inner-validation rows
        train_subjects = sorted({data.subjects[i] for i in (*job.train, *job.val)})
        return FoldOutcome(
            index=job.index, name=job.name, seed=job.seed,
            clip_ids=[data.clip_ids[i] for i in job.test],
            datasets=[data.datasets[i] for i in job.test],
            subjects=[data.subjects[i] for i in job.test],
            y_true=[int(v) for v in inputs.y_test], proba=np.asarray(proba, np.float64),
            history=history, seconds=time.perf_counter() - t0, best_epoch=best,
            val_subjects=list(job.val_subjects), train_subjects=train_subjects,
            recipe=recipe, failure=failure)

    # -- scikit-learn ----------------------------------------------------------------------------
    def _train_sklearn(self, inputs: FoldInputs, job: FoldJob) -> np.ndarray:
        import pickle

        from mertrain.models import predict_proba

        model, _ = self.spec.build(self.ctx.n_classes, config=self.ctx.model_config)
        model.fit(inputs.x_train, inputs.y_train)
        if self.ctx.save_weights and self.ctx.out:
            path = Path(self.ctx.out) / "weights" / f"{fold_file_stem(job)}.pkl"
            write_weights(path, lambda tmp: Path(tmp).write_bytes(pickle.dumps(model)))
        return np.asarray(predict_proba(model, inputs.x_test, self.spec))

    # -- Keras -----------------------------------------------------------------------------------
    def _build(self, seed: int):
        """A model built from ``seed`` under the run's precision policy (mixed: the logits are
        cast to float32 by a final linear layer, so softmax and loss run in float32)."""
        import keras

        keras.utils.set_random_seed(seed)
        if self._policy is None:
            self._policy = resolve_precision(self.ctx.precision)
        cfg, n = self.ctx.model_config, self.ctx.n_classes
        if self._policy == "float32":
            return self.spec.build(n, config=cfg)[0]
        with dtype_policy(self._policy):
            model, _ = self.spec.build(n, config=cfg)
            logits = keras.layers.Activation("linear", dtype="float32",
                                             name="logits_float32")(model.outputs[0])
            return keras.Model(model.inputs, logits, name=model.name)

    def _model_for(self, seed: int):
        """The compiled model, initialised exactly as a fresh build from ``seed`` would be."""
        import keras

        from mertrain.losses import FoldLoss

        cfg, n = self.ctx.model_config, self.ctx.n_classes
        if self._model is None or not self.ctx.reuse_model:
            keras.backend.clear_session()
            model = self._build(seed)
            self._loss = FoldLoss(cfg, n, self.ctx.balance)
            jit = "auto" if self.ctx.jit is None else bool(self.ctx.jit)
            model.compile(optimizer=make_optimizer(cfg), loss=self._loss.fn,
                          metrics=["accuracy"], jit_compile=jit)
            self._model = model
            return model
        fresh = self._build(seed)
        target = self._model.variables
        source = fresh.variables
        if len(target) != len(source) or any(a.shape != b.shape for a, b in zip(target, source)):
            raise RuntimeError(f"{self.spec.name}: a rebuilt model's variables do not line up "
                               "with the compiled one; run with reuse_model=False")
        for dst, src in zip(target, source):
            dst.assign(src)
        reset_optimizer(self._model.optimizer, cfg)
        del fresh
        return self._model

    def _train_keras(self, inputs: FoldInputs, job: FoldJob):
        from mertrain.models import predict_proba

        cfg = self.ctx.model_config
        model = self._model_for(job.seed)
        recipe = self._loss.prepare(inputs.y_train)
        recipe.update(precision=self._policy, augmented=inputs.augmented is not None,
                      jit_compile=bool(getattr(model, "jit_compile", False)))
        if cfg.schedule["kind"] == "plateau":
            recipe["plateau_monitor"] = plateau_monitor(self.ctx.select)
        callbacks, selector = make_callbacks(self.ctx, cfg, job, inputs, self.spec)
        guard = _non_finite_loss_class()()
        callbacks.append(guard)
        if inputs.augmented is not None:
            aug = inputs.augmented
            hist = model.fit(aug.dataset(cfg.epochs, cfg.batch_size), epochs=cfg.epochs,
                             steps_per_epoch=aug.steps(cfg.batch_size), shuffle=False,
                             verbose=0, callbacks=callbacks)
        else:
            hist = model.fit(inputs.x_train, inputs.y_train, batch_size=cfg.batch_size,
                             epochs=cfg.epochs, shuffle=True, verbose=0, callbacks=callbacks)
        history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        if guard.failure is not None:
            self._release()
            return np.zeros((0, self.ctx.n_classes)), history, None, recipe, guard.failure
        best = None
        if selector is not None and selector.best_epoch is not None:
            best = selector.best_epoch
            if self.ctx.select == "inner-val":
                model.set_weights(selector.best_weights)
        if self.ctx.select == "oracle" and selector is not None:
            proba = selector.best_proba
        else:
            proba = predict_proba(model, inputs.x_test, self.spec, batch_size=cfg.batch_size)
        if self.ctx.save_weights and self.ctx.out and np.all(np.isfinite(proba)):
            path = Path(self.ctx.out) / "weights" / f"{fold_file_stem(job)}.keras"
            write_weights(path, save_keras_model(model))
        self._release()
        return np.asarray(proba), history, best, recipe, None

    def _release(self) -> None:
        if not self.ctx.reuse_model:
            import keras

            self._model = None
            keras.backend.clear_session()


class WeightsError(MerprepError):
    """Weights could not be written (disk full, permissions): the run stops."""


def save_keras_model(model: Any):
    """A ``save(path)`` that writes the whole model (architecture + weights) as ``.keras``.

    Keras builds a ``.keras`` archive's HDF5 weights in memory and writes the archive with
    Python's zipfile, so a full disk is a plain OSError. (``save_weights`` writes HDF5 straight
    to disk; when that fails part-way HDF5 keeps the half-written file open and crashes the
    interpreter at exit.) Reload with :func:`mertrain.models.load_model`.
    """
    def save(tmp: str) -> None:
        import keras

        # An uncompiled view of the same layers: the fold's loss is a closure over the fold's
        # statistics, which Keras could save but not load back.
        keras.Model(inputs=model.inputs, outputs=model.outputs, name=model.name).save(tmp)
    return save


def write_weights(path: Path, save: Any) -> Path:
    """Write a fold's weights atomically: ``save(temporary path)`` next to ``path``, fsync,
    rename. A failure (disk full, ...) leaves no partial file behind and raises
    :class:`WeightsError` naming ``path``; fold records already written are untouched."""
    path = Path(path)
    tmp = path.with_name(f".{path.name.split('.')[0]}.partial{''.join(path.suffixes)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save(str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        reason = _os_reason(exc)
        _drop_traceback_quietly(exc)
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise WeightsError(f"cannot write the fold's weights ({reason}); the folds finished "
                           "before are kept: free space and rerun with --resume",
                           file=path) from None
    return path


def _os_reason(exc: OSError) -> str:
    """``No space left on device`` rather than HDF5's multi-line report around errno 28."""
    import re

    code = exc.errno
    if code is None:
        m = re.search(r"errno = (\d+)", str(exc))
        code = int(m.group(1)) if m else None
    if code is not None:
        return os.strerror(code)
    return str(exc).splitlines()[0][:200]


def _drop_traceback_quietly(exc: BaseException) -> None:
    """Free the frames of a failed HDF5 write now, ignoring what h5py's deallocators report
    (a file that cannot flush on a full disk; the partial file is deleted anyway)."""
    import gc
    import sys

    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        while exc is not None:
            exc.__traceback__ = None
            exc = exc.__context__
        gc.collect()
    finally:
        sys.unraisablehook = hook


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy for ``--precision`` on this machine."""
    if precision == "float32":
        return "float32"
    if precision == "bf16":
        return "mixed_bfloat16"
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    log.warning("--precision mixed: no GPU visible; training in float32 (TensorFlow has no "
                "float16 CPU kernels for 3-D pooling, and float16 is not faster on CPU; "
                "--precision bf16 runs on CPU)")
    return "float32"


@contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy for the block (restored afterwards)."""
    import keras

    old = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(old)


def train_fold(ctx: FoldContext, data: ClipArrays, job: FoldJob) -> FoldOutcome:
    """One fold in a fresh trainer (what a Ray worker runs)."""
    return FoldTrainer(ctx).train(data, job)


# --------------------------------------------------------------------------- preparing a run

@dataclass
class Prepared:
    """A run that has passed every check, with its clips read: ready to train."""

    config: RunConfig
    spec: Any
    model_config: Any
    splits: Splits
    samples: dict[str, Sample]
    data: ClipArrays
    stores: list[dict[str, Any]]
    #: class weights counted on each fold's training clips (--balance, or --loss weighted-ce
    #: without weights)
    balance: bool = False

    def context(self) -> FoldContext:
        c = self.config
        return FoldContext(
            model=self.spec.name, model_config=self.model_config,
            n_classes=len(self.splits.classes), classes=tuple(self.splits.classes),
            input_mode=c.input, input_gain=c.input_gain, select=c.select, balance=self.balance,
            deterministic=c.deterministic, reuse_model=c.reuse_model, out=c.out,
            save_weights=c.save_weights, tensorboard=c.tensorboard, augment=c.augment,
            precision=c.precision, jit=c.jit)

    def recipe(self) -> dict[str, Any]:
        """The training recipe in words (config.json ``recipe``; printed by ``mertrain run``)."""
        cfg, c = self.model_config, self.config
        sched = cfg.schedule
        lr_schedule = cfg.lr_schedule
        if sched["kind"] == "plateau":
            lr_schedule += (" on the inner-validation loss" if c.select == "inner-val"
                            else " on the training loss")
        if self.balance:
            weights = "n/(K n_c) from each fold's training clips"
        elif cfg.class_weights is not None and cfg.loss in ("weighted_ce", "focal"):
            weights = list(cfg.class_weights)
        else:
            weights = None
        loss = {"ce": "weighted_ce" if self.balance else "ce"}.get(cfg.loss, cfg.loss)
        out: dict[str, Any] = {"optimizer": "adam", "lr": cfg.lr, "lr_schedule": lr_schedule,
                               "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                               "loss": loss, "class_weights": weights}
        if cfg.loss == "logit_adjusted":
            out["logit_adjust_tau"] = cfg.logit_adjust_tau
        if cfg.loss == "focal":
            out["focal_gamma"] = cfg.focal_gamma
        out["augment"] = c.augment
        if c.augment is not None:
            out["augmented_inputs"] = list(augmentable_inputs(self.spec, cfg))
        out["precision"] = c.precision
        out["jit"] = "auto" if c.jit is None else c.jit
        return out

    def recipe_line(self) -> str:
        r = self.recipe()
        weights = r["class_weights"]
        loss = r["loss"] + (f" (class weights {weights})" if weights else "")
        if "logit_adjust_tau" in r:
            loss += f" (tau {r['logit_adjust_tau']:g})"
        if "focal_gamma" in r:
            loss += f" (gamma {r['focal_gamma']:g})"
        aug = "none" if r["augment"] is None else "on (" + ", ".join(
            f"{k} {v}" for k, v in r["augment"].items()
            if k in ("flip_prob", "max_translate", "max_rotate", "noise_std", "brightness")) + ")"
        return (f"recipe: adam lr {r['lr']:g}, schedule {r['lr_schedule']}, {r['epochs']} epochs "
                f"x batch {r['batch_size']}, loss {loss}, augment {aug}, precision "
                f"{r['precision']}, jit {r['jit']}")

    def job(self, index: int) -> FoldJob:
        """Fold ``index`` as row indices; inner-validation subjects drawn from its training
        subjects only."""
        fold = self.splits.folds[index]
        seed = fold_seed(self.config.seed, fold.name)
        train_ids = list(fold.train)
        val_subjects: list[str] = []
        val_ids: list[str] = []
        if self.config.select == "inner-val":
            subjects = [self.samples[c].subject_id for c in train_ids]
            val_subjects = inner_validation_subjects(subjects, self.config.val_fraction, seed)
            chosen = set(val_subjects)
            val_ids = [c for c in train_ids if self.samples[c].subject_id in chosen]
            train_ids = [c for c in train_ids if self.samples[c].subject_id not in chosen]
        return FoldJob(index, fold.name, seed, self.data.rows(train_ids),
                       self.data.rows(fold.test), self.data.rows(val_ids), tuple(val_subjects))

    def config_record(self, command: str | None = None) -> dict[str, Any]:
        """``config.json``: the run configuration, the resolved model configuration, the stores
        (paths, schema versions, fingerprints) and versions; ``identity`` is what resumed runs
        and merged shards must share."""
        identity = {"run": self.config.identity(), "model_config": self.model_config.to_dict(),
                    "stores": sorted(s["fingerprint"] for s in self.stores)}
        return {"run": self.config.to_dict(), "model_config": self.model_config.to_dict(),
                "recipe": self.recipe(),
                "stores": self.stores, "command": command, "versions": _versions(),
                "identity": json.loads(json.dumps(identity, default=str)),
                "identity_sha256": _sha256_json(identity)}


def _sha256_json(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _versions() -> dict[str, str | None]:
    import platform
    from importlib import metadata

    from mertrain import __version__

    out: dict[str, str | None] = {"mertrain": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow", "keras", "numpy", "scikit-learn", "h5py"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def splits_for(config: RunConfig, records: Sequence[Mapping[str, Any]]
               ) -> tuple[list[Sample], Splits]:
    """The run's (samples, splits): built from the records, or a saved split checked against
    them (its protocol and task must be the run's)."""
    task = get_task(config.task)
    if config.splits_file is None:
        return build_splits(records, config.protocol, task, test_subjects=config.test_subjects,
                            k=config.k)
    splits = Splits.load(config.splits_file)
    if (splits.protocol, splits.task) != (config.protocol, config.task):
        raise ProtocolError(f"splits file is protocol {splits.protocol!r} task {splits.task!r}, "
                            f"the run asks for {config.protocol!r} {config.task!r}",
                            file=config.splits_file)
    if splits.protocol == "megc2019":
        samples, _ = official_samples(records, task)
    else:
        samples = labelled_samples(records, task)
    try:
        check_against(splits, samples, task)
    except ProtocolError as exc:
        raise ProtocolError(exc.message, file=config.splits_file) from None
    return samples, splits


def prepare(config: RunConfig, progress: bool | None = None) -> Prepared:
    """Every check a run needs, then read the clips. Raises a :class:`MerprepError` (stores,
    protocol, model/store mismatch) before any training starts."""
    from mertrain.models import get_model

    try:
        spec = get_model(config.model)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if spec.kind == "sklearn" and config.select != "last":
        raise RunError(f"model {spec.name!r} is not trained by epochs; --select {config.select} "
                       "does not apply (use --select last)")
    over = config.model_overrides()
    balance = config.balance
    if over.get("loss") == "weighted_ce" and over.get("class_weights") is None:
        # weighted CE without weights (none given, none in the preset): weights n/(K n_c)
        # counted on each fold's training clips, i.e. CE with --balance
        try:
            probe = spec.make_config(config.preset, **{k: v for k, v in over.items()
                                                       if k != "loss"})
        except ValueError:
            probe = None
        if probe is not None and probe.class_weights is None:
            over["loss"], balance = "ce", True
    try:
        cfg = spec.make_config(config.preset, **over)
    except ValueError as exc:
        raise RunError(f"model {spec.name!r}: {exc}") from None
    if balance and cfg.loss == "weighted_ce":
        raise RunError(f"model {spec.name!r} uses loss weighted_ce with fixed class weights; "
                       "--balance would replace them (set one or the other)")
    if config.class_weights is not None and cfg.loss not in ("weighted_ce", "focal"):
        raise RunError(f"--class-weights applies to --loss weighted-ce or focal (alpha), not "
                       f"{cfg.loss}")
    if config.logit_adjust_tau is not None and cfg.loss != "logit_adjusted":
        raise RunError(f"--tau applies to --loss logit-adjusted, not {cfg.loss}")
    if config.focal_gamma is not None and cfg.loss != "focal":
        raise RunError(f"--focal-gamma applies to --loss focal, not {cfg.loss}")
    if spec.kind == "sklearn":
        for flag, used in (("--augment", config.augment is not None),
                           ("--precision", config.precision != "float32"),
                           ("--jit", config.jit is not None),
                           ("--lr-schedule", config.lr_schedule is not None),
                           ("--loss", config.loss is not None)):
            if used:
                raise RunError(f"model {spec.name!r} is not trained by gradient descent; {flag} "
                               "does not apply")
    if config.augment is not None and not augmentable_inputs(spec, cfg):
        raise RunError(f"model {spec.name!r} reads only optical-flow inputs, which are never "
                       "augmented (a flip negates u, a rotation turns the vectors); drop --augment")
    with StoreCollection(config.stores) as collection:
        samples, splits = splits_for(config, collection.records())
        if cfg.class_weights is not None and len(cfg.class_weights) != len(splits.classes):
            raise RunError(f"model {spec.name!r}: class_weights has {len(cfg.class_weights)} "
                           f"entries for {len(splits.classes)} classes of task {config.task!r}")
        by_id = {s.clip_id: s for s in samples}
        if config.select == "inner-val":
            for fold in splits.folds:
                if len({by_id[c].subject_id for c in fold.train}) < 2:
                    raise RunError(f"fold {fold.name!r} trains on one subject; --select "
                                   "inner-val needs at least two")
        inputs = spec.required_inputs(cfg)
        collection.require({i.source for i in inputs}, spec.name)
        parse_fold_selection(config.folds, len(splits.folds))  # a bad --folds fails here
        used = sorted({c for f in splits.folds for c in (*f.test, *f.train)})
        arrays = load_arrays(collection, used, spec.input_shapes(cfg),
                             {i.name: i.source for i in inputs}, progress)
        stores = collection.describe()
    data = ClipArrays(used, arrays, np.array([by_id[c].label for c in used], dtype=np.int64),
                      [by_id[c].dataset for c in used], [by_id[c].subject_id for c in used])
    return Prepared(config, spec, cfg, splits, by_id, data, stores, balance)


# --------------------------------------------------------------------------- running

@dataclass
class RunResult:
    out: Path
    results: dict[str, Any]
    ran: list[int]  # fold indices trained by this call
    complete: bool
    #: fold name -> reason, for the folds of this call that failed (NaN loss, ...)
    failed: dict[str, str] = field(default_factory=dict)
    recipe: str = ""


def run(config: RunConfig, *, progress: bool | None = None, command: str | None = None,
        executor: Any = None) -> RunResult:
    """Train and evaluate ``config.model`` on the selected folds; write the run directory.

    Finished folds are persisted one by one, so ``resume=True`` after a crash (or a SLURM array
    of ``folds`` subsets into one directory) trains only what is missing; the pooled outputs are
    rewritten from every fold record present. A fold that fails (NaN/inf loss) is recorded in
    ``folds/NNN.failed.json`` and in ``results.json`` ``failed_folds``; the other folds go on,
    the pooled scores cover the finished folds only and the run is incomplete (``--resume``
    retries failed folds). Writing weights that fails (disk full) stops the run with
    :class:`WeightsError`; finished fold records stay intact.
    """
    from tqdm import tqdm

    from mertrain import report
    from mertrain.executors import get_executor
    from mertrain.metrics import scores

    prepared = prepare(config, progress)
    out = Path(config.out)
    record = prepared.config_record(command)
    report.init_run_dir(out, record, prepared.splits)
    done = report.finished_folds(out)
    selected = parse_fold_selection(config.folds, len(prepared.splits.folds))
    clash = [i for i in selected if i in done]
    if clash and not config.resume:
        raise RunError(f"{out} already holds finished fold(s) {_ranges(clash)}; pass --resume to "
                       "keep them, or choose another --out", file=out)
    todo = [i for i in selected if i not in done]
    if clash:
        log.info("resuming: %d of %d selected folds already finished", len(clash), len(selected))
    jobs = [prepared.job(i) for i in todo]
    finished = {i: done[i] for i in done}
    failed: dict[str, str] = {}
    n_classes = len(prepared.splits.classes)
    bar = tqdm(total=len(selected), initial=len(clash), unit="fold", dynamic_ncols=True,
               desc=f"{prepared.spec.name} {prepared.splits.protocol}",
               disable=None if progress is None else not progress)

    def on_done(outcome: FoldOutcome) -> None:
        if outcome.failure is not None:
            report.save_failure(out, outcome.to_record())
            failed[outcome.name] = outcome.failure
            bar.update(1)
            return
        report.save_fold(out, outcome.to_record())
        report.clear_failure(out, outcome.index)
        finished[outcome.index] = outcome.to_record()
        log.info("fold %d %s: %d test clips, %.1f s", outcome.index, outcome.name,
                 len(outcome.clip_ids), outcome.seconds)
        pooled = scores([t for f in finished.values() for t in f["y_true"]],
                        [int(np.argmax(p)) for f in finished.values() for p in f["proba"]],
                        n_classes)
        bar.update(1)
        bar.set_postfix(uf1=f"{pooled['uf1']:.3f}")

    runner = executor or get_executor(config.executor, address=config.ray_address)
    try:
        if jobs:
            runner.run(prepared.context(), prepared.data, jobs, on_done)
    finally:
        bar.close()
    with report.pooled_outputs_lock(out):  # shards of one directory: the last sees all folds
        results = report.write_outputs(out, report.load_run(out))
    return RunResult(out, results, todo, bool(results["complete"]), failed,
                     prepared.recipe_line())


def _ranges(indices: Sequence[int]) -> str:
    parts, start, prev = [], None, None
    for i in sorted(indices):
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = i
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else str(start))
    return ",".join(parts)
