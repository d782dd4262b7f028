"""Training folds: :class:`FoldTrainer` applies a run's resolved recipe to one fold at a time.

With ``reuse_model`` the Keras model is built and compiled once: for each fold a fresh model is
built from the fold seed (cheap; no tracing), its variables (weights and dropout seed states)
are copied into the compiled model and the optimizer is reset. This gives bit-identical
predictions to a fresh build (tested, and checked by benchmarks/bench_fold_overhead.py) while
the traced training step is reused.

A fold whose training loss becomes NaN/inf, or whose predictions are not finite, is returned as
a failed :class:`~mertrain.folds.FoldOutcome` (``failure`` set, no probabilities) instead of
raising, so the other folds go on; the run records it apart from the finished folds.
"""

from __future__ import annotations

import logging
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from mertrain.backend import keras
from mertrain.data import ClipArrays
from mertrain.fitting import (
    EpochProgress,
    NonFiniteLoss,
    dtype_policy,
    make_callbacks,
    make_optimizer,
    op_determinism,
    plateau_monitor,
    reset_optimizer,
    resolve_precision,
)
from mertrain.fold_inputs import FoldInputs, fold_inputs
from mertrain.folds import FoldContext, FoldJob, FoldOutcome
from mertrain.inference.record import fold_record
from mertrain.losses import FoldLoss
from mertrain.models.registry import get_model, predict_proba
from mertrain.protocols.splits import FINAL
from mertrain.published import select_per_subject
from mertrain.recipe import Plateau
from mertrain.weights import model_folder, save_keras_model, write_model_folder

log = logging.getLogger(__name__)

#: (probabilities, history, best epoch, recipe record, failure)
_Trained = tuple[np.ndarray, dict[str, list[float]], int | None, dict[str, Any], str | None]


class FoldTrainer:
    """Trains folds one after another in this process (see the module docstring)."""

    def __init__(self, ctx: FoldContext, run_folds: int = 1):
        self.ctx = ctx
        #: folds this trainer will train (for the run's duration estimate after one epoch)
        self.run_folds = run_folds
        self._estimated = False
        #: reuse the compiled model across folds only under TensorFlow, whose traced step reads
        #: the fold loss's variables by reference; JAX and PyTorch compile a step that captured
        #: their values, so a reused model would train later folds with the first fold's
        #: class weights and prior (measured: fold 2 off by 0.2 in probability under JAX)
        self._reuse = ctx.execution.reuse_model and keras.backend.backend() == "tensorflow"
        self.spec = get_model(ctx.model)
        self._model: keras.Model | None = None
        self._loss: FoldLoss | None = None
        self._policy: str | None = None
        #: the last fold's per-epoch test probabilities (optimistic selections only)
        self._epoch_proba: list[np.ndarray] | None = None

    def train(self, data: ClipArrays, job: FoldJob) -> FoldOutcome:
        t0 = time.perf_counter()
        self._epoch_proba = None
        inputs = fold_inputs(self.ctx, data, job)
        keras_model = self.spec.kind == "keras"
        with op_determinism(self.ctx.runtime.deterministic and keras_model):
            if keras_model:
                proba, history, best, recipe, failure = self._train_keras(inputs, job)
            else:
                proba, history, best, recipe, failure = (
                    self._train_sklearn(inputs, job),
                    {},
                    None,
                    {},
                    None,
                )
        if failure is None and not np.all(np.isfinite(proba)):
            failure = "predictions are not finite (NaN/inf probabilities)"
        if failure is not None:
            log.error("fold %d %s failed: %s", job.index, job.name, failure)
            proba = np.zeros((0, self.ctx.n_classes))
        # the protocol's training side: the rows fitted plus the inner-validation rows
        train_subjects = sorted({data.subjects[i] for i in (*job.train, *job.val)})
        subjects = [data.subjects[i] for i in job.test]
        epochs = None if failure is not None or not self._epoch_proba else self._epoch_proba
        if epochs is not None and self.ctx.training.select == "oracle-per-subject":
            proba, chosen = select_per_subject(np.stack(epochs), inputs.y_test, subjects)
            best = chosen[subjects[0]] if len(set(chosen.values())) == 1 else None
        return FoldOutcome(
            index=job.index,
            name=job.name,
            seed=job.seed,
            clip_ids=[data.clip_ids[i] for i in job.test],
            datasets=[data.datasets[i] for i in job.test],
            subjects=subjects,
            y_true=[int(v) for v in inputs.y_test],
            proba=np.asarray(proba, np.float64),
            history=history,
            seconds=time.perf_counter() - t0,
            best_epoch=best,
            val_subjects=list(job.val_subjects),
            train_subjects=train_subjects,
            recipe=recipe,
            failure=failure,
            epoch_proba=None if epochs is None else np.stack(epochs),
        )

    # -- scikit-learn ----------------------------------------------------------------------------
    def _train_sklearn(self, inputs: FoldInputs, job: FoldJob) -> np.ndarray:
        model, _ = self.spec.build(
            self.ctx.n_classes, config=self.ctx.model_config, seed=self.ctx.training.seed
        )
        model.fit(inputs.x_train, inputs.y_train)
        if self.ctx.execution.save_weights:
            self._save(job, inputs, lambda tmp: Path(tmp).write_bytes(pickle.dumps(model)), None)
        if len(inputs.y_test) == 0:  # a final model (protocol all) tests nothing
            return np.zeros((0, self.ctx.n_classes))
        return np.asarray(predict_proba(model, inputs.x_test, self.spec))

    def _save(self, job: FoldJob, inputs: FoldInputs, save: Any, epoch: int | None) -> None:
        """The fold's model folder: the model and its preprocessing record."""
        record = fold_record(
            self.ctx.model_record,
            fold=job.name,
            index=job.index,
            seed=job.seed,
            norms=inputs.norms,
            weights_epoch=epoch,
            train_subjects=inputs.train_subjects,
            val_subjects=job.val_subjects,
        )
        final = self.ctx.data.protocol == FINAL  # mertrain fit: the folder is the output
        folder = model_folder(self.ctx.execution.out, job.index, final=final)
        write_model_folder(folder, self.spec.kind, save, record)

    # -- Keras -----------------------------------------------------------------------------------
    def _build(self, seed: int) -> keras.Model:
        """A model built from ``seed`` under the run's precision policy (mixed: the logits are
        cast to float32 by a final linear layer, so softmax and loss run in float32)."""
        keras.utils.set_random_seed(seed)
        if self._policy is None:
            self._policy = resolve_precision(self.ctx.runtime.precision)
        cfg, n = self.ctx.model_config, self.ctx.n_classes
        if self._policy == "float32":
            return self.spec.build(n, config=cfg)[0]
        with dtype_policy(self._policy):
            model, _ = self.spec.build(n, config=cfg)
            logits = keras.layers.Activation("linear", dtype="float32", name="logits_float32")(
                model.outputs[0]
            )
            return keras.Model(model.inputs, logits, name=model.name)

    def _model_for(self, seed: int) -> keras.Model:
        """The compiled model, initialised exactly as a fresh build from ``seed`` would be."""
        recipe = self.ctx.recipe
        if self._model is None or not self._reuse:
            keras.backend.clear_session()
            model = self._build(seed)
            self._loss = FoldLoss(recipe.loss, self.ctx.n_classes)
            jit = "auto" if self.ctx.runtime.jit is None else bool(self.ctx.runtime.jit)
            model.compile(
                optimizer=make_optimizer(recipe),
                loss=self._loss.fn,
                metrics=["accuracy"],
                jit_compile=jit,
            )
            self._model = model
            return model
        fresh = self._build(seed)
        target = self._model.variables
        source = fresh.variables
        if len(target) != len(source) or any(a.shape != b.shape for a, b in zip(target, source)):
            raise RuntimeError(
                f"{self.spec.name}: a rebuilt model's variables do not line up "
                "with the compiled one; run with reuse_model=False"
            )
        for dst, src in zip(target, source):
            dst.assign(src)
        reset_optimizer(self._model.optimizer, recipe)
        del fresh
        return self._model

    def _train_keras(self, inputs: FoldInputs, job: FoldJob) -> _Trained:
        recipe, select = self.ctx.recipe, self.ctx.training.select
        model = self._model_for(job.seed)
        assert self._loss is not None
        record = self._loss.prepare(inputs.y_train)
        record.update(
            precision=self._policy,
            augmented=inputs.augmented is not None,
            jit_compile=bool(getattr(model, "jit_compile", False)),
        )
        if isinstance(recipe.schedule, Plateau):
            record["plateau_monitor"] = plateau_monitor(select)
        callbacks, selector = make_callbacks(self.ctx, job, inputs, self.spec)
        guard = NonFiniteLoss()
        callbacks.append(guard)
        run_epochs = None if self._estimated else recipe.epochs * self.run_folds
        self._estimated = True
        progress = EpochProgress(
            f"fold {job.index} {job.name}",
            recipe.epochs,
            bar=self.ctx.execution.progress,
            run_epochs=run_epochs,
        )
        callbacks.append(progress)
        if inputs.augmented is not None:
            aug = inputs.augmented
            hist = model.fit(
                aug.dataset(recipe.epochs, recipe.batch_size),
                epochs=recipe.epochs,
                steps_per_epoch=aug.steps(recipe.batch_size),
                shuffle=False,
                verbose=0,
                callbacks=callbacks,
            )
        else:
            hist = model.fit(
                inputs.x_train,
                inputs.y_train,
                batch_size=recipe.batch_size,
                epochs=recipe.epochs,
                shuffle=True,
                verbose=0,
                callbacks=callbacks,
            )
        history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        record["epoch_seconds"] = [round(t, 3) for t in progress.seconds]
        self._epoch_proba = None if selector is None else selector.epoch_proba
        if guard.failure is not None:
            self._release()
            return np.zeros((0, self.ctx.n_classes)), history, None, record, guard.failure
        best = None
        if selector is not None and selector.best_epoch is not None:
            best = selector.best_epoch
            if select == "inner-val":
                model.set_weights(selector.best_weights)
        if select == "oracle" and selector is not None and selector.best_proba is not None:
            proba = selector.best_proba
        elif len(inputs.y_test) == 0:  # a final model (protocol all) tests nothing
            proba = np.zeros((0, self.ctx.n_classes))
        else:
            proba = predict_proba(model, inputs.x_test, self.spec, batch_size=recipe.batch_size)
        if self.ctx.execution.save_weights and np.all(np.isfinite(proba)):
            # inner-val restored the best epoch's weights; last and oracle keep the last epoch's
            epoch = best if select == "inner-val" else len(history.get("loss", [])) or None
            self._save(job, inputs, save_keras_model(model), epoch)
        self._release()
        return np.asarray(proba), history, best, record, None

    def _release(self) -> None:
        if not self._reuse:
            self._model = None
            keras.backend.clear_session()


def train_fold(ctx: FoldContext, data: ClipArrays, job: FoldJob) -> FoldOutcome:
    """One fold in a fresh trainer (what a Ray worker runs)."""
    return FoldTrainer(ctx).train(data, job)
