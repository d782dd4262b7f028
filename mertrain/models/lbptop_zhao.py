"""LBP-TOP as Zhao's reference code computes it (``method="zhao"`` of ``lbptop-svm``).

The MEGC2019 baseline is LBP-TOP + SVM; the only public MEGC-style baseline code found is MEB's
port of Zhao's Matlab ``LBPTOP`` (tvaranka/meb ``meb/utils/traditional_methods.py:53-252``,
called by ``calculate_lbptop`` at ``:467-477`` with R_xy = R_t = 3, P = 8, u2 patterns, an
8 x 8 block grid with 70 % overlap, raw counts; docs/references.md#audit-1-1-9 and #audit-4).
What differs from the scikit-image computation of :mod:`mertrain.models.lbptop`:

- neighbours are sampled at the **nearest pixel** (``floor(c + R cos + 0.5)``), not bilinearly;
- XY: (x + R cos a, y - R sin a); XT: (x + R cos a, t - R_t sin a); YT: (y - R cos a,
  t - R_t sin a), a = 2 pi p / P, bit p set when the neighbour is >= the centre (the XY centre
  for all three planes);
- u2 mapping: the uniform patterns numbered in increasing code order, every other code in the
  last bin (P (P - 1) + 3 bins);
- blocks overlap (Zhao's formulas below); a pixel in an overlap counts in its block and, when
  the next block's index differs in rows or columns, in that block too (once, not in all four
  of a corner overlap, as the reference code does);
- raw counts, no normalisation; frames ``R_t .. T-1-R_t``, pixels ``R .. size-1-R`` (the
  reference's ``time_length`` and ``border_length`` equal to the radii, as MEB calls it).

Vectorised with numpy; ``tests/test_models.py`` checks it against a per-pixel loop written in the
test from the reference's definition.
"""

from __future__ import annotations

import math

import numpy as np

#: MEB's ``calculate_lbptop`` overlap ratio (``overratio = 0.7``)
OVERLAP = 0.7


def u2_mapping(p: int) -> np.ndarray:
    """Code -> bin for P-bit patterns: uniform ones (<= 2 circular 0/1 transitions) numbered in
    increasing code order, the rest in bin P (P - 1) + 2."""
    last = p * (p - 1) + 2
    table = np.full(2**p, last, dtype=np.int64)
    index = 0
    for code in range(2**p):
        bits = [(code >> i) & 1 for i in range(p)]
        if sum(bits[i] != bits[(i + 1) % p] for i in range(p)) <= 2:
            table[code] = index
            index += 1
    return table


def block_indices(
    length: int, border: int, n: int, overlap: float
) -> tuple[np.ndarray, np.ndarray]:
    """(block, next block) of every position ``border .. length-1-border`` along one axis, by
    the reference's formulas (1-based positions c = border+1 .. length-border)::

        noover = ceil((L - 2b) / n) - 1;  over = ceil(noover * overlap) - 1
        block = floor((L - 2b + over (n - 1)) / n)
        cur = 0 if c - b - block - 1 < 0 else floor((c - b - block - 1) / (block - over) + 1)
        new = ceil((c - b + (cur + 1) over) / block) - 1      (both capped at n - 1)
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    span = length - 2 * border
    noover = math.ceil(span / n) - 1
    over = math.ceil(noover * overlap) - 1
    block = math.floor((span + over * (n - 1)) / n)
    if block < 1 or block - over < 1:
        raise ValueError(f"{length} px with border {border} is too small for {n} blocks")
    c = np.arange(border + 1, length - border + 1)
    cur = np.where(
        c - border - block - 1 < 0, 0, np.floor((c - border - block - 1) / (block - over) + 1)
    )
    cur = np.minimum(cur, n - 1)
    new = np.minimum(np.ceil((c - border + (cur + 1) * over) / block) - 1, n - 1)
    return cur.astype(np.int64), new.astype(np.int64)


def _offsets(p: int, r: int, rt: int) -> list[list[tuple[int, int, int]]]:
    """(dt, dy, dx) of every neighbour, per plane XY, XT, YT (nearest pixel)."""

    def near(v: float) -> int:
        return math.floor(v + 0.5)

    angles = [2 * np.pi * k / p for k in range(p)]
    xy = [(0, near(-r * np.sin(a)), near(r * np.cos(a))) for a in angles]
    xt = [(near(-rt * np.sin(a)), 0, near(r * np.cos(a))) for a in angles]
    yt = [(near(-rt * np.sin(a)), near(-r * np.cos(a)), 0) for a in angles]
    return [xy, xt, yt]


def zhao_lbptop(
    volume: np.ndarray,
    neighbors: int,
    radius: int,
    radius_t: int,
    rows: int,
    cols: int,
    overlap: float = OVERLAP,
) -> np.ndarray:
    """LBP-TOP histograms of a gray (T, H, W) volume: rows x cols blocks x 3 planes x bins,
    raw counts, in block-major order (block, plane, bin)."""
    v = np.asarray(volume)
    t, h, w = v.shape
    if t - 2 * radius_t < 1 or min(h, w) - 2 * radius < 1:
        raise ValueError(f"clip {v.shape} is too small for radii ({radius}, {radius_t})")
    mapping = u2_mapping(neighbors)
    n_bins = int(mapping.max()) + 1
    ts, ys, xs = slice(radius_t, t - radius_t), slice(radius, h - radius), slice(radius, w - radius)
    centre = v[ts, ys, xs]
    cur_r, new_r = block_indices(h, radius, rows, overlap)
    cur_c, new_c = block_indices(w, radius, cols, overlap)
    first = (cur_r[:, None] * cols + cur_c[None, :])[None]  # (1, H', W')
    second = (new_r[:, None] * cols + new_c[None, :])[None]
    twice = np.broadcast_to(second != first, centre.shape)
    hist = np.zeros(rows * cols * 3 * n_bins, dtype=np.int64)
    for plane, offsets in enumerate(_offsets(neighbors, radius, radius_t)):
        code = np.zeros(centre.shape, dtype=np.int64)
        for bit, (dt, dy, dx) in enumerate(offsets):
            shifted = v[
                radius_t + dt : t - radius_t + dt,
                radius + dy : h - radius + dy,
                radius + dx : w - radius + dx,
            ]
            code |= (shifted >= centre).astype(np.int64) << bit
        binned = mapping[code]
        for blocks, mask in ((first, None), (second, twice)):
            index = (np.broadcast_to(blocks, centre.shape) * 3 + plane) * n_bins + binned
            hist += np.bincount(index.ravel() if mask is None else index[mask], minlength=hist.size)
    return hist.astype(np.float32)
