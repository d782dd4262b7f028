"""Optical-flow networks: AM3F-FlowNet (docs/references.md#model-d) and the STSTNet baseline.

Both take the "flow" input: the (H, W, 3) stack of horizontal flow u, vertical flow v and
optical strain between onset and apex, written by ``merprep flow``; the channels are split
inside the model (u, v, strain in that order).
"""

from __future__ import annotations

from dataclasses import dataclass

from mertrain.recipe import LogitAdjusted, Recipe

from .registry import InputSpec, ModelConfig, register_model

AM3F_REF = (
    "C. Fu, W. Yang, D. Chen, F. Wei, 'AM3F-FlowNet: Attention-Based Multi-Scale "
    "Multi-Branch Flow Network', Entropy 25(7):1064, 2023"
)
STSTNET_REF = (
    "S.-T. Liong, Y. S. Gan, J. See, H.-Q. Khor, Y.-C. Huang, 'Shallow triple stream "
    "three-dimensional CNN (STSTNet) for micro-expression recognition', FG 2019 "
    "(MEGC2019)"
)


# --------------------------------------------------------------------------- AM3F-FlowNet


@dataclass
class AM3FConfig(ModelConfig):
    size: int = 128
    stem_filters: int = 32
    scale_kernels: tuple[int, ...] = (3, 5, 7)
    scale_filters: int = 32
    branch_filters: int = 64
    attention_kernel: int = 7
    reduction: int = 4
    dropout: float = 0.5
    bn_momentum: float = 0.9  # PyTorch's default (0.1 there); Keras' 0.99 lags on small sets

    def __post_init__(self):
        super().__post_init__()
        self.scale_kernels = tuple(int(k) for k in self.scale_kernels)
        if not self.scale_kernels or any(k < 1 or k % 2 == 0 for k in self.scale_kernels):
            raise ValueError("scale_kernels must be odd sizes >= 1")
        if self.size < 8:
            raise ValueError("size must be >= 8 (three 2x poolings)")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")


def _conv_bn_relu(x, filters, kernel, name, momentum):
    from keras import layers

    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


@register_model(
    "am3f-flownet",
    inputs=(InputSpec("flow", "flow", "image", size=128, channels=3),),
    config_cls=AM3FConfig,
    description="Three flow branches (u, v, strain), multi-scale fusion with spatial attention, "
    "channel reweighting across branches; logit-adjusted loss",
    reference=AM3F_REF,
    presets={
        name: {"loss": "logit_adjusted", "logit_adjust_tau": 1.0}
        for name in ("casme2", "samm", "smic")
    },
    test_overrides={
        "size": 32,
        "stem_filters": 8,
        "scale_filters": 8,
        "branch_filters": 16,
        "dropout": 0.1,
    },
    recipe=Recipe(epochs=100, batch_size=32, lr=1e-3, loss=LogitAdjusted(tau=1.0)),
)
def am3f_flownet(cfg: AM3FConfig, n_classes: int, inputs):
    """Section D (Entropy 2023), implemented from the description (no public code).

    Per branch (u, v, strain, each (H, W, 1)): stem Conv-BN-ReLU(32) + MaxPool2 -> MSFF: one
    Conv-BN-ReLU(32, k x k) per scale k in 3, 5, 7, each followed by spatial attention
    (sigmoid(Conv 7x7 of [mean_c, max_c])), concatenated, fused by Conv-BN-ReLU(64, 1x1) +
    MaxPool2 -> Conv-BN-ReLU(64, 3x3) + MaxPool2 -> global average pool (64). MOFRW over the
    three 64-d vectors (branch scores + SE channel weights) -> Dropout -> Dense(n) logits.
    The logit-adjusted loss (tau * log prior added to the logits in training) is the trainer's,
    selected by ``loss="logit_adjusted"`` / ``logit_adjust_tau`` in this config.
    """
    from keras import layers

    from .layers import MultiFlowReweighting, SpatialAttention, SplitChannels

    branches = SplitChannels(name="split_uvs")(inputs["flow"])
    feats = []
    for bname, x in zip(("u", "v", "strain"), branches):
        x = _conv_bn_relu(x, cfg.stem_filters, 3, f"{bname}_stem", cfg.bn_momentum)
        x = layers.MaxPooling2D(2, name=f"{bname}_stem_pool")(x)
        scales = []
        for k in cfg.scale_kernels:
            s = _conv_bn_relu(x, cfg.scale_filters, k, f"{bname}_k{k}", cfg.bn_momentum)
            scales.append(SpatialAttention(cfg.attention_kernel, name=f"{bname}_k{k}_sa")(s))
        x = layers.Concatenate(name=f"{bname}_msff_cat")(scales) if len(scales) > 1 else scales[0]
        x = _conv_bn_relu(x, cfg.branch_filters, 1, f"{bname}_msff_fuse", cfg.bn_momentum)
        x = layers.MaxPooling2D(2, name=f"{bname}_msff_pool")(x)
        x = _conv_bn_relu(x, cfg.branch_filters, 3, f"{bname}_block", cfg.bn_momentum)
        x = layers.MaxPooling2D(2, name=f"{bname}_block_pool")(x)
        feats.append(layers.GlobalAveragePooling2D(name=f"{bname}_gap")(x))
    x = MultiFlowReweighting(cfg.reduction, name="mofrw")(feats)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return layers.Dense(n_classes, name="logits")(x)


# --------------------------------------------------------------------------- STSTNet


@dataclass
class STSTNetConfig(ModelConfig):
    size: int = 28
    filters: tuple[int, ...] = (3, 5, 8)
    dropout: float = 0.5
    bn_momentum: float = 0.9  # the published PyTorch code's default BatchNorm momentum

    def __post_init__(self):
        super().__post_init__()
        self.filters = tuple(int(f) for f in self.filters)
        if not self.filters or min(self.filters) < 1:
            raise ValueError("filters must be non-empty, each >= 1")
        if self.size < 4:
            raise ValueError("size must be >= 4")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")


@register_model(
    "ststnet",
    inputs=(InputSpec("flow", "flow", "image", size=28, channels=3),),
    config_cls=STSTNetConfig,
    description="Shallow triple-stream CNN on 28x28 (u, v, strain) (MEGC2019 baseline)",
    reference=STSTNET_REF,
    test_overrides={"dropout": 0.0},
    # the published PyTorch code: Adam 5e-5, batch 256, 800 epochs. lr is 10x that here: with
    # batch 256 an epoch is ONE step on a data set of fewer than 256 clips (the published
    # MEGC2019 set had 442, two steps), and 800 steps at 5e-5 stop far from converged
    # (docs/models.md, "Defaults that learn"); pass lr=5e-5 for the published value.
    recipe=Recipe(epochs=800, batch_size=256, lr=5e-4),
)
def ststnet(cfg: STSTNetConfig, n_classes: int, inputs):
    """STSTNet: three streams on the whole (u, v, strain) stack with 3, 5 and 8 filters of 3x3
    (zero padding 2, as the published code), each ReLU -> BN -> MaxPool(3, stride 3) ->
    Dropout; concatenated (16 channels) -> AvgPool(2) -> Flatten -> Dense(n) logits.
    At 28x28: 30x30 -> 10x10 -> 5x5, 400 features, 1.7k parameters for 3 classes.
    """
    from keras import layers

    x = layers.ZeroPadding2D(2, name="pad")(inputs["flow"])
    streams = []
    for f in cfg.filters:
        s = layers.Conv2D(f, 3, activation="relu", name=f"stream{f}_conv")(x)
        s = layers.BatchNormalization(momentum=cfg.bn_momentum, name=f"stream{f}_bn")(s)
        s = layers.MaxPooling2D(3, strides=3, padding="same", name=f"stream{f}_pool")(s)
        streams.append(layers.Dropout(cfg.dropout, name=f"stream{f}_drop")(s))
    x = layers.Concatenate(name="concat")(streams)
    x = layers.AveragePooling2D(2, name="avgpool")(x)
    x = layers.Flatten(name="flatten")(x)
    return layers.Dense(n_classes, name="logits")(x)
