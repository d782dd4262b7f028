"""Spatio-temporal CNNs on 9 grayscale key frames (docs/references.md#model-c, SAMM study).

Input: the face clip of 9 grayscale frames at 128x128 (onset, 3 frames between onset and
apex, apex, 3 between apex and offset, offset; the selection belongs to the data side).
Convolutions use Keras' default 'valid' padding and pooling floors, as in the reference.

``stcnn-2dcnn-vote`` is trained on single frames and predicts a clip by majority vote. Its
Keras model takes the clip (B, 9, H, W, 1), applies the 2D CNN to every frame
(TimeDistributed, layer ``frame_logits`` gives (B, 9, n) per-frame logits) and outputs the mean
of the per-frame logits as the clip logits: training it with a clip-level loss on those logits
is training the frame CNN on every frame with the clip's label (the gradient of the mean reaches
every frame). At prediction time the paper's majority vote is :func:`vote_predict` (also the
spec's ``predict_fn``, which :func:`mertrain.models.predict_proba` uses): the model's own output
stays the mean logits in training and inference, so validation losses stay meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mertrain.recipe import Plateau, Recipe

from .compat import without_added_defaults
from .inputs import _choice
from .registry import InputSpec, ModelConfig, register_model

REFERENCE = (
    "Spatio-temporal CNNs for micro-expression recognition on SAMM (3D-CNN, CNN+LSTM, "
    "ConvLSTM2D, 2D-CNN with majority voting); docs/references.md#model-c"
)

_INPUT = (InputSpec("face", "face", "clip", frames=9, size=128, channels=1, sampling="key"),)
#: the reference scripts' training (SJ ``main.py:87-92``, ``utils/train_utils.py:78``): Adam 3e-3,
#: 25 epochs, batch 16, ReduceLROnPlateau(0.5, patience 3, min_lr 1e-4), Keras' BatchNorm momentum
_SJ = {
    "frames": 9,
    "epochs": 25,
    "batch_size": 16,
    "lr": 3e-3,
    "lr_schedule": "plateau:0.5:3:0.0001",
    "bn_momentum": 0.99,
}
#: the 2D-CNN script (``main_2dcnn_with_majority_voting.py:100,105``): lr 3.5e-3 and batches of
#: 128 single frames, i.e. 14 clips of 9 frames here (this model batches clips)
_SJ_2D = {**_SJ, "lr": 3.5e-3, "batch_size": 14}
#: per model: (7-class ``models/multiclass_models.py``, binary ``models/binary_models.py``)
_PRESETS_3D = {
    "samm": {**_SJ, "kernel_initializer": "he_uniform"},
    "samm-binary": {
        **_SJ,
        "kernel_initializer": "he_uniform",
        "filters": (64, 96),
        "batchnorm": False,
        "dense_units": 24,
        "dropout": 0.35,
    },
}
_PRESETS_LSTM = {
    "samm": {**_SJ, "lstm_activation": "relu"},
    "samm-binary": {**_SJ, "lstm_activation": "relu", "final_dropout": 0.35},
}
_PRESETS_CONVLSTM = {
    "samm": {**_SJ, "activation": "relu"},
    "samm-binary": {**_SJ, "activation": "relu", "dense_units": 48},
}
_PRESETS_2D = {
    "samm": {**_SJ_2D, "kernel_initializer": "he_uniform", "dense_batchnorm": True},
    "samm-binary": {
        **_SJ_2D,
        "kernel_initializer": "he_uniform",
        "dense_batchnorm": True,
        "filters": (32, 64),
        "dense_units": (64,),
        "dropouts": (0.3,),
    },
}
_TEST = {"size": 32}
_ACTIVATIONS = ("tanh", "relu")
#: CE, Adam 3e-3, 25 epochs, batch 16, ReduceLROnPlateau(0.5, patience 3)
RECIPE = Recipe(epochs=25, batch_size=16, lr=3e-3, schedule=Plateau(0.5, 3))


@dataclass
class STCNNConfig(ModelConfig):
    """Common fields: 9 grayscale frames, CE, Adam 3e-3, 25 epochs, batch 16,
    ReduceLROnPlateau(0.5, patience 3); BatchNorm momentum 0.9 (docs/models.md, "Defaults that
    learn")."""

    frames: int = 9
    size: int = 128
    channels: int = 1
    #: BatchNormalization momentum (Keras' default is 0.99). 0.9 = PyTorch's default: with a few
    #: hundred clips (3 steps per epoch on the 8-subject sample) 0.99 leaves the inference
    #: statistics near their initial values and every test clip gets the same class.
    bn_momentum: float = 0.9
    #: initializer of the convolutions and dense layers (the 3D-CNN and 2D-CNN reference models
    #: use he_uniform; Keras' default is glorot_uniform)
    kernel_initializer: str = "glorot_uniform"

    #: number of (valid 3x3 conv, 2x2 pool) blocks the architecture applies to the image
    _blocks = 2
    #: fields added for the reference scripts (issue 14), at the default of the earlier graph
    _ADDED = {
        "kernel_initializer": "glorot_uniform",
        "batchnorm": True,
        "final_dropout": None,
        "lstm_activation": "tanh",
        "activation": "tanh",
        "dense_batchnorm": False,
    }

    def to_dict(self) -> dict[str, Any]:
        return without_added_defaults(super().to_dict(), self._ADDED)

    def __post_init__(self):
        super().__post_init__()
        _choice("channels", self.channels, (1, 3))
        _choice("kernel_initializer", self.kernel_initializer, ("glorot_uniform", "he_uniform"))
        if not 0.0 <= self.bn_momentum < 1.0:
            raise ValueError("bn_momentum must be in [0, 1)")
        if self.frames < 1:
            raise ValueError("frames must be >= 1")
        s = self.size
        for _ in range(self._blocks):
            s = (s - 2) // 2
        if s < 1:
            raise ValueError(
                f"size={self.size} is too small for {self._blocks} blocks of "
                f"valid 3x3 conv + 2x2 pooling"
            )

    @property
    def feature_size(self) -> int:
        s = self.size
        for _ in range(self._blocks):
            s = (s - 2) // 2
        return s


@dataclass
class STCNN3DConfig(STCNNConfig):
    filters: tuple[int, ...] = (32, 64)
    dense_units: int = 32
    dropout: float = 0.27
    batchnorm: bool = True  # the binary reference model has none

    def __post_init__(self):
        self.filters = tuple(int(f) for f in self.filters)
        self._blocks = len(self.filters)
        super().__post_init__()


@dataclass
class CNNLSTMConfig(STCNNConfig):
    filters: tuple[int, ...] = (32, 64)
    lstm_units: int = 32
    lstm_dropout: float = 0.4
    dense_units: int = 24
    dropout: float = 0.3
    final_dropout: float | None = None  # the Dropout after Dense(24) (None: dropout)
    lstm_activation: str = "tanh"  # Keras' default; the reference models use relu

    def __post_init__(self):
        self.filters = tuple(int(f) for f in self.filters)
        self._blocks = len(self.filters)
        super().__post_init__()
        _choice("lstm_activation", self.lstm_activation, _ACTIVATIONS)


@dataclass
class ConvLSTMConfig(STCNNConfig):
    filters: int = 32
    dense_units: int = 64
    dropout: float = 0.3
    activation: str = "tanh"  # the ConvLSTM2D cell's; Keras' default, the reference uses relu
    _blocks = 1

    def __post_init__(self):
        super().__post_init__()
        _choice("activation", self.activation, _ACTIVATIONS)


@dataclass
class Vote2DConfig(STCNNConfig):
    filters: tuple[int, ...] = (64, 128, 256)
    dense_units: tuple[int, ...] = (384, 96)
    dropouts: tuple[float, ...] = (0.42, 0.25)
    #: BatchNormalization after each dense layer's dropout (the reference models have it)
    dense_batchnorm: bool = False

    def __post_init__(self):
        self.filters = tuple(int(f) for f in self.filters)
        self.dense_units = tuple(int(u) for u in self.dense_units)
        self.dropouts = tuple(float(d) for d in self.dropouts)
        if len(self.dropouts) != len(self.dense_units):
            raise ValueError("dropouts needs one rate per dense layer")
        self._blocks = len(self.filters)
        super().__post_init__()


@register_model(
    "stcnn-3dcnn",
    inputs=_INPUT,
    config_cls=STCNN3DConfig,
    description="3D-CNN with 1x3x3 kernels on 9 grayscale key frames",
    reference=REFERENCE,
    presets=_PRESETS_3D,
    test_overrides=_TEST,
    recipe=RECIPE,
)
def stcnn_3dcnn(cfg: STCNN3DConfig, n_classes: int, inputs):
    """Section C 3dcnn: [Conv3D(f, 1x3x3, relu) -> MaxPool3D(1,2,2) -> BN] for f in 32, 64 ->
    Flatten -> Dense(32, relu) -> Dropout(.27) -> BN -> Dense(n) (logits). ``batchnorm=False``
    drops every BN (the binary reference model: filters 64, 96, Dense(24), dropout .35)."""
    from keras import layers

    init = cfg.kernel_initializer
    x = inputs["face"]
    for i, f in enumerate(cfg.filters):
        x = layers.Conv3D(
            f, (1, 3, 3), activation="relu", kernel_initializer=init, name=f"conv{i}"
        )(x)
        x = layers.MaxPooling3D((1, 2, 2), name=f"pool{i}")(x)
        if cfg.batchnorm:
            x = layers.BatchNormalization(momentum=cfg.bn_momentum, name=f"bn{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(cfg.dense_units, activation="relu", kernel_initializer=init, name="dense")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    if cfg.batchnorm:
        x = layers.BatchNormalization(momentum=cfg.bn_momentum, name="bn_dense")(x)
    return layers.Dense(n_classes, kernel_initializer=init, name="logits")(x)


@register_model(
    "stcnn-cnnlstm",
    inputs=_INPUT,
    config_cls=CNNLSTMConfig,
    description="Per-frame 2D-CNN + LSTM(32) on 9 grayscale key frames",
    reference=REFERENCE,
    presets=_PRESETS_LSTM,
    test_overrides=_TEST,
    recipe=RECIPE,
)
def stcnn_cnnlstm(cfg: CNNLSTMConfig, n_classes: int, inputs):
    """Section C cnn+lstm: TD[Conv2D(32, relu) -> MaxPool2D -> Conv2D(64, relu) -> MaxPool2D
    -> Flatten] -> Dropout(.3) -> LSTM(32, dropout .4) -> Dense(24, relu) -> Dropout(.3) ->
    Dense(n) (logits)."""
    from keras import layers

    x = inputs["face"]
    for i, f in enumerate(cfg.filters):
        x = layers.TimeDistributed(layers.Conv2D(f, 3, activation="relu"), name=f"conv{i}")(x)
        x = layers.TimeDistributed(layers.MaxPooling2D(2), name=f"pool{i}")(x)
    x = layers.TimeDistributed(layers.Flatten(), name="flatten")(x)
    x = layers.Dropout(cfg.dropout, name="drop_features")(x)
    x = layers.LSTM(
        cfg.lstm_units, activation=cfg.lstm_activation, dropout=cfg.lstm_dropout, name="lstm"
    )(x)
    x = layers.Dense(cfg.dense_units, activation="relu", name="dense")(x)
    final = cfg.dropout if cfg.final_dropout is None else cfg.final_dropout
    x = layers.Dropout(final, name="dropout")(x)
    return layers.Dense(n_classes, name="logits")(x)


@register_model(
    "stcnn-convlstm2d",
    inputs=_INPUT,
    config_cls=ConvLSTMConfig,
    description="ConvLSTM2D(32) on 9 grayscale key frames",
    reference=REFERENCE,
    presets=_PRESETS_CONVLSTM,
    test_overrides=_TEST,
    recipe=RECIPE,
)
def stcnn_convlstm2d(cfg: ConvLSTMConfig, n_classes: int, inputs):
    """Section C convlstm2d: ConvLSTM2D(32, 3x3, return_sequences) -> MaxPool3D(1,2,2) ->
    Flatten -> Dense(64, relu) -> Dropout(.3) -> Dense(n) (logits)."""
    from keras import layers

    x = layers.ConvLSTM2D(
        cfg.filters, 3, return_sequences=True, activation=cfg.activation, name="convlstm"
    )(inputs["face"])
    x = layers.MaxPooling3D((1, 2, 2), name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(cfg.dense_units, activation="relu", name="dense")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return layers.Dense(n_classes, name="logits")(x)


def vote_predict(model, x, batch_size: int = 16) -> np.ndarray:
    """Majority vote of ``stcnn-2dcnn-vote`` over a clip's frames: (N, n_classes) probabilities.

    Each frame votes for its argmax class; the result is the fraction of frames voting for each
    class, so ``argmax`` is the majority class. Ties are broken by the mean per-frame softmax
    probability (added with weight 1e-3 before renormalising), so argmax is deterministic and
    sensible. ``x`` is the model's input dict (``{"face": (N, T, H, W, C)}``).
    """
    import keras

    frames = keras.Model(model.inputs, model.get_layer("frame_logits").output)
    logits = np.asarray(frames.predict(dict(x), batch_size=batch_size, verbose=0))  # (N, T, n)
    n = logits.shape[-1]
    votes = np.eye(n, dtype=np.float64)[logits.argmax(-1)].mean(axis=1)
    z = logits - logits.max(-1, keepdims=True)
    p = np.exp(z)
    p = (p / p.sum(-1, keepdims=True)).mean(axis=1)
    out = votes + 1e-3 * p
    return out / out.sum(axis=1, keepdims=True)


@register_model(
    "stcnn-2dcnn-vote",
    inputs=_INPUT,
    config_cls=Vote2DConfig,
    description="Per-frame 2D-CNN, clip class by majority vote over the 9 frames",
    reference=REFERENCE,
    presets=_PRESETS_2D,
    predict_fn=vote_predict,
    test_overrides={**_TEST, "filters": (16, 32, 64), "dense_units": (64, 32)},
    recipe=RECIPE,
)
def stcnn_2dcnn_vote(cfg: Vote2DConfig, n_classes: int, inputs):
    """Section C 2dcnn + majority voting: [Conv2D(f, 3x3, relu) -> MaxPool2D -> BN] for f in
    64, 128, 256 -> Flatten -> Dense(384, relu) -> Dropout(.42) -> Dense(96, relu) ->
    Dropout(.25) -> Dense(n), applied to every frame (TimeDistributed, ``frame_logits``).

    Output: mean of the per-frame logits (clip logits for training). Predict with
    :func:`vote_predict` for the paper's majority vote (module docstring explains the choice).
    """
    import keras
    from keras import layers

    init = cfg.kernel_initializer
    frame_in = keras.Input(shape=(cfg.size, cfg.size, cfg.channels), name="frame")
    y = frame_in
    for i, f in enumerate(cfg.filters):
        y = layers.Conv2D(f, 3, activation="relu", kernel_initializer=init, name=f"conv{i}")(y)
        y = layers.MaxPooling2D(2, name=f"pool{i}")(y)
        y = layers.BatchNormalization(momentum=cfg.bn_momentum, name=f"bn{i}")(y)
    y = layers.Flatten(name="flatten")(y)
    for i, (units, rate) in enumerate(zip(cfg.dense_units, cfg.dropouts)):
        y = layers.Dense(units, activation="relu", kernel_initializer=init, name=f"dense{i}")(y)
        y = layers.Dropout(rate, name=f"dropout{i}")(y)
        if cfg.dense_batchnorm:
            y = layers.BatchNormalization(momentum=cfg.bn_momentum, name=f"bn_dense{i}")(y)
    y = layers.Dense(n_classes, kernel_initializer=init, name="logits")(y)
    frame_cnn = keras.Model(frame_in, y, name="frame_cnn")

    from .layers import TemporalReadout

    per_frame = layers.TimeDistributed(frame_cnn, name="frame_logits")(inputs["face"])
    return TemporalReadout("mean", name="mean_logits")(per_frame)
