"""LBP-TOP + linear SVM: the hand-crafted baseline (as in the MEGC2019 baseline).

Features (Zhao & Pietikainen, TPAMI 2007): local binary patterns on the three orthogonal planes
of a grayscale clip — XY (each frame), XT (each row over time) and YT (each column over time) —
computed with scikit-image's ``local_binary_pattern`` (P neighbours on a circle of radius R;
``method`` "nri_uniform" = the 59 uniform patterns of classic LBP-TOP for P=8, or "uniform" =
rotation-invariant uniform, P+2 bins). The clip volume is split into a grid of blocks
(``grid`` rows x columns, default 5x5, times ``time_blocks`` along T); each block contributes one
normalised histogram per plane. Feature length = time_blocks * rows * cols * 3 * bins
(5 * 5 * 3 * 59 = 4425 by default).

``method="zhao"`` computes the histograms as Zhao's reference code does (nearest-pixel sampling,
u2 patterns, overlapping blocks, raw counts: :mod:`mertrain.models.lbptop_zhao`); preset
``megc-baseline`` sets it up as MEB's MEGC-style baseline calls it (R_xy = R_t = 3, 8 x 8 blocks
with 70 % overlap, 10 frames: 11,328 features). The default (``nri_uniform``, scikit-image's
bilinear sampling, 5 x 5 normalised blocks) stays today's, by name.

Classifier: StandardScaler (fitted on the training clips only) + linear ``SVC`` whose decision
values are Platt-scaled into probabilities by ``CalibratedClassifierCV(cv=min(5, smallest class),
ensemble=False)`` (what ``SVC(probability=True)`` did; that flag is deprecated in scikit-learn
1.9). Unshuffled stratified folds and a fixed ``random_state``: deterministic.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .inputs import _choice
from .lbptop_zhao import zhao_lbptop
from .registry import InputSpec, ModelConfig, register_model

REFERENCE = (
    "G. Zhao, M. Pietikainen, 'Dynamic texture recognition using local binary patterns "
    "with an application to facial expressions', TPAMI 2007; MEGC2019 baseline "
    "(LBP-TOP + SVM)"
)


#: ``nri_uniform`` / ``uniform``: scikit-image (bilinear); ``zhao``: the reference code's
METHODS = ("nri_uniform", "uniform", "zhao")


@dataclass
class LBPTOPConfig(ModelConfig):
    frames: int = 30
    size: int = 128
    channels: int = 1
    grid: tuple[int, int] = (5, 5)
    time_blocks: int = 1
    neighbors: int = 8
    radius_xy: int = 1
    radius_t: int = 1
    method: str = "nri_uniform"
    svm_c: float = 1.0
    class_weight: str | None = None  # None | "balanced"

    def __post_init__(self):
        super().__post_init__()
        rows, cols = (int(g) for g in self.grid)
        self.grid = (rows, cols)
        _choice("method", self.method, METHODS)
        _choice("class_weight", self.class_weight, (None, "balanced"))
        _choice("channels", self.channels, (1, 3))
        if len(self.grid) != 2 or min(self.grid) < 1 or self.time_blocks < 1:
            raise ValueError("grid must be (rows, cols) >= 1 and time_blocks >= 1")
        if self.neighbors < 4 or self.radius_xy < 1 or self.radius_t < 1:
            raise ValueError("neighbors >= 4, radius_xy >= 1, radius_t >= 1")
        if self.frames - 2 * self.radius_t < self.time_blocks:
            raise ValueError(
                f"frames={self.frames} leaves fewer valid frames than time_blocks "
                f"with radius_t={self.radius_t}"
            )
        margin = max(self.radius_xy, self.radius_t)
        if self.size - 2 * margin < max(self.grid):
            raise ValueError(f"size={self.size} is too small for grid {self.grid}")
        if self.svm_c <= 0:
            raise ValueError("svm_c must be > 0")
        if self.method == "zhao" and self.time_blocks != 1:
            raise ValueError("method 'zhao' has one time block (time_part 1, as MEB calls it)")

    @property
    def n_bins(self) -> int:
        p = self.neighbors
        return p + 2 if self.method == "uniform" else p * (p - 1) + 3

    @property
    def feature_length(self) -> int:
        return self.time_blocks * self.grid[0] * self.grid[1] * 3 * self.n_bins


def _to_gray_uint8(clip: np.ndarray) -> np.ndarray:
    """(T, H, W[, C]) -> (T, H, W) uint8; per-clip min-max scaling (monotonic, so the LBP
    comparisons are unchanged up to quantisation)."""
    clip = np.asarray(clip, dtype=np.float64)
    if clip.ndim == 4:
        if clip.shape[-1] == 3:
            clip = clip @ np.array([0.299, 0.587, 0.114])
        elif clip.shape[-1] == 1:
            clip = clip[..., 0]
        else:
            raise ValueError(f"clip has {clip.shape[-1]} channels; expected 1 or 3")
    if clip.ndim != 3:
        raise ValueError(f"expected a clip (T, H, W[, C]), got shape {clip.shape}")
    lo, hi = clip.min(), clip.max()
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.round((clip - lo) * scale).astype(np.uint8)


def _plane_codes(stack: np.ndarray, p: int, r: int, method: str) -> np.ndarray:
    """LBP codes of many 2D planes at once: (N, A, B) -> (N, A, B).

    The planes are stacked vertically into one (N*A, B) image; rows within ``r`` of a plane's
    top/bottom see the neighbouring plane, but those rows are outside the valid volume and are
    discarded by the caller, so the result equals per-plane computation on every kept pixel.
    """
    from skimage.feature import local_binary_pattern

    n, a, b = stack.shape
    codes = local_binary_pattern(stack.reshape(n * a, b), p, r, method=method)
    return codes.reshape(n, a, b).astype(np.int64)


def _gray(clip: np.ndarray) -> np.ndarray:
    """(T, H, W[, C]) -> (T, H, W) gray values as stored (RGB: rounded luma), unscaled: the
    reference compares the pixel values themselves."""
    clip = np.asarray(clip)
    if clip.ndim == 4 and clip.shape[-1] == 3:
        return np.round(clip.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))
    if clip.ndim == 4 and clip.shape[-1] == 1:
        return clip[..., 0]
    if clip.ndim != 3:
        raise ValueError(f"expected a clip (T, H, W[, C]), got shape {clip.shape}")
    return clip


def lbptop_features(clip: np.ndarray, cfg: LBPTOPConfig) -> np.ndarray:
    """LBP-TOP feature vector (length ``cfg.feature_length``) of one clip (T, H, W[, C])."""
    if cfg.method == "zhao":
        return zhao_lbptop(_gray(clip), cfg.neighbors, cfg.radius_xy, cfg.radius_t, *cfg.grid)
    v = _to_gray_uint8(clip)
    t, h, w = v.shape
    p, rs, rt = cfg.neighbors, cfg.radius_xy, cfg.radius_t
    m = max(rs, rt)
    if t - 2 * rt < cfg.time_blocks or min(h, w) - 2 * m < max(cfg.grid):
        raise ValueError(
            f"clip {v.shape} is too small for radius ({rs}, {rt}) and grid "
            f"{cfg.grid} x {cfg.time_blocks}"
        )
    xy = _plane_codes(v, p, rs, cfg.method)  # (T, H, W)
    xt = _plane_codes(v.transpose(1, 0, 2), p, rt, cfg.method).transpose(1, 0, 2)  # rows
    yt = _plane_codes(v.transpose(2, 0, 1), p, rt, cfg.method).transpose(1, 2, 0)  # columns
    valid = (slice(rt, t - rt), slice(m, h - m), slice(m, w - m))
    planes = [xy[valid], xt[valid], yt[valid]]
    n_bins = cfg.n_bins
    tb = np.array_split(np.arange(t - 2 * rt), cfg.time_blocks)
    yb = np.array_split(np.arange(h - 2 * m), cfg.grid[0])
    xb = np.array_split(np.arange(w - 2 * m), cfg.grid[1])
    out = []
    for ti in tb:
        for yi in yb:
            for xi in xb:
                for codes in planes:
                    block = codes[ti[0] : ti[-1] + 1, yi[0] : yi[-1] + 1, xi[0] : xi[-1] + 1]
                    hist = np.bincount(block.ravel(), minlength=n_bins)[:n_bins]
                    out.append(hist / max(1, block.size))
    return np.concatenate(out).astype(np.float32)


_CACHE: OrderedDict[tuple, np.ndarray] = OrderedDict()
_CACHE_SIZE = 4096  # clips (4425 float32 each at the defaults: ~70 MB when full)


def cached_features(clip: np.ndarray, cfg: LBPTOPConfig) -> np.ndarray:
    """:func:`lbptop_features` memoised on the clip's content and the feature parameters.

    Leave-one-subject-out refits the SVM once per fold on (mostly) the same clips; the features
    (about 0.2 s per 30x128x128 clip here) are computed once per process instead of once per fold.
    """
    clip = np.ascontiguousarray(clip)
    key = (
        hashlib.blake2b(clip.view(np.uint8).ravel().tobytes(), digest_size=16).hexdigest(),
        clip.shape,
        clip.dtype.str,
        cfg.grid,
        cfg.time_blocks,
        cfg.neighbors,
        cfg.radius_xy,
        cfg.radius_t,
        cfg.method,
    )
    hit = _CACHE.get(key)
    if hit is None:
        hit = lbptop_features(clip, cfg)
        _CACHE[key] = hit
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return hit


class LBPTOPSVM:
    """LBP-TOP features + standardisation + linear SVM with probability outputs.

    ``fit(X, y)`` / ``predict_proba(X)`` / ``predict(X)`` take ``X`` as the input dict
    ``{"face": (N, T, H, W[, C])}`` (or the array itself) and integer labels 0..n_classes-1.
    ``predict_proba`` always has ``n_classes`` columns; a class absent from the training fold
    gets probability 0.
    """

    def __init__(self, config: LBPTOPConfig, n_classes: int, seed: int = 0):
        self.config = config
        self.n_classes = int(n_classes)
        self.seed = int(seed)
        self.pipeline_: Any = None
        self.classes_: np.ndarray | None = None

    def features(self, X: Mapping[str, Any] | np.ndarray) -> np.ndarray:
        clips = X["face"] if isinstance(X, Mapping) else X
        return np.stack([cached_features(c, self.config) for c in clips])

    def fit(self, X, y):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        y = np.asarray(y).astype(int)
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"labels must be in 0..{self.n_classes - 1}")
        feats = self.features(X)
        self.classes_, counts = np.unique(y, return_counts=True)
        if len(self.classes_) == 1:  # degenerate fold: predict the only class seen
            self.pipeline_ = None
            return self
        svm = SVC(
            kernel="linear",
            C=self.config.svm_c,
            class_weight=self.config.class_weight,
            random_state=self.seed,
        )
        folds = int(min(5, counts.min()))
        # Platt scaling on out-of-fold decision values (what SVC(probability=True) did before
        # scikit-learn 1.9 deprecated it); unshuffled stratified folds keep it deterministic.
        clf = (
            CalibratedClassifierCV(svm, method="sigmoid", cv=folds, ensemble=False)
            if folds >= 2
            else svm
        )
        pipeline = make_pipeline(StandardScaler(), clf)
        pipeline.fit(feats, y)
        self.pipeline_ = pipeline
        return self

    def predict_proba(self, X) -> np.ndarray:
        if self.classes_ is None:
            raise RuntimeError("LBPTOPSVM is not fitted")
        feats = self.features(X)
        out = np.zeros((len(feats), self.n_classes), dtype=np.float64)
        if self.pipeline_ is None:
            out[:, self.classes_[0]] = 1.0
            return out
        if hasattr(self.pipeline_[-1], "predict_proba"):
            out[:, self.pipeline_.classes_] = self.pipeline_.predict_proba(feats)
        else:  # a class with one training clip: no calibration folds, hard votes
            out[np.arange(len(feats)), self.pipeline_.predict(feats)] = 1.0
        return out

    def predict(self, X) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"config": self.config, "n_classes": self.n_classes, "seed": self.seed}


@register_model(
    "lbptop-svm",
    kind="sklearn",
    inputs=(InputSpec("face", "face", "clip", frames=30, size=128, channels=1),),
    config_cls=LBPTOPConfig,
    description="LBP-TOP histograms (5x5 blocks, XY/XT/YT) + standardisation + linear SVM",
    reference=REFERENCE,
    test_overrides={"frames": 8, "size": 32, "grid": (2, 2)},
    presets={
        # MEB calculate_lbptop (meb/utils/traditional_methods.py:467-477): Zhao's LBPTOP(video,
        # 0, 9, 3, 3, 3, [8, 8, 8], 3, 3, 8, 8, 0.7, 1, "u2") on the first 10 frames
        "megc-baseline": {
            "method": "zhao",
            "frames": 10,
            "grid": (8, 8),
            "radius_xy": 3,
            "radius_t": 3,
        },
    },
)
def lbptop_svm(cfg: LBPTOPConfig, n_classes: int, seed: int = 0) -> LBPTOPSVM:
    """LBP-TOP + linear SVM on grayscale face clips (RGB clips are converted to gray)."""
    return LBPTOPSVM(cfg, n_classes, seed)
