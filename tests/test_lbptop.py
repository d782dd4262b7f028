"""LBP-TOP as the MEGC baseline computes it (``lbptop-svm`` with ``method="zhao"``), checked
against an independent computation written here, pixel by pixel, from the reference's
definition (Zhao's LBPTOP as MEB ports it: meb/utils/traditional_methods.py:53-252), with its
1-based indices; and today's scikit-image variant kept beside it by name."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mertrain.models.lbptop import lbptop_features
from mertrain.models.registry import make_config


def reference_u2(p):
    """Zhao's getmapping(P, 'u2'): j = i rotated left by one bit; transitions = bits of i ^ j."""
    table, index = list(range(2**p)), 0
    for i in range(2**p):
        j = ((i << 1) | ((i >> (p - 1)) & 1)) & (2**p - 1)
        if bin(i ^ j).count("1") <= 2:
            table[i] = index
            index += 1
        else:
            table[i] = p * (p - 1) + 2
    return table


def reference_lbptop(video, r, rt, p, rows, cols, overratio):
    """Per pixel, as the reference loops (video (H, W, T), 1-based xc, yc, frame i)."""
    height, width, n_frames = video.shape
    border, time_length = r, rt
    code = reference_u2(p)
    bins = p * (p - 1) + 3
    hist = np.zeros((rows * cols * 3, bins))
    noover_w = math.ceil((width - 2 * border) / cols) - 1
    noover_h = math.ceil((height - 2 * border) / rows) - 1
    over_x = math.ceil(noover_w * overratio) - 1
    over_y = math.ceil(noover_h * overratio) - 1
    block_w = math.floor((width - 2 * border + over_x * (cols - 1)) / cols)
    block_h = math.floor((height - 2 * border + over_y * (rows - 1)) / rows)

    def at(y, x, t):  # 1-based spatial indices, 0-based frame
        return video[y - 1, x - 1, t]

    for i in range(time_length, n_frames - time_length):
        for yc in range(border + 1, height - border + 1):
            for xc in range(border + 1, width - border + 1):
                cur_r = (
                    0
                    if yc - border - block_h - 1 < 0
                    else math.floor((yc - border - block_h - 1) / (block_h - over_y) + 1)
                )
                cur_c = (
                    0
                    if xc - border - block_w - 1 < 0
                    else math.floor((xc - border - block_w - 1) / (block_w - over_x) + 1)
                )
                cur_r, cur_c = min(cur_r, rows - 1), min(cur_c, cols - 1)
                new_r = min(math.ceil((yc - border + (cur_r + 1) * over_y) / block_h) - 1, rows - 1)
                new_c = min(math.ceil((xc - border + (cur_c + 1) * over_x) / block_w) - 1, cols - 1)
                centre = at(yc, xc, i)
                codes = [0, 0, 0]
                for k in range(p):
                    a = 2 * np.pi * k / p
                    x = math.floor(xc + r * np.cos(a) + 0.5)
                    y = math.floor(yc - r * np.sin(a) + 0.5)
                    z = math.floor(i - rt * np.sin(a) + 0.5)
                    yy = math.floor(yc - r * np.cos(a) + 0.5)
                    codes[0] += (at(y, x, i) >= centre) << k  # XY
                    codes[1] += (at(yc, x, z) >= centre) << k  # XT
                    codes[2] += (at(yy, xc, z) >= centre) << k  # YT
                for plane in range(3):
                    hist[(cur_r * cols + cur_c) * 3 + plane, code[codes[plane]]] += 1
                    if new_r != cur_r or new_c != cur_c:
                        hist[(new_r * cols + new_c) * 3 + plane, code[codes[plane]]] += 1
    return hist.reshape(-1)


@pytest.mark.parametrize(
    "shape,r,rt,grid,smooth",
    [
        ((10, 26, 22), 3, 3, (4, 3), False),
        ((7, 20, 20), 1, 1, (3, 3), True),
        ((9, 24, 24), 2, 3, (2, 4), False),
    ],
)
def test_zhao_lbptop_equals_the_reference_computation(shape, r, rt, grid, smooth):
    rng = np.random.default_rng(sum(shape))
    volume = rng.integers(0, 256, shape).astype(np.float64)
    if smooth:  # many ties between neighbours and centre: '>=' must be kept
        volume = np.round(volume / 64) * 64
    volume = volume.astype(np.uint8)
    cfg = make_config("lbptop-svm", method="zhao", frames=shape[0], size=shape[1], grid=grid,
                      radius_xy=r, radius_t=rt)  # fmt: skip
    ours = lbptop_features(volume[..., None], cfg)
    reference = reference_lbptop(volume.transpose(1, 2, 0), r, rt, 8, *grid, 0.7)
    assert ours.shape == reference.shape == (cfg.feature_length,)
    np.testing.assert_array_equal(ours, reference)


def test_megc_baseline_preset_is_mebs_call():
    cfg = make_config("lbptop-svm", preset="megc-baseline")
    assert (cfg.method, cfg.frames, cfg.grid, cfg.radius_xy, cfg.radius_t) == (
        "zhao",
        10,
        (8, 8),
        3,
        3,
    )
    assert cfg.feature_length == 11328  # calculate_lbptop's np.zeros((n, 11328))
    clip = np.random.default_rng(0).integers(0, 256, (10, 48, 48, 1)).astype(np.uint8)
    small = make_config("lbptop-svm", preset="megc-baseline", size=48)
    f = lbptop_features(clip, small)
    interior = (10 - 6) * 42 * 42  # every pixel counts once in its own block, some twice
    assert f.shape == (11328,) and 3 * interior < f.sum() < 6 * interior


def test_the_scikit_image_variant_is_kept_by_name_and_differs():
    clip = np.random.default_rng(1).integers(0, 256, (8, 32, 32, 1)).astype(np.uint8)
    today = make_config("lbptop-svm", frames=8, size=32, grid=(2, 2))
    assert today.method == "nri_uniform" and today.feature_length == 2 * 2 * 3 * 59
    zhao = make_config("lbptop-svm", frames=8, size=32, grid=(2, 2), method="zhao")
    a, b = lbptop_features(clip, today), lbptop_features(clip, zhao)
    assert a.shape == b.shape and abs(a.sum() - 1.0 * 2 * 2 * 3) < 1e-4  # normalised blocks
    assert not np.allclose(a / a.sum(), b / b.sum())  # bilinear vs nearest-pixel sampling
    with pytest.raises(ValueError, match="one time block"):
        make_config("lbptop-svm", method="zhao", time_blocks=2)
