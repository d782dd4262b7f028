"""``mertrain run``: train and evaluate one model under one protocol, fold by fold.

Honest by construction:

- each fold's weights start from a seed derived from (run seed, fold name) only, so a fold gives
  the same result whether it runs first, after others, alone (``--folds``), resumed, or on a Ray
  worker; no state crosses folds (a reused compiled model is re-initialised from a fresh build
  with the fold seed and its optimizer reset, which is bit-identical to building it anew);
- normalisation statistics, class weights and logit priors come from the fold's training
  clips only (minus the inner-validation subjects with ``--select inner-val``);
- epoch selection is a fixed schedule by default (``last``); ``inner-val`` keeps the best epoch
  on whole training subjects held out; ``oracle`` (the published practice of keeping each held-out
  subject's best TEST epoch) exists only for comparison and is labelled "oracle (optimistic)";
- UF1/UAR are computed once on the predictions pooled over all folds.

Structure: :func:`prepare` checks everything and reads the clips (no training before every
check has passed); an executor (:mod:`mertrain.executors`) runs :class:`FoldJob` s through a
:class:`FoldTrainer`; each fold's outcome is persisted atomically as it finishes
(:mod:`mertrain.report`), and the run directory's outputs are derived from those records.
A fold's recipe is one function each: :func:`fold_inputs` (data pipeline), :func:`make_optimizer`,
:class:`mertrain.losses.FoldLoss`, :func:`schedule_callbacks`, :func:`make_callbacks`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
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

    @property
    def select_label(self) -> str:
        return SELECT_LABELS[self.select]

    def model_overrides(self) -> dict[str, Any]:
        over = dict(self.model_options)
        for name in ("epochs", "batch_size", "lr", "frames", "size"):
            value = getattr(self, name)
            if value is not None:
                over[name] = value
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
        }

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> "FoldOutcome":
        return cls(index=int(d["index"]), name=d["name"], seed=int(d["seed"]),
                   clip_ids=list(d["clip_ids"]), datasets=list(d["datasets"]),
                   subjects=list(d["subjects"]), y_true=[int(v) for v in d["y_true"]],
                   proba=np.asarray(d["proba"], np.float64), history=dict(d["history"]),
                   seconds=float(d["seconds"]), best_epoch=d.get("best_epoch"),
                   val_subjects=list(d.get("val_subjects") or []),
                   train_subjects=list(d.get("train_subjects") or []))


# --------------------------------------------------------------------------- fold recipe

@dataclass
class FoldInputs:
    x_train: dict[str, np.ndarray]
    y_train: np.ndarray
    x_val: dict[str, np.ndarray]
    y_val: np.ndarray
    x_test: dict[str, np.ndarray]
    y_test: np.ndarray


def fold_inputs(ctx: FoldContext, data: ClipArrays, job: FoldJob) -> FoldInputs:
    """The fold's data pipeline: split rows, fit normalisation on the training rows only, apply
    it everywhere. (Training-only augmentation belongs here, after splitting.)"""
    x_train = data.take(job.train)
    norms = {k: Normaliser(ctx.input_mode, ctx.input_gain).fit(v) for k, v in x_train.items()}

    def norm(x: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: norms[k](v) for k, v in x.items()}

    return FoldInputs(norm(x_train), data.labels[job.train], norm(data.take(job.val)),
                      data.labels[job.val], norm(data.take(job.test)), data.labels[job.test])


def make_optimizer(cfg: Any):
    import keras

    return keras.optimizers.Adam(cfg.lr)


def reset_optimizer(optimizer: Any, cfg: Any) -> None:
    """Back to the state of a newly built optimizer (step 0, zero moments, initial rate)."""
    for v in optimizer.variables:
        v.assign(np.zeros(v.shape, dtype=v.dtype))
    optimizer.learning_rate = cfg.lr


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
    callbacks += schedule_callbacks(cfg, "val_loss" if ctx.select == "inner-val" else "loss")
    if ctx.tensorboard and ctx.out:
        callbacks.append(keras.callbacks.TensorBoard(
            log_dir=str(Path(ctx.out) / "tensorboard" / fold_file_stem(job)),
            write_graph=False, profile_batch=0))
    return callbacks, selector


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
    """

    def __init__(self, ctx: FoldContext):
        from mertrain.models import get_model

        self.ctx = ctx
        self.spec = get_model(ctx.model)
        self._model = None
        self._loss = None

    def train(self, data: ClipArrays, job: FoldJob) -> FoldOutcome:
        t0 = time.perf_counter()
        inputs = fold_inputs(self.ctx, data, job)
        with op_determinism(self.ctx.deterministic and self.spec.kind == "keras"):
            if self.spec.kind == "sklearn":
                proba, history, best = self._train_sklearn(inputs, job), {}, None
            else:
                proba, history, best = self._train_keras(inputs, job)
        # the protocol's training side: the rows fitted plus the inner-validation rows
        train_subjects = sorted({data.subjects[i] for i in (*job.train, *job.val)})
        return FoldOutcome(
            index=job.index, name=job.name, seed=job.seed,
            clip_ids=[data.clip_ids[i] for i in job.test],
            datasets=[data.datasets[i] for i in job.test],
            subjects=[data.subjects[i] for i in job.test],
            y_true=[int(v) for v in inputs.y_test], proba=np.asarray(proba, np.float64),
            history=history, seconds=time.perf_counter() - t0, best_epoch=best,
            val_subjects=list(job.val_subjects), train_subjects=train_subjects)

    # -- scikit-learn ----------------------------------------------------------------------------
    def _train_sklearn(self, inputs: FoldInputs, job: FoldJob) -> np.ndarray:
        import pickle

        from mertrain.models import predict_proba

        model, _ = self.spec.build(self.ctx.n_classes, config=self.ctx.model_config)
        model.fit(inputs.x_train, inputs.y_train)
        if self.ctx.save_weights and self.ctx.out:
            path = Path(self.ctx.out) / "weights" / f"{fold_file_stem(job)}.pkl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(model))
        return np.asarray(predict_proba(model, inputs.x_test, self.spec))

    # -- Keras -----------------------------------------------------------------------------------
    def _model_for(self, seed: int):
        """The compiled model, initialised exactly as a fresh build from ``seed`` would be."""
        import keras

        from mertrain.losses import FoldLoss

        cfg, n = self.ctx.model_config, self.ctx.n_classes
        if self._model is None or not self.ctx.reuse_model:
            keras.backend.clear_session()
            keras.utils.set_random_seed(seed)
            model, _ = self.spec.build(n, config=cfg)
            self._loss = FoldLoss(cfg, n)
            model.compile(optimizer=make_optimizer(cfg), loss=self._loss.fn, metrics=["accuracy"])
            self._model = model
            return model
        keras.utils.set_random_seed(seed)
        fresh, _ = self.spec.build(n, config=cfg)
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

    def _train_keras(self, inputs: FoldInputs, job: FoldJob
                     ) -> tuple[np.ndarray, dict[str, list[float]], int | None]:
        from mertrain.losses import class_weight
        from mertrain.models import predict_proba

        cfg, n = self.ctx.model_config, self.ctx.n_classes
        model = self._model_for(job.seed)
        self._loss.prepare(inputs.y_train)
        callbacks, selector = make_callbacks(self.ctx, cfg, job, inputs, self.spec)
        hist = model.fit(inputs.x_train, inputs.y_train, batch_size=cfg.batch_size,
                         epochs=cfg.epochs, shuffle=True, verbose=0, callbacks=callbacks,
                         class_weight=class_weight(cfg, inputs.y_train, n, self.ctx.balance))
        best = None
        if selector is not None and selector.best_epoch is not None:
            best = selector.best_epoch
            if self.ctx.select == "inner-val":
                model.set_weights(selector.best_weights)
        if self.ctx.select == "oracle" and selector is not None:
            proba = selector.best_proba
        else:
            proba = predict_proba(model, inputs.x_test, self.spec, batch_size=cfg.batch_size)
        if self.ctx.save_weights and self.ctx.out:
            path = Path(self.ctx.out) / "weights" / f"{fold_file_stem(job)}.weights.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save_weights(str(path))
        history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        if not self.ctx.reuse_model:
            import keras

            self._model = None
            keras.backend.clear_session()
        return np.asarray(proba), history, best


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

    def context(self) -> FoldContext:
        c = self.config
        return FoldContext(
            model=self.spec.name, model_config=self.model_config,
            n_classes=len(self.splits.classes), classes=tuple(self.splits.classes),
            input_mode=c.input, input_gain=c.input_gain, select=c.select, balance=c.balance,
            deterministic=c.deterministic, reuse_model=c.reuse_model, out=c.out,
            save_weights=c.save_weights, tensorboard=c.tensorboard)

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
    try:
        cfg = spec.make_config(config.preset, **config.model_overrides())
    except ValueError as exc:
        raise RunError(f"model {spec.name!r}: {exc}") from None
    if config.balance and cfg.loss == "weighted_ce":
        raise RunError(f"model {spec.name!r} uses loss weighted_ce with fixed class weights; "
                       "--balance would replace them (set one or the other)")
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
    return Prepared(config, spec, cfg, splits, by_id, data, stores)


# --------------------------------------------------------------------------- running

@dataclass
class RunResult:
    out: Path
    results: dict[str, Any]
    ran: list[int]  # fold indices trained by this call
    complete: bool


def run(config: RunConfig, *, progress: bool | None = None, command: str | None = None,
        executor: Any = None) -> RunResult:
    """Train and evaluate ``config.model`` on the selected folds; write the run directory.

    Finished folds are persisted one by one, so ``resume=True`` after a crash (or a SLURM array
    of ``folds`` subsets into one directory) trains only what is missing; the pooled outputs are
    rewritten from every fold record present.
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
    n_classes = len(prepared.splits.classes)
    bar = tqdm(total=len(selected), initial=len(clash), unit="fold", dynamic_ncols=True,
               desc=f"{prepared.spec.name} {prepared.splits.protocol}",
               disable=None if progress is None else not progress)

    def on_done(outcome: FoldOutcome) -> None:
        report.save_fold(out, outcome.to_record())
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
    loaded = report.load_run(out)
    results = report.write_outputs(out, loaded)
    return RunResult(out, results, todo, bool(results["complete"]))


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
