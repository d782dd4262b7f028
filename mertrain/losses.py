"""Losses and class weights for one fold, from the model configuration and the fold's
training labels only.

- ``ce``: cross-entropy on logits.
- ``weighted_ce``: cross-entropy with per-class weights (``class_weights`` from the config, e.g.
  the ICIP 2024 recipe's [0.3, 0.35, 0.35]); applied as Keras sample weights.
- ``logit_adjusted``: cross-entropy on logits + tau * log(class prior), the prior counted on
  the training fold (AM3F-FlowNet's "logarithmically adjusted prior" loss).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def class_prior(y_train: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(np.asarray(y_train, int), minlength=n_classes).astype(np.float64)
    counts = np.maximum(counts, 1.0)  # a class absent from training still gets a finite log
    return counts / counts.sum()


def make_loss(config: Any, y_train: np.ndarray, n_classes: int):
    """(keras loss, class_weight dict or None) for this fold."""
    import keras
    import tensorflow as tf

    if config.loss == "logit_adjusted":
        shift = tf.constant(config.logit_adjust_tau * np.log(class_prior(y_train, n_classes)),
                            dtype=tf.float32)
        base = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        def logit_adjusted(y_true, logits):
            return base(y_true, logits + shift)

        return logit_adjusted, None
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if config.loss == "weighted_ce":
        return loss, {i: float(w) for i, w in enumerate(config.class_weights)}
    return loss, None
