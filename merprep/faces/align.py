"""Alignment modes (``--align``): landmarks at source resolution -> one 2x3 crop matrix.

Each function takes the 68 landmarks found on the onset frame (source pixels), the output size
and the margin, and returns the matrix that every frame of the clip is warped with (one matrix
per clip, so the clip's own small movements stay in the frames).

- ``none``: an axis-parallel square box around the face (no rotation, no scaling beyond the
  crop's own).
- ``eyes``: rotate so the eye centres are level and scale/translate so they land on fixed output
  positions (:func:`eye_positions`): the right eye (image left) at (0.29, 0.272) x size, the
  left eye at (0.71, 0.272) x size when ``margin`` is 0; a larger margin shrinks the face about
  the output centre by 1 / (1 + 2 margin), as ``none`` grows its box by ``margin`` on each side.
- ``similarity``: the least-squares similarity transform (Umeyama) of all 68 points onto the
  mean-face :data:`TEMPLATE`, placed and shrunk by the margin in the same way. Uses every point,
  so it is steadier than ``eyes`` when one eye's landmarks are off, but the eyes land only near
  (not exactly on) the ``eyes`` positions.

All layouts are in *face-box units*: (0, 0)-(1, 1) is the box ``none`` would crop at margin 0
around the template face, so the three modes frame a frontal face alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from merprep.faces.base import eye_centres
from merprep.faces.geometry import box_transform, face_box, transform_points

#: Mean face in face-box units (x right, y down; iBUG 68-point order). Built by
#: :func:`build_template` from the dlib landmarks of the two shipped photographs
#: (merprep/sample/photos/landmarks.json) and their mirror images, so it is exactly left-right
#: symmetric; eyes levelled, then mapped by ``none``'s margin-0 face box onto the unit square.
TEMPLATE = np.array(
    [
        (0.0467, 0.3099),
        (0.0604, 0.4272),
        (0.0765, 0.5409),
        (0.0991, 0.6522),
        (0.1365, 0.7609),
        (0.1951, 0.8595),
        (0.2850, 0.9319),
        (0.3825, 0.9893),
        (0.5000, 1.0043),
        (0.6175, 0.9893),
        (0.7150, 0.9319),
        (0.8049, 0.8595),
        (0.8635, 0.7609),
        (0.9009, 0.6522),
        (0.9235, 0.5409),
        (0.9396, 0.4272),
        (0.9533, 0.3099),
        (0.1139, 0.2264),
        (0.1612, 0.1587),
        (0.2399, 0.1348),
        (0.3250, 0.1395),
        (0.3986, 0.1709),
        (0.6014, 0.1709),
        (0.6750, 0.1395),
        (0.7601, 0.1348),
        (0.8388, 0.1587),
        (0.8861, 0.2264),
        (0.5000, 0.2621),
        (0.5000, 0.3444),
        (0.5000, 0.4246),
        (0.5000, 0.5119),
        (0.4001, 0.5545),
        (0.4487, 0.5671),
        (0.5000, 0.5821),
        (0.5513, 0.5671),
        (0.5999, 0.5545),
        (0.2141, 0.2762),
        (0.2603, 0.2437),
        (0.3201, 0.2412),
        (0.3713, 0.2874),
        (0.3152, 0.2923),
        (0.2604, 0.2923),
        (0.6287, 0.2874),
        (0.6799, 0.2412),
        (0.7397, 0.2437),
        (0.7859, 0.2762),
        (0.7396, 0.2923),
        (0.6848, 0.2923),
        (0.3068, 0.6802),
        (0.3767, 0.6638),
        (0.4488, 0.6586),
        (0.5000, 0.6724),
        (0.5512, 0.6586),
        (0.6233, 0.6638),
        (0.6932, 0.6802),
        (0.6257, 0.7458),
        (0.5560, 0.7755),
        (0.5000, 0.7844),
        (0.4440, 0.7755),
        (0.3743, 0.7458),
        (0.3283, 0.6863),
        (0.4465, 0.6924),
        (0.5000, 0.6999),
        (0.5535, 0.6924),
        (0.6717, 0.6863),
        (0.5537, 0.7255),
        (0.5000, 0.7292),
        (0.4463, 0.7255),
    ],
    dtype=np.float64,
)

#: ``eyes`` output positions at margin 0, in face-box units: (right eye, left eye), the
#: template's eye centres rounded.
EYES_AT = ((0.29, 0.272), (0.71, 0.272))


def _place(unit_points: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Face-box units -> output pixels: shrink about the centre by 1/(1+2 margin), scale."""
    return (0.5 + (np.asarray(unit_points, np.float64) - 0.5) / (1.0 + 2.0 * margin)) * size


def eye_positions(size: int, margin: float) -> np.ndarray:
    """(2, 2) output pixels where ``eyes`` puts the (right, left) eye centres."""
    return _place(np.array(EYES_AT), size, margin)


def template_points(size: int, margin: float) -> np.ndarray:
    """(68, 2) output pixels the ``similarity`` mode fits the landmarks onto."""
    return _place(TEMPLATE, size, margin)


def similarity_lstsq(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity (rotation, uniform scale, translation) minimising sum |M src - dst|^2.

    Umeyama (1991), closed form; no reflection. Unlike cv2.estimateAffinePartial2D this is a
    plain least-squares fit (no RANSAC), so it is deterministic and uses every point.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    fix = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(sig) @ fix) / (s**2).sum(axis=1).mean())
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def align_none(points: np.ndarray, size: int, margin: float) -> np.ndarray:
    return box_transform(face_box(points, margin), size)


def align_eyes(points: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Similarity that maps the two eye centres exactly onto :func:`eye_positions`."""
    src_r, src_l = eye_centres(np.asarray(points, np.float64))
    dst_r, dst_l = eye_positions(size, margin)
    v, w = src_l - src_r, dst_l - dst_r
    # As complex numbers: z -> a z + b with a = w / v maps src_r -> dst_r and src_l -> dst_l.
    a = complex(*w) / complex(*v)
    rot = np.array([[a.real, -a.imag], [a.imag, a.real]])
    t = dst_r - rot @ src_r
    return np.hstack([rot, t[:, None]])


def align_similarity(points: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Least-squares similarity of all 68 points onto :func:`template_points`."""
    return similarity_lstsq(points, template_points(size, margin))


def build_template(
    shapes: Sequence[np.ndarray], mirror_index: np.ndarray | None = None, iterations: int = 50
) -> np.ndarray:
    """Mean face (generalised Procrustes) in face-box units; how :data:`TEMPLATE` was made.

    With ``mirror_index`` (68-point left-right partner of each point) every shape's mirror image
    is added, which makes the mean exactly symmetric.
    """
    shapes = [np.asarray(s, np.float64) for s in shapes]
    if mirror_index is not None:
        shapes += [np.column_stack([-s[:, 0], s[:, 1]])[mirror_index] for s in list(shapes)]
    mean = shapes[0] - shapes[0].mean(axis=0)
    for _ in range(iterations):
        aligned = [
            transform_points(s, similarity_lstsq(s, mean)).astype(np.float64) for s in shapes
        ]
        new = np.mean(aligned, axis=0)
        new -= new.mean(axis=0)
        new /= np.sqrt((new**2).sum(axis=1).mean())
        done = np.abs(new - mean).max() < 1e-10
        mean = new
        if done:
            break
    right, left = eye_centres(mean)
    angle = np.arctan2(left[1] - right[1], left[0] - right[0])
    c, s = np.cos(angle), np.sin(angle)
    mean = mean @ np.array([[c, -s], [s, c]])  # rotate by -angle: eyes level
    return transform_points(mean, box_transform(face_box(mean, 0.0), 1)).astype(np.float64)


#: --align name -> function(landmarks, size, margin) -> 2x3 matrix
ALIGNERS: dict[str, Callable[[np.ndarray, int, float], np.ndarray]] = {
    "none": align_none,
    "eyes": align_eyes,
    "similarity": align_similarity,
}
