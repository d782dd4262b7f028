"""Shared Keras layers: EC-CBAM, CBAM, MSMH (multi-scale multi-head attention) and helpers.

All layers are registered as Keras serializables (package "mertrain"), so a model saved as
``.keras`` reloads with ``keras.models.load_model`` once this module is imported (importing
``mertrain.models`` does it; :func:`mertrain.models.load_model` is the convenient way).

The attention layers work on 2D feature maps (B, H, W, C) and on 3D ones (B, T, H, W, C): the
pooling axes are all axes between batch and channels, and the spatial convolution is Conv2D or
Conv3D accordingly. MH (the standard multi-head attention of the paper's ablation) is Keras'
own ``keras.layers.MultiHeadAttention``; :func:`multi_head_attention` builds it.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

__all__ = [
    "CBAM",
    "ECCBAM",
    "MultiFlowReweighting",
    "MultiScaleMultiHeadAttention",
    "SpatialAttention",
    "SplitChannels",
    "TemporalReadout",
    "make_attention",
    "multi_head_attention",
]

_register = keras.saving.register_keras_serializable(package="mertrain")

#: EC-CBAM channel weights: "ec" = sigmoid(0.5 (max - avg)) (the paper), "sum" = sigmoid(max +
#: avg) (the extended version's SMIC reference script)
CHANNEL_COMBINE = ("ec", "sum")


def _conv_cls(ndim: int):
    """Conv layer for an input of rank ``ndim`` (batch and channel axes included)."""
    if ndim == 5:
        return layers.Conv3D
    if ndim == 4:
        return layers.Conv2D
    raise ValueError(f"attention expects a 4D (B,H,W,C) or 5D (B,T,H,W,C) input, got rank {ndim}")


def _expand_channels(w, ndim: int):
    """(B, C) -> (B, 1, ..., 1, C) broadcastable against a rank-``ndim`` feature map."""
    for _ in range(ndim - 2):
        w = ops.expand_dims(w, 1)
    return w


def _pool_stats(x):
    """Channel-wise mean and max maps, concatenated: (..., 2) in the order [mean, max]."""
    return ops.concatenate(
        [ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1
    )


@_register
class ECCBAM(layers.Layer):
    """Enhanced CBAM (EC-CBAM) of Fang, Liu & Liu (ICIP 2024), docs/references.md#model-a.

    Channel weights from two *separate* MLPs (Dense(C/r, L2) -> LeakyReLU(0.2) -> Dense(C)), one
    on the global max-pooled and one on the global average-pooled features::

        Mc = sigmoid(0.5 * (MLP_max(GMP(x)) - MLP_avg(GAP(x))))

    Spatial weights ``Ms = ConvND(C, k, sigmoid)(concat(mean_c(x), max_c(x)))``. Both are
    computed from the same ``x`` and applied together: ``y = x * Mc * Ms`` (CBAM applies them one
    after the other). The reference hard-coded 32 filters in the spatial convolution, which
    breaks at C=64; here it has C filters, as described.

    ``combine="sum"`` gives ``Mc = sigmoid(MLP_max(GMP(x)) + MLP_avg(GAP(x)))`` instead: what the
    extended version's SMIC reference script computes (EXT ``SMIC/attention.py:28-29``, the EC
    line commented out), with the same two MLPs and weights.
    """

    def __init__(
        self,
        reduction: int = 8,
        l2: float = 0.01,
        kernel_size: int = 3,
        negative_slope: float = 0.2,
        combine: str = "ec",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if combine not in CHANNEL_COMBINE:
            raise ValueError(f"combine {combine!r}: choose from {list(CHANNEL_COMBINE)}")
        self.reduction = int(reduction)
        self.l2 = float(l2)
        self.kernel_size = int(kernel_size)
        self.negative_slope = float(negative_slope)
        self.combine = combine

    def build(self, input_shape):
        ndim = len(input_shape)
        c = int(input_shape[-1])
        hidden = max(1, c // self.reduction)
        reg = keras.regularizers.L2(self.l2) if self.l2 else None
        self.avg_fc1 = layers.Dense(hidden, kernel_regularizer=reg, name="avg_fc1")
        self.avg_fc2 = layers.Dense(c, kernel_initializer="he_normal", name="avg_fc2")
        self.max_fc1 = layers.Dense(hidden, kernel_regularizer=reg, name="max_fc1")
        self.max_fc2 = layers.Dense(c, kernel_initializer="he_normal", name="max_fc2")
        self.spatial = _conv_cls(ndim)(
            c, self.kernel_size, padding="same", activation="sigmoid", name="spatial"
        )
        for fc1, fc2 in ((self.avg_fc1, self.avg_fc2), (self.max_fc1, self.max_fc2)):
            fc1.build((None, c))
            fc2.build((None, hidden))
        self.spatial.build(tuple(input_shape[:-1]) + (2,))
        self._ndim = ndim

    def call(self, x):
        axes = tuple(range(1, self._ndim - 1))
        leaky = lambda t: ops.leaky_relu(t, negative_slope=self.negative_slope)  # noqa: E731
        a = self.avg_fc2(leaky(self.avg_fc1(ops.mean(x, axis=axes))))
        m = self.max_fc2(leaky(self.max_fc1(ops.max(x, axis=axes))))
        z = 0.5 * (m - a) if self.combine == "ec" else m + a
        mc = _expand_channels(ops.sigmoid(z), self._ndim)
        ms = self.spatial(_pool_stats(x))
        return x * mc * ms

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "reduction": self.reduction,
            "l2": self.l2,
            "kernel_size": self.kernel_size,
            "negative_slope": self.negative_slope,
            "combine": self.combine,
        }


@_register
class CBAM(layers.Layer):
    """Standard CBAM (Woo et al., ECCV 2018), the ablation alternative to EC-CBAM.

    One *shared* MLP (Dense(C/r, ReLU) -> Dense(C)) on both pooled vectors, summed:
    ``Mc = sigmoid(MLP(GAP(x)) + MLP(GMP(x)))``; then, in sequence, on ``x' = x * Mc``:
    ``Ms = sigmoid(ConvND(1, k)(concat(mean_c(x'), max_c(x'))))`` and ``y = x' * Ms``.
    ``k`` is 7 as in the CBAM paper.
    """

    def __init__(self, reduction: int = 8, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        ndim = len(input_shape)
        c = int(input_shape[-1])
        hidden = max(1, c // self.reduction)
        self.fc1 = layers.Dense(hidden, activation="relu", name="fc1")
        self.fc2 = layers.Dense(c, name="fc2")
        self.spatial = _conv_cls(ndim)(
            1, self.kernel_size, padding="same", activation="sigmoid", name="spatial"
        )
        self.fc1.build((None, c))
        self.fc2.build((None, hidden))
        self.spatial.build(tuple(input_shape[:-1]) + (2,))
        self._ndim = ndim

    def call(self, x):
        axes = tuple(range(1, self._ndim - 1))
        mlp = lambda t: self.fc2(self.fc1(t))  # noqa: E731
        mc = ops.sigmoid(mlp(ops.mean(x, axis=axes)) + mlp(ops.max(x, axis=axes)))
        x = x * _expand_channels(mc, self._ndim)
        return x * self.spatial(_pool_stats(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "reduction": self.reduction,
            "kernel_size": self.kernel_size,
        }


@_register
class SpatialAttention(layers.Layer):
    """CBAM's spatial branch alone: ``y = x * sigmoid(ConvND(1, k)(concat(mean_c, max_c)))``."""

    def __init__(self, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        self.conv = _conv_cls(len(input_shape))(
            1, self.kernel_size, padding="same", activation="sigmoid", name="conv"
        )
        self.conv.build(tuple(input_shape[:-1]) + (2,))

    def call(self, x):
        return x * self.conv(_pool_stats(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


def make_attention(
    kind: str,
    reduction: int = 8,
    l2: float = 0.01,
    name: str | None = None,
    combine: str = "ec",
):
    """ "ecbam" | "cbam" | "none" -> a layer (or None for none); ``combine`` is EC-CBAM's
    channel rule (:data:`CHANNEL_COMBINE`)."""
    if kind == "ecbam":
        return ECCBAM(reduction=reduction, l2=l2, name=name, combine=combine)
    if kind == "cbam":
        return CBAM(reduction=reduction, name=name)
    if kind == "none":
        return None
    raise ValueError(f"attention {kind!r}: choose from ['ecbam', 'cbam', 'none']")


@_register
class MultiScaleMultiHeadAttention(layers.Layer):
    """MSMH self-attention over a sequence (B, T, F) (docs/references.md#model-b).

    One head per scale factor s with width d = d_model / s; per head ``q, k, v = Dense(d)(x)``,
    ``scores = q k^T / sqrt(d)`` (B, T, T), max-pooled over the *query* axis with
    MaxPooling1D(pool=query_pool, padding="same"), softmax over keys,
    ``out = Dense(d)(softmax(scores) v)``. The heads' outputs are concatenated:
    (B, ceil(T / query_pool), sum(d)). With d_model 512 and scales 2..256 the width is 510.

    The reference created the pooling layer inside ``call`` and passed the unused ``num_heads``;
    here the pooling is built once and ``query_pool=None`` (or 1) disables it.
    """

    def __init__(
        self,
        d_model: int = 512,
        scales=(2, 4, 8, 16, 32, 64, 128, 256),
        query_pool: int | None = 10,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.d_model = int(d_model)
        self.scales = tuple(int(s) for s in scales)
        self.query_pool = int(query_pool) if query_pool and int(query_pool) > 1 else None
        for s in self.scales:
            if s < 1 or self.d_model % s:
                raise ValueError(f"MSMH: scale {s} does not divide d_model {self.d_model}")
        self.widths = tuple(self.d_model // s for s in self.scales)

    def build(self, input_shape):
        f = int(input_shape[-1])
        dense = []  # flat [q0, k0, v0, o0, q1, ...] so Keras tracks every weight
        for i, d in enumerate(self.widths):
            for part in ("q", "k", "v", "o"):
                layer = layers.Dense(d, name=f"head{i}_{part}")
                layer.build((None, None, d if part == "o" else f))
                dense.append(layer)
        self.dense_layers = dense
        self.pool = (
            layers.MaxPooling1D(self.query_pool, padding="same", name="query_pool")
            if self.query_pool
            else None
        )

    def call(self, x):
        outs = []
        for i, d in enumerate(self.widths):
            wq, wk, wv, wo = self.dense_layers[4 * i : 4 * i + 4]
            q, k, v = wq(x), wk(x), wv(x)
            scores = ops.matmul(q, ops.transpose(k, (0, 2, 1))) / math.sqrt(d)
            if self.pool is not None:
                scores = self.pool(scores)
            outs.append(wo(ops.matmul(ops.softmax(scores, axis=-1), v)))
        return ops.concatenate(outs, axis=-1)

    def compute_output_shape(self, input_shape):
        t = input_shape[1]
        if t is not None and self.query_pool:
            t = math.ceil(t / self.query_pool)
        return (input_shape[0], t, sum(self.widths))

    def get_config(self):
        return {
            **super().get_config(),
            "d_model": self.d_model,
            "scales": list(self.scales),
            "query_pool": self.query_pool,
        }


def multi_head_attention(num_heads: int = 8, key_dim: int = 512, name: str | None = None):
    """MH of the paper's ablation: standard multi-head self-attention (Keras' own layer).

    8 heads with key_dim 512 on a 512-d GRU output have 8.4M parameters, which is what the
    paper's 10.5M (EC-CBAM + MH) vs 2.8M (EC-CBAM + MSMH) SMIC figures imply.
    """
    return layers.MultiHeadAttention(num_heads=num_heads, key_dim=key_dim, name=name)


@_register
class TemporalReadout(layers.Layer):
    """(B, T, F) -> (B, F): the last step ("last") or the mean over steps ("mean")."""

    def __init__(self, mode: str = "last", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("last", "mean"):
            raise ValueError(f"readout {mode!r}: choose from ['last', 'mean']")
        self.mode = mode

    def call(self, x):
        return x[:, -1, :] if self.mode == "last" else ops.mean(x, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@_register
class SplitChannels(layers.Layer):
    """(..., C) -> C tensors (..., 1): one per channel (e.g. u, v, strain of a flow stack)."""

    def call(self, x):
        return [x[..., i : i + 1] for i in range(x.shape[-1])]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[:-1]) + (1,) for _ in range(input_shape[-1])]


@_register
class MultiFlowReweighting(layers.Layer):
    """Multi-optical-flow feature reweighting (AM3F-FlowNet's MOFRW), as read from the paper.

    Input: a list of B branch vectors (N, C). Two weightings computed from their concatenation
    z (N, B*C): branch scores ``a = softmax(Dense(B)(z))`` ("score and weight the contribution of
    each optical flow") and SE-style channel weights ``s = sigmoid(Dense(B*C)(relu(Dense(B*C/r)
    (z))))`` ("adaptively select the channels within each optical flow feature"). Output
    ``s * concat_b(B * a_b * f_b)`` (N, B*C); the factor B keeps uniform branch weights at 1.
    """

    def __init__(self, reduction: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)

    def build(self, input_shape):
        self.n_branches = len(input_shape)
        width = int(input_shape[0][-1])
        total = self.n_branches * width
        hidden = max(1, total // self.reduction)
        self.score = layers.Dense(self.n_branches, name="branch_score")
        self.fc1 = layers.Dense(hidden, activation="relu", name="se_fc1")
        self.fc2 = layers.Dense(total, activation="sigmoid", name="se_fc2")
        self.score.build((None, total))
        self.fc1.build((None, total))
        self.fc2.build((None, hidden))

    def call(self, feats):
        z = ops.concatenate(feats, axis=-1)
        a = ops.softmax(self.score(z), axis=-1) * self.n_branches
        weighted = ops.concatenate([f * a[:, i : i + 1] for i, f in enumerate(feats)], axis=-1)
        return weighted * self.fc2(self.fc1(z))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], len(input_shape) * input_shape[0][-1])

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
