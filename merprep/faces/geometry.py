"""Face crops as affine transforms: one 2x3 matrix maps source pixels to store pixels.

Every frame of a clip is warped with the same matrix (computed from the onset landmarks), so the
few-pixel movements that make a micro-expression are kept rather than smoothed away by per-frame
re-detection. Expressing the crop as a matrix lets alignment (rotation, scale) and reduced-size
decoding (a scale of 1/r) compose exactly, and maps landmarks into store coordinates.
"""

from __future__ import annotations

import numpy as np


def face_box(points: np.ndarray, margin: float = 0.1) -> tuple[float, float, float, float]:
    """A square box around the 68 points, extended upward for the forehead (AU1/AU2 region).

    The 68 points stop at the eyebrows; the box's side is the larger of the points' width and
    1.15 x their height, grown by ``margin`` on every side, centred slightly above the points'
    centre.
    """
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    w, h = x1 - x0, y1 - y0
    side = max(w, 1.15 * h) * (1.0 + 2.0 * margin)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0 - 0.08 * h
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def box_transform(box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """Matrix mapping the box onto a ``size`` x ``size`` output (scale + translation)."""
    x0, y0, x1, _ = box
    s = size / (x1 - x0)
    return np.array([[s, 0.0, -s * x0], [0.0, s, -s * y0]], dtype=np.float64)


def scale_source(matrix: np.ndarray, reduce: int) -> np.ndarray:
    """The same transform for a source decoded at 1/``reduce`` size."""
    m = matrix.copy()
    m[:, :2] *= reduce
    return m


def warp(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Apply the crop/alignment; pixels outside the source repeat the border.

    When the transform shrinks the face by more than 1.25x, warp at about source resolution and
    then area-average down, so downscaling does not alias (warpAffine alone only interpolates).
    """
    import cv2  # here, not at the top: the CLI imports this module just to list --align modes

    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.8:
        inter = int(round(size / scale))
        big = cv2.warpAffine(
            frame,
            matrix * (inter / size),
            (inter, inter),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        out = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    else:
        out = cv2.warpAffine(
            frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    if out.ndim == 2:
        out = out[:, :, None]
    return out


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through the 2x3 matrix."""
    pts = np.asarray(points, dtype=np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
