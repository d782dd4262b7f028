"""Losses and class weights for one fold, from the run's resolved recipe and the fold's
training labels only.

The loss is a typed choice of the recipe (:mod:`mertrain.recipe`). Every loss is computed per
sample on the model's logits (cast to float32 first, so mixed precision keeps the loss in
float32) and averaged over the batch (Keras' ``sum_over_batch_size``: ``mean_i(w[y_i] * l_i)``,
the convention of Keras' ``class_weight``):

- ``ce``: cross-entropy ``l_i = -log softmax(z_i)[y_i]``.
- ``weighted_ce`` (``CrossEntropy`` with class weights): cross-entropy times per-class weights
  ``w[y_i]`` (fixed, e.g. the ICIP 2024 recipe's [0.3, 0.35, 0.35], or ``balanced``: counted on
  the fold's training clips).
- ``logit_adjusted``: cross-entropy on ``z_i + tau * log(prior)``, the prior counted on the
  fold's training clips (AM3F-FlowNet's "logarithmically adjusted prior"; Menon et al. 2021).
- ``focal``: ``(1 - p_i)^gamma * l_i`` with ``p_i = softmax(z_i)[y_i]`` (Lin et al. 2017),
  ``gamma`` (default 2); the optional alpha is the class weights (fixed or balanced).
- ``balanced`` class weights (``mertrain run --balance``): n / (K * n_c) counted on the fold's
  training clips (inverse frequency, normalised so that the mean weight over the training
  clips is 1; a class absent from training gets 0). Combine with ``ce``, ``logit_adjusted`` and
  ``focal``.

The loss object is built once per compiled model and told each fold's training labels
(:meth:`FoldLoss.prepare`): the prior and the weights live in variables the traced training
step reads, so a compiled model can be reused across folds. The same numbers are available
without TensorFlow from :func:`fold_loss_statistics` (recorded in every fold record).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mertrain.recipe import BALANCED, Focal, LogitAdjusted, Loss


def class_prior(y_train: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(np.asarray(y_train, int), minlength=n_classes).astype(np.float64)
    counts = np.maximum(counts, 1.0)  # a class absent from training still gets a finite log
    return counts / counts.sum()


def balanced_weights(y_train: np.ndarray, n_classes: int) -> dict[int, float]:
    """n / (K * n_c) per class, from training labels (absent classes get weight 0: no samples)."""
    counts = np.bincount(np.asarray(y_train, int), minlength=n_classes).astype(np.float64)
    n = counts.sum()
    return {i: float(n / (n_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


def fold_class_weights(loss: Loss, y_train: np.ndarray, n_classes: int) -> np.ndarray | None:
    """The per-class weights this fold's loss multiplies by (None: unweighted): n / (K n_c)
    from the training labels when the loss's weights are ``balanced``, the fixed weights when
    it has them (weighted CE; focal as alpha)."""
    weights = loss.class_weights
    if weights is None:
        return None
    if weights == BALANCED:
        w = balanced_weights(y_train, n_classes)
        return np.array([w[i] for i in range(n_classes)], np.float64)
    if len(weights) != n_classes:
        raise ValueError(f"class_weights has {len(weights)} entries for {n_classes} classes")
    return np.asarray(weights, np.float64)


def logit_shift(loss: Loss, y_train: np.ndarray, n_classes: int) -> np.ndarray | None:
    """``tau * log(prior)`` added to the logits in the loss (logit_adjusted only)."""
    if not isinstance(loss, LogitAdjusted):
        return None
    return loss.tau * np.log(class_prior(y_train, n_classes))


def fold_loss_statistics(loss: Loss, y_train: np.ndarray, n_classes: int) -> dict[str, Any]:
    """What the fold's loss takes from its training labels, as JSON (for the fold record)."""
    w = fold_class_weights(loss, y_train, n_classes)
    shift = logit_shift(loss, y_train, n_classes)
    out: dict[str, Any] = {
        "loss": loss.name,
        "class_weights": None if w is None else [float(v) for v in w],
        "class_weights_from": (
            "training fold"
            if loss.class_weights == BALANCED
            else "config"
            if w is not None
            else None
        ),
    }
    if shift is not None and isinstance(loss, LogitAdjusted):
        out["logit_prior"] = [float(v) for v in class_prior(y_train, n_classes)]
        out["logit_adjust_tau"] = float(loss.tau)
    if isinstance(loss, Focal):
        out["focal_gamma"] = float(loss.gamma)
    return out


class FoldLoss:
    """A Keras loss whose fold-dependent parts (class weights, logit prior) are variables."""

    def __init__(self, loss: Loss, n_classes: int):
        from mertrain.backend import keras

        self.loss = loss
        self.n_classes = n_classes
        ops = keras.ops
        self._weights = (
            keras.Variable(np.ones(n_classes, np.float32), trainable=False, name="class_weights")
            if loss.class_weights is not None
            else None
        )
        self._shift = (
            keras.Variable(
                np.zeros(n_classes, np.float32), trainable=False, name="logit_prior_shift"
            )
            if isinstance(loss, LogitAdjusted)
            else None
        )
        weights, shift = self._weights, self._shift
        gamma = float(loss.gamma) if isinstance(loss, Focal) else None

        def loss_fn(y_true, logits):
            logits = ops.cast(logits, "float32")
            y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            if shift is not None:
                logits = logits + shift
            per_sample = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            if gamma is not None:
                p = ops.exp(-per_sample)
                per_sample = ops.power(ops.clip(1.0 - p, 1e-7, 1.0), gamma) * per_sample
            if weights is not None:
                per_sample = per_sample * ops.take(weights, y)
            return per_sample

        loss_fn.__name__ = loss.kind
        self.fn = loss_fn

    def prepare(self, y_train: np.ndarray) -> dict[str, Any]:
        """Set what depends on the fold's training labels (call before every fit); returns
        :func:`fold_loss_statistics`."""
        if self._weights is not None:
            w = fold_class_weights(self.loss, y_train, self.n_classes)
            self._weights.assign(np.asarray(w, np.float32))
        if self._shift is not None:
            with np.errstate(over="ignore"):  # an absurd tau: the loss guard reports the result
                shift = np.asarray(logit_shift(self.loss, y_train, self.n_classes), np.float32)
            self._shift.assign(shift)
        return fold_loss_statistics(self.loss, y_train, self.n_classes)


def make_loss(loss: Loss, y_train: np.ndarray, n_classes: int):
    """A ready Keras loss for one fold (convenience for one-off fits)."""
    fold = FoldLoss(loss, n_classes)
    fold.prepare(y_train)
    return fold.fn
