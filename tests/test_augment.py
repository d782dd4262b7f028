"""mertrain.augment: one transform per clip (frame differences preserved), seeded, shape/dtype
kept, flips are involutions, checks in AugmentConfig."""

from __future__ import annotations

import numpy as np
import pytest

from mertrain.augment import (
    AugmentConfig,
    add_brightness,
    add_noise,
    affine,
    augment_clips,
    hflip,
    rotate,
    sample_params,
    translate,
)


def _clips(dtype=np.float32, n=4, t=5, h=24, w=20, c=3, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, (n, t, h, w, c), dtype=np.uint8)
    return rng.random((n, t, h, w, c), dtype=np.float32)


def _diffs(x):
    x = x.astype(np.float64)
    return x - x[:, :1]


def test_flip_of_flip_is_identity():
    for dtype in (np.uint8, np.float32):
        x = _clips(dtype)
        assert np.array_equal(hflip(hflip(x)), x)
        assert hflip(x).dtype == dtype and hflip(x).shape == x.shape
        assert np.array_equal(hflip(x)[..., 0, :], x[..., -1, :])


def test_flip_preserves_frame_differences():
    x = _clips()
    assert np.allclose(_diffs(hflip(x)), hflip(_diffs(x).astype(np.float32)), atol=1e-6)


@pytest.mark.parametrize("fill", ["edge", "constant"])
def test_translation_is_exact_and_same_for_every_frame(fill):
    x = _clips()
    dy, dx = np.array([3, -2, 0, 5]), np.array([-4, 1, 2, 0])
    y = translate(x, dy, dx, fill=fill)
    for i in range(len(x)):
        # interior: an exact shift of every frame by the same (dy, dx)
        src = x[
            i,
            :,
            max(0, -dy[i]) : x.shape[2] - max(0, dy[i]),
            max(0, -dx[i]) : x.shape[3] - max(0, dx[i]),
        ]
        dst = y[
            i,
            :,
            max(0, dy[i]) : x.shape[2] + min(0, dy[i]),
            max(0, dx[i]) : x.shape[3] + min(0, dx[i]),
        ]
        assert np.array_equal(src, dst)
    # frame differences of the shifted clip == shifted frame differences (whole image; with a
    # constant fill the border is the fill value in every frame, so 0 in both)
    d = _diffs(x).astype(np.float32)
    expected = translate(d, dy, dx, fill=fill)
    assert np.allclose(_diffs(y), expected, atol=1e-5)


def test_rotation_preserves_frame_differences_and_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    x = _clips(h=32, w=32, c=1)
    ang = np.array([7.0, -13.0, 0.0, 3.5])
    y = rotate(x, ang)
    assert np.allclose(_diffs(y), rotate(_diffs(x).astype(np.float32), ang), atol=1e-5)
    # direction and centre as OpenCV (positive = counter-clockwise), away from the border
    m = cv2.getRotationMatrix2D(((32 - 1) / 2, (32 - 1) / 2), 7.0, 1.0)
    ref = cv2.warpAffine(
        x[0, 2, :, :, 0], m, (32, 32), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    assert np.abs(ref[6:-6, 6:-6] - y[0, 2, 6:-6, 6:-6, 0]).max() < 0.02


def test_same_parameters_for_every_frame_of_a_clip():
    """A clip of identical frames stays a clip of identical frames (geometry + brightness)."""
    base = _clips(n=6, t=1)
    x = np.repeat(base, 4, axis=1)
    cfg = AugmentConfig(
        flip_prob=0.5, max_translate=3, max_rotate=10, brightness=0.2, noise_std=0.0
    )
    y = augment_clips(x, np.random.default_rng(1), cfg)
    assert np.allclose(y, y[:, :1], atol=1e-6)
    assert not np.allclose(y, x)


def test_augment_keeps_frame_differences_without_noise():
    x = _clips(n=8)
    cfg = AugmentConfig(max_translate=4, max_rotate=0.0, brightness=0.1, noise_std=0.0)
    rng = np.random.default_rng(3)
    params = sample_params(len(x), rng, cfg)
    y = augment_clips(x, np.random.default_rng(3), cfg)
    d = _diffs(x).astype(np.float32)
    d = np.where(params.flip[:, None, None, None, None], d[:, :, :, ::-1], d)
    assert np.allclose(_diffs(y), translate(d, params.dy, params.dx), atol=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_shapes_dtypes_and_determinism(dtype):
    x = _clips(dtype, n=5, t=3, h=16, w=18, c=2)
    cfg = AugmentConfig(max_translate=2, max_rotate=5, noise_std=0.02, brightness=0.05)
    a = augment_clips(x, np.random.default_rng(7), cfg)
    b = augment_clips(x, np.random.default_rng(7), cfg)
    c = augment_clips(x, np.random.default_rng(8), cfg)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.shares_memory(a, x)


def test_uint8_results_are_clipped():
    x = np.full((2, 2, 4, 4, 1), 250, np.uint8)
    assert add_brightness(x, 0.1).max() == 255
    assert add_brightness(x, -2.0).min() == 0
    y = add_noise(x, 0.5, np.random.default_rng(0))
    assert y.dtype == np.uint8


def test_noise_and_brightness_scale():
    x = np.zeros((2, 3, 32, 32, 1), np.float32)
    y = add_noise(x, np.array([0.1, 0.0]), np.random.default_rng(0))
    assert abs(y[0].std() - 0.1) < 0.01 and np.all(y[1] == 0)
    z = add_brightness(x, np.array([0.2, -0.1]))
    assert np.allclose(z[0], 0.2) and np.allclose(z[1], -0.1)


def test_identity_config_and_inactive_clips():
    x = _clips()
    assert np.array_equal(
        augment_clips(
            x,
            np.random.default_rng(0),
            AugmentConfig(flip_prob=0, max_translate=0, max_rotate=0, noise_std=0),
        ),
        x,
    )
    assert np.array_equal(augment_clips(x, np.random.default_rng(0), AugmentConfig(prob=0)), x)
    assert np.array_equal(affine(x, 0.0, 0, 0), x)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flip_prob": 1.5},
        {"prob": -0.1},
        {"max_translate": -1},
        {"max_translate": 2.5},
        {"max_rotate": 200},
        {"noise_std": -0.1},
        {"brightness": -1},
        {"fill": "wrap"},
        {"value_range": 0},
    ],
)
def test_config_checks(kwargs):
    with pytest.raises(ValueError):
        AugmentConfig(**kwargs)


def test_input_checks():
    with pytest.raises(ValueError):
        hflip(np.zeros((2, 8, 8, 3), np.float32))  # not a clip batch
    with pytest.raises(TypeError):
        augment_clips(np.zeros((1, 2, 4, 4, 1), np.int32), np.random.default_rng(0))
    with pytest.raises(TypeError):
        sample_params(3, np.random.RandomState(0), AugmentConfig())
    with pytest.raises(ValueError):
        translate(_clips(), 0.5, 0)
