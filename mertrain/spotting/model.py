"""The learned spotter's network: a shallow, fully convolutional temporal network over the
per-frame region-flow features of :mod:`.dataset`, two sigmoid outputs per frame (ME, MaE).

SOFTNet (Liong et al., ICIP 2021) feeds a shallow CNN the onset-to-frame optical flow of a
window of about half an ME and regresses a pseudo-label per frame. Here the flow is pooled over
the action-unit regions first (head motion compensated, eyes apart: the classical spotter's
extraction), so the network is small enough to train under leave-one-subject-out on a few
videos: a 1x1 convolution mixing the channels, then residual dilated temporal convolutions
whose receptive field covers a macro-expression, then a 1x1 convolution to the two scores.
The inputs are resampled to ``rate`` steps a second (:func:`.dataset.on_grid`), so the
receptive field is the same in seconds for every frame rate (with the defaults 63 steps, 2.1
s). Trained on crops, applied to whole videos.
"""

from __future__ import annotations

from typing import Any

from mertrain.backend import keras
from mertrain.spotting.config import LearnedSpotConfig


def receptive_field(config: LearnedSpotConfig) -> int:
    """Time steps one output sees (at ``config.rate`` steps a second)."""
    return 1 + sum((config.kernel - 1) * d for d in config.dilations)


def build_spotter(n_features: int, config: LearnedSpotConfig) -> Any:
    """The Keras model: (batch, time, features) -> (batch, time, 2) scores in [0, 1]."""
    layers = keras.layers
    inputs = keras.Input((None, n_features), name="features")
    h = layers.Conv1D(config.filters, 1, activation="relu", name="mix")(inputs)
    if config.dropout:
        h = layers.SpatialDropout1D(config.dropout, name="mix_dropout")(h)
    for i, d in enumerate(config.dilations):
        step = layers.Conv1D(
            config.filters,
            config.kernel,
            dilation_rate=d,
            padding="same",
            activation="relu",
            name=f"temporal{i}",
        )(h)
        h = layers.Add(name=f"residual{i}")([h, step])
    outputs = layers.Conv1D(2, 1, activation="sigmoid", name="scores")(h)
    return keras.Model(inputs, outputs, name="learned_spotter")
