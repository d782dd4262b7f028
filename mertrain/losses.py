"""Losses and class weights for one fold, from the model configuration and the fold's
training labels only.

- ``ce``: cross-entropy on logits.
- ``weighted_ce``: cross-entropy with per-class weights (``class_weights`` from the config, e.g.
  the ICIP 2024 recipe's [0.3, 0.35, 0.35]); applied as Keras sample weights.
- ``logit_adjusted``: cross-entropy on logits + tau * log(class prior), the prior counted on
  the training fold (AM3F-FlowNet's "logarithmically adjusted prior" loss).
- ``balance`` (``mertrain run --balance``): with ``ce``, per-class weights n / (K * n_c) counted
  on the fold's training clips.

The loss object is built once per model and told each fold's training labels
(:meth:`FoldLoss.prepare`), so a compiled model can be reused across folds: the prior lives in a
variable the traced training step reads.
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


class FoldLoss:
    """A Keras loss whose fold-dependent part (the logit-adjustment prior) is a variable."""

    def __init__(self, config: Any, n_classes: int):
        import keras
        import tensorflow as tf

        self.config = config
        self.n_classes = n_classes
        base = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if config.loss == "logit_adjusted":
            self._shift = tf.Variable(np.zeros(n_classes, np.float32), trainable=False,
                                      name="logit_prior_shift")
            shift = self._shift

            def logit_adjusted(y_true, logits):
                return base(y_true, logits + shift)

            self.fn = logit_adjusted
        else:
            self._shift = None
            self.fn = base

    def prepare(self, y_train: np.ndarray) -> None:
        """Set what depends on the fold's training labels (call before every fit)."""
        if self._shift is not None:
            prior = class_prior(y_train, self.n_classes)
            self._shift.assign((self.config.logit_adjust_tau * np.log(prior)).astype(np.float32))


def class_weight(config: Any, y_train: np.ndarray, n_classes: int,
                 balance: bool = False) -> dict[int, float] | None:
    """Keras ``class_weight`` for this fold: the config's fixed weights (weighted_ce), balanced
    weights from the training labels (``balance``), or None."""
    if config.loss == "weighted_ce":
        if balance:
            raise ValueError("--balance and loss 'weighted_ce' both set class weights; use one")
        return {i: float(w) for i, w in enumerate(config.class_weights)}
    if balance:
        return balanced_weights(y_train, n_classes)
    return None


def make_loss(config: Any, y_train: np.ndarray, n_classes: int):
    """(keras loss, class_weight dict or None) for one fold (convenience for one-off fits)."""
    loss = FoldLoss(config, n_classes)
    loss.prepare(y_train)
    return loss.fn, class_weight(config, y_train, n_classes)
