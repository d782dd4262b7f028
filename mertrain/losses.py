"""Losses and class weights for one fold, from the model configuration and the fold's
training labels only.

Every loss is computed per sample on the model's logits (cast to float32 first, so mixed
precision keeps the loss in float32) and averaged over the batch (Keras' ``sum_over_batch_size``:
``mean_i(w[y_i] * l_i)``, the convention of Keras' ``class_weight``):

- ``ce``: cross-entropy ``l_i = -log softmax(z_i)[y_i]``.
- ``weighted_ce``: cross-entropy times per-class weights ``w[y_i]`` (``class_weights`` from the
  config, e.g. the ICIP 2024 recipe's [0.3, 0.35, 0.35]). ``mertrain run --loss weighted-ce``
  without ``--class-weights`` (and no preset weights) means ``ce`` with ``balance``: the weights
  are counted on the fold's training clips.
- ``logit_adjusted``: cross-entropy on ``z_i + tau * log(prior)``, the prior counted on the
  fold's training clips (AM3F-FlowNet's "logarithmically adjusted prior"; Menon et al. 2021).
- ``focal``: ``(1 - p_i)^gamma * l_i`` with ``p_i = softmax(z_i)[y_i]`` (Lin et al. 2017),
  ``gamma = focal_gamma`` (default 2); the optional alpha is the class weights (config
  ``class_weights`` or ``balance``).
- ``balance`` (``mertrain run --balance``): per-class weights n / (K * n_c) counted on the
  fold's training clips (inverse frequency, normalised so that the mean weight over the
  training clips is 1; a class absent from training gets 0). Combines with ``ce``,
  ``logit_adjusted`` and ``focal``.

The loss object is built once per compiled model and told each fold's training labels
(:meth:`FoldLoss.prepare`): the prior and the weights live in variables the traced training
step reads, so a compiled model can be reused across folds. The same numbers are available
without TensorFlow from :func:`fold_loss_statistics` (recorded in every fold record).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def class_prior(y_train: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(np.asarray(y_train, int), minlength=n_classes).astype(np.float64)
    counts = np.maximum(counts, 1.0)  # a class absent from training still gets a finite log
    return counts / counts.sum()


def balanced_weights(y_train: np.ndarray, n_classes: int) -> dict[int, float]:
    """n / (K * n_c) per class, from training labels (absent classes get weight 0: no samples)."""
    counts = np.bincount(np.asarray(y_train, int), minlength=n_classes).astype(np.float64)
    n = counts.sum()
    return {i: float(n / (n_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


def fold_class_weights(config: Any, y_train: np.ndarray, n_classes: int,
                       balance: bool = False) -> np.ndarray | None:
    """The per-class weights this fold's loss multiplies by (None: unweighted).

    ``balance``: n / (K n_c) from the training labels; else the config's ``class_weights`` when
    the loss uses them (``weighted_ce``; ``focal`` as alpha); else None.
    """
    if balance:
        if config.loss == "weighted_ce":
            raise ValueError("--balance and loss 'weighted_ce' both set class weights; use one")
        w = balanced_weights(y_train, n_classes)
        return np.array([w[i] for i in range(n_classes)], np.float64)
    if config.loss in ("weighted_ce", "focal") and config.class_weights is not None:
        if len(config.class_weights) != n_classes:
            raise ValueError(f"class_weights has {len(config.class_weights)} entries for "
                             f"{n_classes} classes")
        return np.asarray(config.class_weights, np.float64)
    return None


def logit_shift(config: Any, y_train: np.ndarray, n_classes: int) -> np.ndarray | None:
    """``tau * log(prior)`` added to the logits in the loss (logit_adjusted only)."""
    if config.loss != "logit_adjusted":
        return None
    return config.logit_adjust_tau * np.log(class_prior(y_train, n_classes))


def fold_loss_statistics(config: Any, y_train: np.ndarray, n_classes: int,
                         balance: bool = False) -> dict[str, Any]:
    """What the fold's loss takes from its training labels, as JSON (for the fold record)."""
    w = fold_class_weights(config, y_train, n_classes, balance)
    shift = logit_shift(config, y_train, n_classes)
    loss = "weighted_ce" if balance and config.loss == "ce" else config.loss
    out: dict[str, Any] = {"loss": loss,
                           "class_weights": None if w is None else [float(v) for v in w],
                           "class_weights_from": ("training fold" if balance else
                                                  "config" if w is not None else None)}
    if shift is not None:
        out["logit_prior"] = [float(v) for v in class_prior(y_train, n_classes)]
        out["logit_adjust_tau"] = float(config.logit_adjust_tau)
    if config.loss == "focal":
        out["focal_gamma"] = float(config.focal_gamma)
    return out


class FoldLoss:
    """A Keras loss whose fold-dependent parts (class weights, logit prior) are variables."""

    def __init__(self, config: Any, n_classes: int, balance: bool = False):
        import keras
        import tensorflow as tf

        from mertrain.tfenv import import_tensorflow

        import_tensorflow()
        self.config = config
        self.n_classes = n_classes
        self.balance = balance
        uses_weights = balance or (config.loss in ("weighted_ce", "focal")
                                   and config.class_weights is not None)
        self._weights = tf.Variable(np.ones(n_classes, np.float32), trainable=False,
                                    name="class_weights") if uses_weights else None
        self._shift = tf.Variable(np.zeros(n_classes, np.float32), trainable=False,
                                  name="logit_prior_shift") \
            if config.loss == "logit_adjusted" else None
        weights, shift = self._weights, self._shift
        focal = config.loss == "focal"
        gamma = float(config.focal_gamma)
        ops = keras.ops

        def loss(y_true, logits):
            logits = ops.cast(logits, "float32")
            y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            if shift is not None:
                logits = logits + shift
            per_sample = keras.losses.sparse_categorical_crossentropy(y, logits,
                                                                      from_logits=True)
            if focal:
                p = ops.exp(-per_sample)
                per_sample = ops.power(ops.clip(1.0 - p, 1e-7, 1.0), gamma) * per_sample
            if weights is not None:
                per_sample = per_sample * ops.take(weights, y)
            return per_sample

        loss.__name__ = config.loss
        self.fn = loss

    def prepare(self, y_train: np.ndarray) -> dict[str, Any]:
        """Set what depends on the fold's training labels (call before every fit); returns
        :func:`fold_loss_statistics`."""
        if self._weights is not None:
            w = fold_class_weights(self.config, y_train, self.n_classes, self.balance)
            self._weights.assign(np.asarray(w, np.float32))
        if self._shift is not None:
            with np.errstate(over="ignore"):  # an absurd tau: the loss guard reports the result
                shift = np.asarray(logit_shift(self.config, y_train, self.n_classes), np.float32)
            self._shift.assign(shift)
        return fold_loss_statistics(self.config, y_train, self.n_classes, self.balance)


def make_loss(config: Any, y_train: np.ndarray, n_classes: int, balance: bool = False):
    """A ready Keras loss for one fold (convenience for one-off fits)."""
    loss = FoldLoss(config, n_classes, balance)
    loss.prepare(y_train)
    return loss.fn
