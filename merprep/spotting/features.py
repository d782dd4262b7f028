"""Per-frame motion of the face's action-unit regions, streamed from the face crops.

For a window of ``K`` kept frames, optical flow (Farneback, on the gray crop resized to
``flow_size``, after registering the earlier frame onto the later by their global shift) from
frame t-K to frame t gives per region r the mean displacement m_r(t), after subtracting the
**nose-bridge reference**'s median displacement (head-motion compensation: a head translation
moves the bridge and every region alike). Then

    D_r(t) = 0.5 * (m_r(t) - m_r(t + K))   ~   x_r(t) - (x_r(t - K) + x_r(t + K)) / 2

is how far region r at frame t is from the average of its positions K frames before and after:
an expression shorter than K frames stands out with its own time profile, while slow drifts
(and any motion linear in time) cancel. The **eyes are masked out** of every region (blinks are
as short as micro-expressions); their own motion is kept as a separate signal so blinks can be
reported. Only one flow per frame per window is computed, and only the last K+1 small frames
are held, so memory does not grow with the video's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: regions scored (subject's right _r is on the image left), in this order
REGIONS = (
    "brow_r",
    "brow_l",
    "nose_wings",
    "upper_lip",
    "mouth_r",
    "mouth_l",
    "chin",
    "cheek_r",
    "cheek_l",
)
#: the lower-face regions talking moves (see classical.talking_spans)
LOWER = ("upper_lip", "mouth_r", "mouth_l", "chin")
EYES = ("eye_r", "eye_l")
FARNEBACK = (0.5, 3, 9, 3, 5, 1.1, 0)


def _box(points: np.ndarray, pad_x: float, pad_y: float) -> tuple[float, float, float, float]:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y


def region_boxes(p: np.ndarray) -> dict[str, tuple[float, float, float, float]]:
    """Boxes (x0, y0, x1, y1) of the scored regions, the eyes and the reference, from 68
    landmarks (any pixel scale), sized by the inter-ocular distance ``d``. Every scored box
    stays inside the face outline, so a head movement never mixes face and backdrop in one."""
    p = np.asarray(p, np.float64)
    d = float(np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0))) or 1.0
    corner = 0.2 * d

    def cheek(jaw: int, wing: int) -> tuple[float, float, float, float]:
        a = p[jaw, 0] + 0.35 * (p[wing, 0] - p[jaw, 0])
        b = p[wing, 0] - 0.08 * d * np.sign(p[wing, 0] - p[jaw, 0])
        return min(a, b), p[29, 1], max(a, b), p[33, 1]

    def brow(points: np.ndarray) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = _box(points, 0.05 * d, 0.0)
        return x0, y0 - 0.25 * d, x1, y1 + 0.02 * d  # mostly above: away from the eyelids

    return {
        "brow_r": brow(p[17:22]),
        "brow_l": brow(p[22:27]),
        "nose_wings": _box(p[31:36], 0.08 * d, 0.06 * d),
        "upper_lip": _box(np.vstack([p[[33]], p[49:54]]), 0.0, 0.0),
        "mouth_r": _box(p[[48, 60]], corner, corner),
        "mouth_l": _box(p[[54, 64]], corner, corner),
        "chin": (p[7, 0], p[57, 1], p[9, 0], p[8, 1] - 0.15 * d),
        "cheek_r": cheek(2, 31),
        "cheek_l": cheek(14, 35),
        "eye_r": _box(p[36:42], 0.2 * d, 0.25 * d),
        "eye_l": _box(p[42:48], 0.2 * d, 0.25 * d),
        "reference": _box(p[27:31], 0.12 * d, 0.0),
    }


@dataclass
class Masks:
    """Boolean (size, size) masks of one landmark set: regions (eyes removed), eyes, reference."""

    regions: np.ndarray  # (R, size, size)
    eyes: np.ndarray  # (2, size, size)
    reference: np.ndarray  # (size, size)


def masks_for(points: np.ndarray, crop_size: int, size: int) -> Masks:
    scale = size / crop_size
    boxes = region_boxes(np.asarray(points) * scale)

    def fill(box: tuple[float, float, float, float]) -> np.ndarray:
        m = np.zeros((size, size), bool)
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        m[max(0, y0) : max(0, y1 + 1), max(0, x0) : max(0, x1 + 1)] = True
        return m

    eyes = np.stack([fill(boxes[e]) for e in EYES])
    keep = ~eyes.any(axis=0)
    regions = np.stack([fill(boxes[r]) & keep for r in REGIONS])
    return Masks(regions, eyes, fill(boxes["reference"]) & keep)


@dataclass
class Motion:
    """Per kept frame, for each window K: region (R, 2) and eye (2, 2) mean displacements."""

    windows: tuple[int, ...]
    regions: dict[int, np.ndarray]  # K -> (N, R, 2): m_r(t) (NaN for t < K)
    eyes: dict[int, np.ndarray]  # K -> (N, 2, 2)

    def contrast(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(|D_r(t)| (N, R), |D_eye(t)| (N, 2)) for window ``k`` (0 where undefined)."""
        d, e = self.vectors(k)
        return np.hypot(d[..., 0], d[..., 1]), np.hypot(e[..., 0], e[..., 1])

    def vectors(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(D_r(t) (N, R, 2), D_eye(t) (N, 2, 2)) for window ``k`` (0 where undefined)."""
        return _contrast(self.regions[k], k), _contrast(self.eyes[k], k)


def _contrast(m: np.ndarray, k: int) -> np.ndarray:
    """D(t); within K frames of either end, where one neighbour is missing, the one-sided
    x(t) - x(t +- K) (so expressions near the ends are seen too; drifts cancel less there)."""
    n = len(m)
    d = np.zeros(m.shape, np.float32)
    if n > 2 * k:
        d[k : n - k] = 0.5 * (m[k : n - k] - m[2 * k :])
    if n > k:
        head = min(k, n - k)
        d[:head] = -m[k : k + head]  # x(t) - x(t + K)
        tail = max(k, n - k)
        d[tail:] = m[tail:]  # x(t) - x(t - K)
    return np.nan_to_num(d)


class MotionStream:
    """Feed gray face crops in order (:meth:`push`); :meth:`result` gives the :class:`Motion`.

    ``landmarks(t)`` is looked up by the caller: each pushed frame comes with the landmark set
    in force (crop pixels), whose masks are computed once per distinct set.
    """

    def __init__(self, windows: Sequence[int], crop_size: int, flow_size: int):
        self.windows = tuple(sorted({int(k) for k in windows}))
        self.crop_size, self.size = crop_size, flow_size
        self._buffer: deque[np.ndarray] = deque(maxlen=max(self.windows) + 1)
        self._regions: dict[int, list[np.ndarray]] = {k: [] for k in self.windows}
        self._eyes: dict[int, list[np.ndarray]] = {k: [] for k in self.windows}
        self._masks: dict[int, Masks] = {}
        self._masks_in_buffer: deque[Masks] = deque(maxlen=max(self.windows) + 1)
        self._nan_r = np.full((len(REGIONS), 2), np.nan, np.float32)
        self._nan_e = np.full((2, 2), np.nan, np.float32)
        self._window = cv2.createHanningWindow((flow_size, flow_size), cv2.CV_32F)

    def push(self, face: np.ndarray, points: np.ndarray, points_key: int) -> None:
        img = np.asarray(face)
        if img.ndim == 3:
            img = img[:, :, 0]
        small = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if points_key not in self._masks:
            self._masks = {points_key: masks_for(points, self.crop_size, self.size)}
        masks = self._masks[points_key]
        self._buffer.append(small)
        self._masks_in_buffer.append(masks)
        n = len(self._buffer)
        for k in self.windows:
            if n <= k:
                self._regions[k].append(self._nan_r)
                self._eyes[k].append(self._nan_e)
                continue
            prev, prev_masks = self._buffer[n - 1 - k], self._masks_in_buffer[n - 1 - k]
            flow = self._flow(prev, small)
            r, e = _region_means(flow, prev_masks)
            self._regions[k].append(r)
            self._eyes[k].append(e)

    def _flow(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        """Flow after registering ``prev`` onto ``cur`` by the global shift (phase correlation):
        flow is most accurate for small motions, so a head movement of a pixel or more would
        otherwise leave errors of a few percent of it, as large as a micro-expression."""
        (sx, sy), _ = cv2.phaseCorrelate(
            prev.astype(np.float32), cur.astype(np.float32), self._window
        )
        if abs(sx) > 0.05 or abs(sy) > 0.05:
            shift = np.array([[1, 0, sx], [0, 1, sy]], np.float32)
            prev = cv2.warpAffine(prev, shift, prev.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
        return cv2.calcOpticalFlowFarneback(prev, cur, None, *FARNEBACK)

    def result(self) -> Motion:
        return Motion(
            self.windows,
            {
                k: np.asarray(v, np.float32).reshape(-1, len(REGIONS), 2)
                for k, v in self._regions.items()
            },
            {k: np.asarray(v, np.float32).reshape(-1, 2, 2) for k, v in self._eyes.items()},
        )


def _region_means(flow: np.ndarray, masks: Masks) -> tuple[np.ndarray, np.ndarray]:
    ref = np.median(flow[masks.reference], axis=0) if masks.reference.any() else np.zeros(2)
    out = np.empty((len(masks.regions), 2), np.float32)
    for i, m in enumerate(masks.regions):
        out[i] = flow[m].mean(axis=0) - ref if m.any() else 0.0
    eyes = np.empty((2, 2), np.float32)
    for i, m in enumerate(masks.eyes):
        eyes[i] = flow[m].mean(axis=0) - ref if m.any() else 0.0
    return out, eyes


def motion_of(
    faces: Iterable[tuple[np.ndarray, np.ndarray]],
    landmarks: np.ndarray,
    landmark_frames: np.ndarray,
    windows: Sequence[int],
    crop_size: int,
    flow_size: int,
) -> tuple[Motion, np.ndarray]:
    """:class:`Motion` of a video given as blocks of (frame numbers, faces); also returns
    every kept frame number. The landmark set in force at a frame is the latest found at or
    before it (the first set before that)."""
    stream = MotionStream(windows, crop_size, flow_size)
    numbers: list[np.ndarray] = []
    lf = np.asarray(landmark_frames)
    for block_numbers, block in faces:
        numbers.append(np.asarray(block_numbers))
        which = np.clip(np.searchsorted(lf, block_numbers, side="right") - 1, 0, len(lf) - 1)
        for j, face in zip(which, block):
            stream.push(face, landmarks[j], int(j))
    return stream.result(), np.concatenate(numbers) if numbers else np.zeros(0, np.int64)
