"""Dual-branch shallow 3D-CNN family (Fang, Liu & Liu): docs/references.md#model-a and #model-b.

Both models are one graph with switches (``_build_dual3dcnn``)::

    face ─ Conv3D(32, 5x5x5) ─ LeakyReLU ─ MaxPool3D(p) ─┐
    face|au ─ Conv3D(32, 3x3x3) ─ LeakyReLU ─ MaxPool3D(p) ─┴ concat ─ Conv3D(F, 3x3x3)
      ─ LeakyReLU ─ MaxPool3D(p) ─ EC-CBAM|CBAM|none ─ per-step Flatten ─ Dropout
      ─ Dense(128, L2) ─ LeakyReLU ─ Dropout ─ Dense(64, L2) ─ LeakyReLU [─ Dropout (A)]
      ─ GRU|LSTM(units, return_sequences) [─ MSMH|MH (B)] ─ readout (last step | mean)
      ─ Dense head (A: 32; B: 128, 64) with LeakyReLU ─ Dense(n_classes) = logits

All pooling is 'same'-padded and pools time too (as in the reference code), so the recurrent
layer sees ceil(ceil(T/p)/p) steps. One prediction per clip: the reference repeated each label
over the remaining time steps (and the repeat count did not match the step count at T=30); here
the sequence is reduced to one vector before the dense head (``readout``: "last" step of the
GRU/attention output by default, or "mean" over steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mertrain.recipe import Recipe, StepDecay

from .compat import without_added_defaults
from .inputs import _choice
from .registry import InputSpec, ModelConfig, ceil_div, register_model

ICIP2024 = (
    "C.-T. Fang, T.-J. Liu, K.-H. Liu, 'Micro-expression recognition based on 3DCNN "
    "combined with GRU and new attention mechanism', ICIP 2024"
)
EXTENDED = (
    "C.-T. Fang, T.-J. Liu, K.-H. Liu, 'Micro-expression recognition using dual-branch "
    "3DCNN network with novel attention mechanism' (extended version; MLSP 2024)"
)

_WCE = {"loss": "weighted_ce", "class_weights": (0.3, 0.35, 0.35)}
#: Adam 1e-3, batch 8, 200 epochs (the reference scripts); section B decays the rate x0.9 every
#: 40 epochs. The weighted CE of the reference is in the dataset presets.
RECIPE_A = Recipe(epochs=200, batch_size=8, lr=1e-3)
RECIPE_B = RECIPE_A.replace(schedule=StepDecay(0.9, 40))


@dataclass
class Dual3DCNNConfig(ModelConfig):
    """Section A configuration (defaults = the CASME II/SAMM model of the reference code)."""

    frames: int = 30
    size: int = 128
    channels: int = 3
    pool: int = 2
    branch_filters: int = 32
    merge_filters: int = 32
    attention: str = "ecbam"  # ecbam | cbam | none (the paper's ablation)
    #: EC-CBAM channel rule: "ec" = sigmoid(0.5 (max - avg)) (the paper; every reference script
    #: but one), "sum" = sigmoid(max + avg) (EXT SMIC/attention.py:28-29)
    channel_combine: str = "ec"
    reduction: int = 8
    l2: float = 0.01  # attention MLPs and (unless embed_l2) the per-step Dense layers
    embed_l2: float | None = None  # the per-step Dense layers' L2 (None: l2); deception .03
    dropout: float = 0.5  # .5 CASME II, .3 SAMM / SMIC
    embed_units: tuple[int, ...] = (128, 64)
    dropout_after_embed: bool = True  # A: Dropout after the TD Dense(64); B: none
    head: str = "gru"  # gru | lstm
    gru_units: int = 1024
    readout: str = "last"  # last | mean (one prediction per clip)
    head_units: tuple[int, ...] = (32,)
    pre_head_dropout: float = 0.0  # Dropout before the dense head (deception .3)
    head_dropout: float = 0.0  # Dropout after each head Dense (CAS(ME)^3 and deception .3)

    def __post_init__(self):
        super().__post_init__()
        self.embed_units = tuple(int(u) for u in self.embed_units)
        self.head_units = tuple(int(u) for u in self.head_units)
        _choice("attention", self.attention, ("ecbam", "cbam", "none"))
        _choice("head", self.head, ("gru", "lstm"))
        _choice("readout", self.readout, ("last", "mean"))
        _choice("channels", self.channels, (1, 3))
        _choice("channel_combine", self.channel_combine, ("ec", "sum"))
        for name in ("dropout", "pre_head_dropout", "head_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1)")
        if self.embed_l2 is not None and self.embed_l2 < 0:
            raise ValueError("embed_l2 must be >= 0 (or None: l2)")
        if self.pool < 1:
            raise ValueError("pool must be >= 1")
        # two poolings: every remaining time step / pixel must cover a whole pooling window
        if self.frames < self.pool**2:
            raise ValueError(
                f"frames={self.frames} is too short for two MaxPool3D({self.pool}) "
                f"(need >= {self.pool**2})"
            )
        if self.size < self.pool**2:
            raise ValueError(f"size={self.size} is too small for two MaxPool3D({self.pool})")
        if min(self.branch_filters, self.merge_filters, self.gru_units, self.reduction) < 1:
            raise ValueError("filters, units and reduction must be >= 1")
        if self.merge_filters < self.reduction:
            raise ValueError("merge_filters must be >= reduction (attention MLP width C/r)")
        if not self.embed_units or any(u < 1 for u in self.embed_units + self.head_units):
            raise ValueError("embed_units must be non-empty and all units >= 1")

    #: fields added for the reference scripts (issue 14), at the default of the earlier graph
    _ADDED = {
        "channel_combine": "ec",
        "embed_l2": None,
        "pre_head_dropout": 0.0,
        "head_dropout": 0.0,
        "causal_mh_heads": 0,
        "causal_mh_key_dim": 512,
    }

    def to_dict(self) -> dict[str, Any]:
        return without_added_defaults(super().to_dict(), self._ADDED)

    @property
    def steps(self) -> int:
        """Time steps the recurrent layer sees."""
        return ceil_div(ceil_div(self.frames, self.pool), self.pool)

    @property
    def feature_size(self) -> int:
        """Spatial side of the feature map after the two poolings."""
        return ceil_div(ceil_div(self.size, self.pool), self.pool)


@dataclass
class Dual3DCNNAUConfig(Dual3DCNNConfig):
    """Section B configuration (defaults = the CASME II model, 3.8M parameters)."""

    pool: int = 3
    merge_filters: int = 64
    gru_units: int = 512
    dropout_after_embed: bool = False
    head_units: tuple[int, ...] = (128, 64)
    temporal_attention: str = "msmh"  # none | mh | msmh
    au_branch: bool = True  # False: both branches read the face clip
    d_model: int = 512
    scales: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256)
    query_pool: int = 10
    mh_heads: int = 8
    mh_key_dim: int = 512
    #: heads of the lie-detection script's extra branch beside MSMH (0: none): causal
    #: MultiHeadAttention(heads, key_dim causal_mh_key_dim) -> MaxPool1D(query_pool), concatenated
    #: with the MSMH output (EXT ``lie detection/Dual-Branch 3DCNN.py``; 4 heads of 512 there)
    causal_mh_heads: int = 0
    causal_mh_key_dim: int = 512

    def __post_init__(self):
        super().__post_init__()
        _choice("temporal_attention", self.temporal_attention, ("none", "mh", "msmh"))
        self.scales = tuple(int(s) for s in self.scales)
        if not self.scales or any(s < 1 or self.d_model % s for s in self.scales):
            raise ValueError(f"every MSMH scale must divide d_model={self.d_model}")
        if self.query_pool < 1 or self.mh_heads < 1 or self.mh_key_dim < 1:
            raise ValueError("query_pool, mh_heads and mh_key_dim must be >= 1")
        if self.causal_mh_heads < 0 or self.causal_mh_key_dim < 1:
            raise ValueError("causal_mh_heads must be >= 0 and causal_mh_key_dim >= 1")
        if self.causal_mh_heads and self.temporal_attention != "msmh":
            raise ValueError("causal_mh_heads adds a branch beside MSMH: needs msmh")

    def uses_input(self, name: str) -> bool:
        return self.au_branch or name != "au"


def _build_dual3dcnn(cfg: Dual3DCNNConfig, n_classes: int, face, second):
    """The shared graph; ``second`` feeds the 3x3x3 branch (the AU clip or the face clip)."""
    import keras
    from keras import layers

    from .layers import (
        MultiScaleMultiHeadAttention,
        TemporalReadout,
        make_attention,
        multi_head_attention,
    )

    def leaky(x):
        return layers.LeakyReLU(negative_slope=0.2)(x)

    def pool(x, lname):
        return layers.MaxPooling3D(cfg.pool, padding="same", name=lname)(x)

    b1 = layers.Conv3D(
        cfg.branch_filters, 5, padding="same", kernel_initializer="he_normal", name="branch5_conv"
    )(face)
    b1 = pool(leaky(b1), "branch5_pool")
    b2 = layers.Conv3D(
        cfg.branch_filters, 3, padding="same", kernel_initializer="he_normal", name="branch3_conv"
    )(second)
    b2 = pool(leaky(b2), "branch3_pool")
    x = layers.Concatenate(name="merge")([b1, b2])
    x = layers.Conv3D(
        cfg.merge_filters, 3, padding="same", kernel_initializer="he_normal", name="merge_conv"
    )(x)
    x = pool(leaky(x), "merge_pool")
    att = make_attention(
        cfg.attention,
        reduction=cfg.reduction,
        l2=cfg.l2,
        name=cfg.attention,
        combine=cfg.channel_combine,
    )
    if att is not None:
        x = att(x)
    steps, side = cfg.steps, cfg.feature_size
    x = layers.Reshape((steps, side * side * cfg.merge_filters), name="step_flatten")(x)
    x = layers.Dropout(cfg.dropout, name="drop_flat")(x)
    embed_l2 = cfg.l2 if cfg.embed_l2 is None else cfg.embed_l2
    reg = keras.regularizers.L2(embed_l2) if embed_l2 else None
    for i, units in enumerate(cfg.embed_units):
        x = layers.Dense(
            units, kernel_initializer="he_normal", kernel_regularizer=reg, name=f"embed{i}"
        )(x)  # Dense on (B, T, F) == TimeDistributed(Dense)
        x = leaky(x)
        if i < len(cfg.embed_units) - 1 or cfg.dropout_after_embed:
            x = layers.Dropout(cfg.dropout, name=f"drop_embed{i}")(x)
    rnn = layers.GRU if cfg.head == "gru" else layers.LSTM
    seq = x = rnn(cfg.gru_units, return_sequences=True, name=cfg.head)(x)
    if isinstance(cfg, Dual3DCNNAUConfig) and cfg.temporal_attention == "msmh":
        x = MultiScaleMultiHeadAttention(cfg.d_model, cfg.scales, cfg.query_pool, name="msmh")(x)
        if cfg.causal_mh_heads:
            mh = multi_head_attention(cfg.causal_mh_heads, cfg.causal_mh_key_dim, name="causal_mh")
            y = mh(seq, seq, use_causal_mask=True)
            y = layers.MaxPooling1D(cfg.query_pool, padding="same", name="causal_mh_pool")(y)
            x = layers.Concatenate(name="attention_merge")([x, y])
    elif isinstance(cfg, Dual3DCNNAUConfig) and cfg.temporal_attention == "mh":
        x = multi_head_attention(cfg.mh_heads, cfg.mh_key_dim, name="mh")(x, x)
    x = TemporalReadout(cfg.readout, name="readout")(x)
    if cfg.pre_head_dropout:
        x = layers.Dropout(cfg.pre_head_dropout, name="drop_pre_head")(x)
    for i, units in enumerate(cfg.head_units):
        x = leaky(layers.Dense(units, kernel_initializer="he_normal", name=f"head{i}")(x))
        if cfg.head_dropout:
            x = layers.Dropout(cfg.head_dropout, name=f"drop_head{i}")(x)
    logits = layers.Dense(n_classes, name="logits")(x)
    return logits


# --------------------------------------------------------------------------- section A


@register_model(
    "dual3dcnn-gru-ecbam",
    inputs=(InputSpec("face", "face", "clip", frames=30, size=128, channels=3),),
    config_cls=Dual3DCNNConfig,
    description="Dual-branch shallow 3D-CNN + EC-CBAM + GRU (one input: the face clip)",
    reference=ICIP2024,
    # the ICIP reference scripts (ME_model.py at the repository root = CASME II, SAMM/, SMIC/)
    presets={
        "casme2": {"frames": 30, "dropout": 0.5, **_WCE},
        "samm": {"frames": 30, "dropout": 0.3, **_WCE},
        "smic": {"frames": 10, "dropout": 0.3, **_WCE},
        # a CONJECTURE found in no reference file: MaxPool3D(3) and a 512-unit GRU, 1,906,635
        # parameters for the published "about 2.0M" (-4.7%). The closer reading is the extended
        # version's SMIC backbone without MSMH: dual3dcnn-au-msmh preset smic with
        # temporal_attention="none", 1,964,235 (-1.8%); see docs/models.md.
        "smic-2m": {"frames": 10, "dropout": 0.3, "pool": 3, "gru_units": 512, **_WCE},
    },
    expected_params={"smic-2m": (2_000_000, 0.06)},
    test_overrides={"frames": 8, "size": 32, "gru_units": 64, "dropout": 0.1},
    recipe=RECIPE_A,
)
def dual3dcnn_gru_ecbam(cfg: Dual3DCNNConfig, n_classes: int, inputs):
    """Section A (ICIP 2024): dual-branch shallow 3D-CNN, EC-CBAM, GRU.

    Both branches read the face clip (kernels 5x5x5 and 3x3x3, 32 filters each), MaxPool3D(2),
    concat, Conv3D(32), MaxPool3D(2), EC-CBAM(32, r=8), per-step Flatten-Dropout-Dense(128)-
    Dense(64) (L2 0.01, LeakyReLU 0.2, dropout after each), GRU(1024, return_sequences),
    Dense(32), Dense(n). ``attention`` = cbam|none and ``head`` = lstm give the ablations.

    Deviations from the reference code: logits instead of softmax (the trainer applies it); one
    prediction per clip via ``readout`` instead of repeating the label over time steps.
    At the described size this model has 7.6M parameters, not the published 2.0M: the GRU(1024)
    alone has 3.35M; preset ``smic-2m`` is the reading that matches (docs/models.md).
    """
    face = inputs["face"]
    return _build_dual3dcnn(cfg, n_classes, face, face)


# --------------------------------------------------------------------------- section B


@register_model(
    "dual3dcnn-au-msmh",
    inputs=(
        InputSpec("face", "face", "clip", frames=30, size=128, channels=3),
        InputSpec("au", "au", "clip", frames=30, size=128, channels=3),
    ),
    config_cls=Dual3DCNNAUConfig,
    description="Dual-branch 3D-CNN (face + AU-region clips) + EC-CBAM + GRU + MSMH",
    reference=EXTENDED,
    # the extended version's reference scripts, one per dataset (docs/models.md, "Presets")
    presets={
        "casme2": {"frames": 30, "dropout": 0.5, **_WCE},
        "samm": {"frames": 30, "dropout": 0.3, **_WCE},
        # SMIC/Dual-Branch 3DCNN+AU.py: one input (both branches read the face clip), 10 frames,
        # dropout .3, 32 filters after the merge, and SMIC/attention.py's sigmoid(max + avg)
        "smic": {
            "frames": 10,
            "dropout": 0.3,
            "merge_filters": 32,
            "au_branch": False,
            "channel_combine": "sum",
            **_WCE,
        },
        # CAS(ME)3/Dual-Branch 3DCNN+AU.py: MaxPool 2, embedding dropout .5, Dropout(.3) after
        # the head's Dense(128) and Dense(64), 100 epochs, x0.9 every 20 epochs
        "casme3": {
            "frames": 30,
            "pool": 2,
            "dropout": 0.5,
            "head_dropout": 0.3,
            **_WCE,
            "epochs": 100,
            "lr_schedule": "step:0.9:20",
        },
        # lie detection/Dual-Branch 3DCNN.py: 16 frames, 32 filters after the merge, dropout .3
        # six times, L2 .03 on the per-step Dense layers, a causal MultiHeadAttention(4, 512)
        # branch beside MSMH, both inputs the face clip, no schedule, 100 epochs
        "deception": {
            "frames": 16,
            "merge_filters": 32,
            "dropout": 0.3,
            "dropout_after_embed": True,
            "embed_l2": 0.03,
            "causal_mh_heads": 4,
            "pre_head_dropout": 0.3,
            "head_dropout": 0.3,
            "au_branch": False,
            "epochs": 100,
            "lr_schedule": "constant",
            "loss": "weighted_ce",
            "class_weights": (0.5, 0.5),
        },
    },
    expected_params={"casme2": (3_800_000, 0.03), "smic": (2_800_000, 0.03)},
    test_overrides={
        "frames": 18,
        "size": 27,
        "gru_units": 64,
        "d_model": 64,
        "scales": (2, 4, 8),
        "dropout": 0.1,
        "head_units": (32, 16),
        "query_pool": 2,
        "mh_key_dim": 16,
        "mh_heads": 2,
    },
    recipe=RECIPE_B,
)
def dual3dcnn_au_msmh(cfg: Dual3DCNNAUConfig, n_classes: int, inputs):
    """Section B (extended version): face + AU-region clips, EC-CBAM, GRU(512), MSMH.

    Branch 1 Conv3D(32, 5x5x5) on the face clip, branch 2 Conv3D(32, 3x3x3) on the AU-region
    clip (``au_branch=False``: on the face clip too, the reproducible ablation; the model then
    takes only the face input), MaxPool3D(3), concat, Conv3D(64), MaxPool3D(3), EC-CBAM(64),
    per-step Flatten-Dropout(.5)-Dense(128)-Dropout-Dense(64), GRU(512, return_sequences),
    MSMH (d_model 512, scales 2..256, query max-pool 10), Dense(128), Dense(64), Dense(n).
    Switches: attention cbam|ecbam|none, head gru|lstm, temporal_attention none|mh|msmh.

    Deviations: logits, one prediction per clip (``readout`` after the attention), EC-CBAM's
    spatial convolution has C filters (the reference hard-coded 32).
    """
    face = inputs["face"]
    second = inputs["au"] if cfg.au_branch else face
    return _build_dual3dcnn(cfg, n_classes, face, second)
