"""Clip augmentation for training: pure NumPy, seeded, one transform per clip.

**For training clips only, after splitting.** Augment the clips of a fold's training set
(after the fold's train/test split and after choosing any inner-validation subjects); never the
test or validation clips, and never before splitting: an augmented copy of a test subject's clip
in the training set is test data in training (the section C reference code did exactly that).
Draw the generator from the fold seed (e.g. ``np.random.default_rng(fold_seed)``) so a fold is
reproducible.

Every transform uses the SAME parameters for every frame of a clip (docs/references.md#model-c:
translations of 1-15 px, rotations up to 13 degrees, Gaussian noise; plus horizontal flips and
brightness), so the motion between frames is preserved: the geometric transforms are one index
map / one bilinear resampling applied to all frames of the clip, which commutes with frame
differences (``augment(x)[t] - augment(x)[0] == augment(x[t] - x[0])`` up to rounding, and
exactly for flips and whole-pixel translations of float clips).

Input: clips ``(N, T, H, W, C)`` as ``uint8`` (frames from the store, values 0..255) or float
(``value_range`` says what 1.0 of brightness/noise means: 255 for uint8 by default, 1.0 for
float); the output has the input's shape and dtype (uint8 results are rounded and clipped).
Not for flow stacks: a flip negates u and a rotation rotates the (u, v) vectors.

::

    from mertrain.augment import AugmentConfig, augment_clips
    rng = np.random.default_rng(seed)
    x_aug = augment_clips(x_train, rng, AugmentConfig(max_translate=4, max_rotate=5))

A multi-input model (face + AU clips) should share one draw: ``params = sample_params(...)``
then ``apply_params`` on each input (same N).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = [
    "AugmentConfig",
    "ClipParams",
    "add_brightness",
    "add_noise",
    "affine",
    "apply_params",
    "augment_clips",
    "hflip",
    "rotate",
    "sample_params",
    "translate",
]

FILL_MODES = ("edge", "constant")


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation parameters (maxima; each clip draws its own values uniformly).

    - ``flip_prob``: probability of a horizontal flip.
    - ``max_translate``: whole-pixel shift, each axis uniform in [-max, max] (section C: up to
      15 px at 128x128; scale with the input size).
    - ``max_rotate``: rotation about the frame centre, uniform in [-max, max] degrees (section C:
      up to 13).
    - ``noise_std``: Gaussian noise, per-clip sigma uniform in [0, noise_std] (fraction of
      ``value_range``); the noise itself is drawn per pixel and frame.
    - ``brightness``: additive offset uniform in [-b, b] (fraction of ``value_range``), the same
      for every frame of the clip.
    - ``prob``: probability that a clip is augmented at all (else returned unchanged).
    - ``fill``: "edge" (replicate the border) or "constant" (``fill_value``) outside the frame.
    - ``value_range``: None = 255 for uint8 input, 1.0 for float.
    """

    flip_prob: float = 0.5
    max_translate: int = 15
    max_rotate: float = 13.0
    noise_std: float = 0.01
    brightness: float = 0.0
    prob: float = 1.0
    fill: str = "edge"
    fill_value: float = 0.0
    value_range: float | None = None
    #: the frame width ``max_translate`` is meant for: shifts scale with the clip's width
    #: (``default`` augmentation: 15 px at 128, so 4 px at 32); None: ``max_translate`` is in
    #: pixels whatever the size
    size_reference: int | None = None

    def __post_init__(self):
        for name in ("flip_prob", "prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if int(self.max_translate) != self.max_translate or self.max_translate < 0:
            raise ValueError(
                f"max_translate must be a whole number of pixels >= 0, got {self.max_translate}"
            )
        if not 0.0 <= self.max_rotate < 180.0:
            raise ValueError(f"max_rotate must be in [0, 180) degrees, got {self.max_rotate}")
        if self.noise_std < 0 or self.brightness < 0:
            raise ValueError("noise_std and brightness must be >= 0")
        if self.fill not in FILL_MODES:
            raise ValueError(f"fill {self.fill!r}: choose from {list(FILL_MODES)}")
        if self.value_range is not None and not self.value_range > 0:
            raise ValueError("value_range must be > 0")
        if self.size_reference is not None and not (
            isinstance(self.size_reference, int) and self.size_reference > 0
        ):
            raise ValueError(
                f"size_reference must be a positive whole number of pixels or None, "
                f"got {self.size_reference!r}"
            )

    def for_width(self, width: int) -> AugmentConfig:
        """This configuration for clips ``width`` pixels wide (shifts in that clip's pixels)."""
        if self.size_reference is None:
            return self
        t = int(round(self.max_translate * width / self.size_reference))
        return dataclasses.replace(self, max_translate=t, size_reference=None)

    @property
    def is_identity(self) -> bool:
        return self.prob == 0 or (
            self.flip_prob == 0
            and self.max_translate == 0
            and self.max_rotate == 0
            and self.noise_std == 0
            and self.brightness == 0
        )


@dataclass(frozen=True)
class ClipParams:
    """Per-clip parameters drawn by :func:`sample_params` (arrays of length N)."""

    active: np.ndarray  # bool: augment this clip at all
    flip: np.ndarray  # bool
    dy: np.ndarray  # int px (positive: content moves down)
    dx: np.ndarray  # int px (positive: content moves right)
    angle: np.ndarray  # degrees (positive: counter-clockwise on screen)
    noise_sigma: np.ndarray  # fraction of value_range
    brightness: np.ndarray  # fraction of value_range


def _check_clips(clips: np.ndarray) -> None:
    if not isinstance(clips, np.ndarray) or clips.ndim != 5:
        raise ValueError(
            f"expected clips of shape (N, T, H, W, C), got {getattr(clips, 'shape', type(clips))}"
        )
    if not (clips.dtype == np.uint8 or np.issubdtype(clips.dtype, np.floating)):
        raise TypeError(f"clips must be uint8 or float, got {clips.dtype}")


def sample_params(n: int, rng: np.random.Generator, config: AugmentConfig) -> ClipParams:
    """Draw the parameters of ``n`` clips (one set per clip, shared by all its frames)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator (np.random.default_rng(seed))")
    t = int(config.max_translate)
    active = rng.random(n) < config.prob
    flip = (rng.random(n) < config.flip_prob) & active
    dy = np.where(active, rng.integers(-t, t + 1, n), 0)
    dx = np.where(active, rng.integers(-t, t + 1, n), 0)
    angle = np.where(active, rng.uniform(-config.max_rotate, config.max_rotate, n), 0.0)
    sigma = np.where(active, rng.uniform(0.0, config.noise_std, n), 0.0)
    bright = np.where(active, rng.uniform(-config.brightness, config.brightness, n), 0.0)
    return ClipParams(active, flip, dy.astype(int), dx.astype(int), angle, sigma, bright)


# --------------------------------------------------------------------------- single transforms


def hflip(clips: np.ndarray) -> np.ndarray:
    """Mirror every frame left-right: (N, T, H, W, C) -> same (a view-free copy)."""
    _check_clips(clips)
    return clips[:, :, :, ::-1, :].copy()


def _sample(
    clip: np.ndarray, sy: np.ndarray, sx: np.ndarray, fill: str, fill_value: float
) -> np.ndarray:
    """Bilinear sampling of a float (T, H, W, C) clip at source coordinates (H, W) each: the
    same map for every frame. Integer coordinates give exact copies."""
    h, w = clip.shape[1:3]
    y0 = np.floor(sy).astype(np.int64)
    x0 = np.floor(sx).astype(np.int64)
    fy = (sy - y0).astype(np.float32)[None, :, :, None]
    fx = (sx - x0).astype(np.float32)[None, :, :, None]
    out = np.zeros(clip.shape, np.float32)
    inside = np.zeros(sy.shape, np.float32)[None, :, :, None]
    for oy, wy in ((0, 1.0 - fy), (1, fy)):
        for ox, wx in ((0, 1.0 - fx), (1, fx)):
            yy, xx = y0 + oy, x0 + ox
            wgt = wy * wx
            if fill == "edge":
                out += wgt * clip[:, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
            else:
                ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                okw = wgt * ok[None, :, :, None]
                out += okw * clip[:, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
                inside = inside + okw
    if fill == "constant":
        out += (1.0 - inside) * np.float32(fill_value)
    return out


def _to_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x.astype(dtype, copy=False)


def affine(
    clips: np.ndarray,
    angle: np.ndarray | float,
    dy: np.ndarray | int,
    dx: np.ndarray | int,
    fill: str = "edge",
    fill_value: float = 0.0,
) -> np.ndarray:
    """Rotate each clip by ``angle`` degrees about the frame centre, then shift it by (dy, dx)
    pixels; one map per clip, applied to all its frames (bilinear; exact for whole-pixel
    shifts without rotation). Positive angles turn the content counter-clockwise on screen."""
    _check_clips(clips)
    n, _, h, w, _ = clips.shape
    angle = np.broadcast_to(np.asarray(angle, np.float64), (n,))
    dy = np.broadcast_to(np.asarray(dy, np.float64), (n,))
    dx = np.broadcast_to(np.asarray(dx, np.float64), (n,))
    if fill not in FILL_MODES:
        raise ValueError(f"fill {fill!r}: choose from {list(FILL_MODES)}")
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    gy, gx = np.meshgrid(
        np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij"
    )
    out = np.empty_like(clips)
    for i in range(n):
        if angle[i] == 0 and dy[i] == 0 and dx[i] == 0:
            out[i] = clips[i]
            continue
        # inverse map: output pixel -> source pixel (undo the shift, then the rotation)
        ty, tx = gy - dy[i] - cy, gx - dx[i] - cx
        a = np.deg2rad(angle[i])
        c, s = np.cos(a), np.sin(a)
        # content rotated counter-clockwise on screen (y down): source = R(-a) applied to target
        sy = c * ty + s * tx + cy
        sx = -s * ty + c * tx + cx
        if angle[i] == 0:  # whole-pixel shift: keep the coordinates exact
            sy, sx = np.rint(sy), np.rint(sx)
        res = _sample(clips[i].astype(np.float32), sy, sx, fill, fill_value)
        out[i] = _to_dtype(res, clips.dtype)
    return out


def translate(
    clips: np.ndarray,
    dy: np.ndarray | int,
    dx: np.ndarray | int,
    fill: str = "edge",
    fill_value: float = 0.0,
) -> np.ndarray:
    """Shift each clip by whole pixels (dy down, dx right), the same for all its frames."""
    if np.any(np.asarray(dy) != np.rint(dy)) or np.any(np.asarray(dx) != np.rint(dx)):
        raise ValueError("translate takes whole pixels; use affine() for sub-pixel shifts")
    return affine(clips, 0.0, dy, dx, fill, fill_value)


def rotate(
    clips: np.ndarray, angle: np.ndarray | float, fill: str = "edge", fill_value: float = 0.0
) -> np.ndarray:
    """Rotate each clip by ``angle`` degrees (counter-clockwise) about the frame centre."""
    return affine(clips, angle, 0, 0, fill, fill_value)


def _value_range(clips: np.ndarray, config_range: float | None) -> float:
    if config_range is not None:
        return float(config_range)
    return 255.0 if clips.dtype == np.uint8 else 1.0


def add_brightness(
    clips: np.ndarray, delta: np.ndarray | float, value_range: float | None = None
) -> np.ndarray:
    """Add ``delta * value_range`` to every pixel of each clip (one offset per clip)."""
    _check_clips(clips)
    n = clips.shape[0]
    d = np.broadcast_to(np.asarray(delta, np.float64), (n,)) * _value_range(clips, value_range)
    res = clips.astype(np.float32) + d.astype(np.float32)[:, None, None, None, None]
    return _to_dtype(res, clips.dtype)


def add_noise(
    clips: np.ndarray,
    sigma: np.ndarray | float,
    rng: np.random.Generator,
    value_range: float | None = None,
) -> np.ndarray:
    """Gaussian noise with standard deviation ``sigma * value_range`` (one sigma per clip;
    independent noise per pixel and frame, as a camera's)."""
    _check_clips(clips)
    n = clips.shape[0]
    s = np.broadcast_to(np.asarray(sigma, np.float64), (n,)) * _value_range(clips, value_range)
    if not np.any(s > 0):
        return clips.copy()
    noise = rng.standard_normal(clips.shape, dtype=np.float32)
    res = clips.astype(np.float32) + noise * s.astype(np.float32)[:, None, None, None, None]
    return _to_dtype(res, clips.dtype)


# --------------------------------------------------------------------------- all together


def apply_params(
    clips: np.ndarray, params: ClipParams, rng: np.random.Generator, config: AugmentConfig
) -> np.ndarray:
    """Apply drawn parameters: flip, rotation + translation (one resampling), brightness,
    noise. Clips whose ``active`` is False are returned unchanged (no noise either)."""
    _check_clips(clips)
    n = clips.shape[0]
    if len(params.flip) != n:
        raise ValueError(f"params are for {len(params.flip)} clips, got {n}")
    x = clips.copy()
    if params.flip.any():
        x[params.flip] = x[params.flip][:, :, :, ::-1, :]
    x = affine(x, params.angle, params.dy, params.dx, config.fill, config.fill_value)
    if np.any(params.brightness != 0):
        x = add_brightness(x, params.brightness, config.value_range)
    if np.any(params.noise_sigma > 0):
        x = add_noise(x, params.noise_sigma, rng, config.value_range)
    return x


def augment_clips(
    clips: np.ndarray, rng: np.random.Generator, config: AugmentConfig | None = None
) -> np.ndarray:
    """Augmented copy of a batch of TRAINING clips (N, T, H, W, C), uint8 or float.

    One set of parameters per clip, the same for all its frames; deterministic for a given
    generator state (``np.random.default_rng(seed)``). Use only on training clips, after the
    train/test split (module docstring).
    """
    config = config or AugmentConfig()
    _check_clips(clips)
    if config.is_identity:
        return clips.copy()
    return apply_params(clips, sample_params(clips.shape[0], rng, config), rng, config)
