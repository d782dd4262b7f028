"""``mertrain run``: train and evaluate one model under one protocol, fold by fold.

Honest by construction: each fold builds its model from a seed derived from (run seed, fold),
normalisation and class statistics come from that fold's training clips only, the schedule is
fixed (the last epoch's weights are evaluated), and UF1/UAR are computed once on the predictions
pooled over all folds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from merprep.errors import MerprepError
from mertrain import __version__
from mertrain.data import Normaliser, StoreCollection, load_arrays
from mertrain.metrics import scores
from mertrain.protocols import Splits, get_task, labelled_samples, make_splits

log = logging.getLogger(__name__)


class RunError(MerprepError):
    """A run that cannot start (bad protocol/task/store combination)."""


@dataclass
class RunConfig:
    """Everything needed to rerun; written to ``RUN_DIR/config.json``."""

    stores: list[str]
    out: str
    model: str = "dual3dcnn-gru-ecbam"
    protocol: str = "loso"
    task: str = "3class"
    preset: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    frames: int | None = None
    size: int | None = None
    input: str = "onset-diff"
    input_gain: float = 10.0
    seed: int = 0
    model_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.stores = [str(s) for s in self.stores]
        self.out = str(self.out)
        Normaliser(self.input)  # checks the mode name
        get_task(self.task)

    def model_overrides(self, channels: int) -> dict[str, Any]:
        over = dict(self.model_options)
        for name in ("epochs", "batch_size", "lr", "frames", "size"):
            value = getattr(self, name)
            if value is not None:
                over[name] = value
        over.setdefault("seed", self.seed)
        return over

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fold_seed(run_seed: int, fold_name: str) -> int:
    """A per-fold seed that depends only on the run seed and the fold's name."""
    digest = hashlib.sha256(f"{run_seed}:{fold_name}".encode()).hexdigest()
    return int(digest[:8], 16)


@dataclass
class FoldResult:
    name: str
    clip_ids: list[str]
    y_true: list[int]
    proba: np.ndarray
    history: dict[str, list[float]]
    seconds: float

    @property
    def y_pred(self) -> list[int]:
        return [int(i) for i in self.proba.argmax(axis=1)]


def train_fold(spec, cfg, n_classes: int, x_train: dict[str, np.ndarray], y_train: np.ndarray,
               x_test: dict[str, np.ndarray], seed: int, input_mode: str, input_gain: float
               ) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Fresh model from ``seed``; fit on the training clips; class probabilities for the test
    clips (the last epoch's weights: a fixed schedule, no peeking at test data)."""
    from mertrain.models import predict_proba

    norms = {k: Normaliser(input_mode, input_gain).fit(v) for k, v in x_train.items()}
    xtr = {k: norms[k](v) for k, v in x_train.items()}
    xte = {k: norms[k](v) for k, v in x_test.items()}
    if spec.kind == "sklearn":
        model, _ = spec.build(n_classes, config=cfg)
        model.fit(xtr, y_train)
        return np.asarray(predict_proba(model, xte, spec)), {}

    import keras

    from mertrain.losses import make_loss

    keras.utils.set_random_seed(seed)
    model, _ = spec.build(n_classes, config=cfg)
    loss, class_weight = make_loss(cfg, y_train, n_classes)
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr), loss=loss, metrics=["accuracy"])
    callbacks = []
    sched = cfg.schedule
    if sched["kind"] == "step":
        f, every = sched["factor"], sched["every"]
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: cfg.lr * f ** (epoch // every)))
    elif sched["kind"] == "plateau":
        # Without an inner validation split the plateau is judged on the training loss.
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="loss", factor=sched["factor"], patience=sched["patience"]))
    hist = model.fit(xtr, y_train, batch_size=cfg.batch_size, epochs=cfg.epochs, shuffle=True,
                     class_weight=class_weight, callbacks=callbacks, verbose=0)
    proba = predict_proba(model, xte, spec, batch_size=cfg.batch_size)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    keras.backend.clear_session()
    return np.asarray(proba), history


@dataclass
class RunResult:
    out: Path
    results: dict[str, Any]


def run(config: RunConfig, *, progress: bool | None = None) -> RunResult:
    """Train and evaluate ``config.model`` on every fold; write the run directory."""
    from tqdm import tqdm

    from mertrain.models import get_model
    from mertrain.report import write_run_outputs

    started = time.perf_counter()
    task = get_task(config.task)
    spec = get_model(config.model)
    with StoreCollection(config.stores) as collection:
        samples = labelled_samples(collection.records(), task)
        if not samples:
            raise RunError(f"no clip in the store(s) maps to a class of task {task.name!r} "
                           f"({', '.join(task.classes)})")
        counts = np.bincount([s.label for s in samples], minlength=len(task.classes))
        empty = [c for c, n in zip(task.classes, counts) if n == 0]
        if empty:
            raise RunError(f"task {task.name!r} has no clips of class(es) {', '.join(empty)} in "
                           "these stores; choose another task or add data")
        splits = make_splits(samples, config.protocol, task)
        for fold in splits.folds:
            if not fold.test:
                raise RunError(f"fold {fold.name!r} has no test clips")
        try:
            cfg = spec.make_config(config.preset, **config.model_overrides(collection.channels))
        except ValueError as exc:
            raise RunError(f"model {spec.name!r}: {exc}") from None
        inputs = spec.required_inputs(cfg)
        collection.require({i.source for i in inputs}, spec.name)
        shapes = spec.input_shapes(cfg)
        by_id = {s.clip_id: s for s in samples}
        ids = [s.clip_id for s in samples]
        arrays = load_arrays(collection, ids, shapes, {i.name: i.source for i in inputs},
                             progress)
        store_info = collection.describe()

    index = {cid: i for i, cid in enumerate(ids)}
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(
        {"run": config.to_dict(), "model_config": cfg.to_dict(), "mertrain_version": __version__,
         "python": platform.python_version()}, indent=2, default=str) + "\n", encoding="utf-8")
    splits.save(out / "splits.json")

    folds: list[FoldResult] = []
    bar = tqdm(splits.folds, desc=f"{spec.name} {splits.protocol}", unit="fold",
               disable=None if progress is None else not progress, dynamic_ncols=True)
    for fold in bar:
        t0 = time.perf_counter()
        tr = np.array([index[c] for c in fold.train])
        te = np.array([index[c] for c in fold.test])
        y = np.array([by_id[c].label for c in ids])
        proba, history = train_fold(
            spec, cfg, len(task.classes), {k: v[tr] for k, v in arrays.items()}, y[tr],
            {k: v[te] for k, v in arrays.items()}, fold_seed(config.seed, fold.name),
            config.input, config.input_gain)
        folds.append(FoldResult(fold.name, list(fold.test), [int(v) for v in y[te]], proba,
                                history, time.perf_counter() - t0))
        pooled = scores([t for f in folds for t in f.y_true], [p for f in folds for p in f.y_pred],
                        len(task.classes))
        bar.set_postfix(uf1=f"{pooled['uf1']:.3f}")
    bar.close()

    results = write_run_outputs(out, config=config, spec=spec, splits=splits, samples=by_id,
                                folds=folds, stores=store_info,
                                seconds=time.perf_counter() - started)
    return RunResult(out, results)
