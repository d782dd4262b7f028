"""Programmed action-unit motions, their temporal profile, and the frame animator.

A micro-expression is rendered as a small, smooth, local warp of the subject's face at rest. Each
action unit (AU) moves a few landmarks (*handles*) by a displacement at the apex; the dense
displacement field is a Gaussian-weighted blend of the handles' displacements, so the motion is
largest at the handles and fades to nothing a couple of sigmas away. Frames are drawn with
``cv2.remap``; a slow sub-pixel head jitter and a little sensor noise keep consecutive frames from
being identical, as in a real recording.

Directions are taken along the face's own axes (:func:`merprep.sample.faces.face_axes`), so the
motions follow the head's small rotation. ``side`` 'R'/'L' is the *subject's* right/left (image
left/right for a frontal face), as the datasets write ``R12``/``L10``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from merprep.sample.faces import REFERENCE_FACE_WIDTH, Rendering, face_axes, face_width

#: Gaussian falloff of a handle's pull, as a fraction of the face width.
SIGMA = 0.06
#: Eyelid motions are kept tight so they do not drag the brows along.
SIGMA_EYELID = 0.035


class FaceFrame:
    """Landmarks plus the face's axes, midline and size: what the AU motions are built from."""

    def __init__(self, landmarks: np.ndarray):
        self.points = np.asarray(landmarks, dtype=np.float64)
        self.right, self.up = face_axes(self.points)
        self.width = face_width(self.points)
        midline = self.points[[8, 27, 28, 29, 30, 33, 51, 57]] @ self.right
        self._mid = float(midline.mean())

    def lateral(self, index: int) -> float:
        """Signed distance of a point from the facial midline along ``right`` (image x)."""
        return float(self.points[index] @ self.right) - self._mid

    def outward(self, index: int) -> np.ndarray:
        """Unit vector from the midline towards the point's side of the face."""
        return self.right * (1.0 if self.lateral(index) >= 0 else -1.0)

    def side_weight(self, index: int, side: str | None) -> float:
        """1 if the point belongs to ``side`` ('R' = subject's right = image left), 0.5 on the
        midline, 0 on the other side; 1 everywhere for bilateral motions."""
        if side is None:
            return 1.0
        lateral = self.lateral(index)
        if abs(lateral) < 0.03 * self.width:
            return 0.5
        subject_right = lateral < 0
        return 1.0 if subject_right == (side == "R") else 0.0


# Each AU motion returns {landmark index: displacement at apex (px)}; amplitude `a` in px.
Motion = Callable[[FaceFrame, float], dict[int, np.ndarray]]


def au1_inner_brow_raiser(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU1: the inner ends of both brows (points 20-23) rise; 19 and 24 follow by half."""
    moves = dict.fromkeys((20, 21, 22, 23), a * face.up)
    moves.update(dict.fromkeys((19, 24), 0.5 * a * face.up))
    return moves


def au2_outer_brow_raiser(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU2: the outer brows (17-19, 24-26) rise; with AU1 the whole brow lifts (surprise)."""
    moves = dict.fromkeys((18, 19, 24, 25), a * face.up)
    moves.update(dict.fromkeys((17, 26), 0.8 * a * face.up))
    return moves


def au4_brow_lowerer(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU4: the brows are lowered, the inner ends most and pulled towards each other (a frown).

    The whole brow moves about as far as in a brow raise (AU1+AU2), only the other way, so the
    amount of brow motion does not tell a frown from surprise; its direction does."""
    moves = {}
    for i, down, inward in (
        (21, 0.8, 0.6),
        (22, 0.8, 0.6),
        (20, 0.9, 0.4),
        (23, 0.9, 0.4),
        (19, 0.9, 0.2),
        (24, 0.9, 0.2),
        (18, 0.8, 0.0),
        (25, 0.8, 0.0),
        (17, 0.6, 0.0),
        (26, 0.6, 0.0),
    ):
        moves[i] = a * (-down * face.up - inward * face.outward(i))
    return moves


def au7_lid_tightener(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU7: the lower lids (40, 41, 46, 47) rise and the upper lids drop a little (narrowing)."""
    moves = dict.fromkeys((40, 41, 46, 47), 0.6 * a * face.up)
    moves.update(dict.fromkeys((37, 38, 43, 44), -0.2 * a * face.up))
    return moves


def au9_nose_wrinkler(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU9: the nose wings (31-35) are drawn up (and the outer wings slightly inwards)."""
    moves = {i: a * (0.95 * face.up - 0.3 * face.outward(i)) for i in (31, 35)}
    moves.update(dict.fromkeys((32, 34), a * face.up))
    moves[33] = 0.5 * a * face.up
    return moves


def au10_upper_lip_raiser(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU10: the upper lip (50-52, less at 49 and 53) is raised towards the nose."""
    moves = dict.fromkeys((50, 51, 52), a * face.up)
    moves.update(dict.fromkeys((49, 53), 0.7 * a * face.up))
    return moves


def au12_lip_corner_puller(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU12: the lip corners (48, 54; inner corners 60, 64 less) move outwards and up: a smile."""
    moves = {i: a * (0.8 * face.outward(i) + 0.6 * face.up) for i in (48, 54)}
    moves.update({i: 0.6 * a * (0.8 * face.outward(i) + 0.6 * face.up) for i in (60, 64)})
    return moves


def au14_dimpler(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU14: the lip corners (48, 54) are tightened inwards (the dimple of contempt/'others')."""
    return {i: a * (-0.95 * face.outward(i) + 0.3 * face.up) for i in (48, 54)}


def au15_lip_corner_depressor(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU15: the lip corners (48, 54) are pulled down (sadness)."""
    return {i: a * (-0.95 * face.up + 0.3 * face.outward(i)) for i in (48, 54)}


def au17_chin_raiser(face: FaceFrame, a: float) -> dict[int, np.ndarray]:
    """AU17: the chin boss (7-9) and lower lip (56-58) are pushed up."""
    moves = dict.fromkeys((56, 57, 58), a * face.up)
    moves.update(dict.fromkeys((7, 8, 9), 0.6 * a * face.up))
    return moves


AU_MOTIONS: dict[int, Motion] = {
    1: au1_inner_brow_raiser,
    2: au2_outer_brow_raiser,
    4: au4_brow_lowerer,
    7: au7_lid_tightener,
    9: au9_nose_wrinkler,
    10: au10_upper_lip_raiser,
    12: au12_lip_corner_puller,
    14: au14_dimpler,
    15: au15_lip_corner_depressor,
    17: au17_chin_raiser,
}
_EYELID_AUS = {7}


class ActionUnit(Protocol):
    """What the animation needs of an AU: its number and side (``merprep.sample.aus.AU``)."""

    @property
    def code(self) -> int: ...

    @property
    def side(self) -> str | None: ...


@dataclass(frozen=True)
class Handle:
    """A control point: its rest position, its displacement at the apex, and its reach."""

    position: np.ndarray
    displacement: np.ndarray
    sigma: float


def handles_for(
    aus: Iterable[ActionUnit], landmarks: np.ndarray, amplitude_px: float
) -> list[Handle]:
    """The handles animating ``aus`` on a face; displacements of a shared point add up.

    ``L``/``R`` codes move one side only; SAMM's ``A``/``B`` prefixes and intensity letters do not
    change the motion. Where AUs share a point (AU1+AU2 at the brows) the summed displacement is
    capped at ``amplitude_px``, so the amplitude is the peak motion whatever the combination.
    Raises ``KeyError`` for an AU without a programmed motion.
    """
    face = FaceFrame(landmarks)
    moves: dict[int, np.ndarray] = {}
    sigmas: dict[int, float] = {}
    for au in aus:
        motion = AU_MOTIONS[au.code]
        side = au.side if au.side in ("L", "R") else None
        sigma = (SIGMA_EYELID if au.code in _EYELID_AUS else SIGMA) * face.width
        for index, move in motion(face, amplitude_px).items():
            weight = face.side_weight(index, side)
            if weight == 0.0:
                continue
            moves[index] = moves.get(index, np.zeros(2)) + weight * move
            sigmas[index] = max(sigmas.get(index, 0.0), sigma)
    handles = []
    for i in sorted(moves):
        norm = float(np.linalg.norm(moves[i]))
        move = moves[i] * (amplitude_px / norm) if norm > amplitude_px else moves[i]
        handles.append(Handle(face.points[i], move, sigmas[i]))
    return handles


def displacement_field(handles: list[Handle], size: tuple[int, int]) -> np.ndarray:
    """Dense (H, W, 2) float32 field: sum_i w_i d_i / max(1, sum_i w_i), w_i Gaussian.

    Normalising by the total weight where handles overlap keeps neighbouring handles (e.g. the
    five points of a brow) from adding up to more than their own displacement. The field is only
    computed inside the handles' 3-sigma box and is zero elsewhere.
    """
    width, height = size
    field = np.zeros((height, width, 2), np.float32)
    if not handles:
        return field
    pos = np.array([h.position for h in handles])
    reach = 3.0 * max(h.sigma for h in handles)
    x0, y0 = np.maximum(np.floor(pos.min(axis=0) - reach), 0).astype(int)
    x1 = int(min(math.ceil(pos[:, 0].max() + reach), width))
    y1 = int(min(math.ceil(pos[:, 1].max() + reach), height))
    if x1 <= x0 or y1 <= y0:
        return field
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    total = np.zeros(yy.shape, np.float32)
    acc = np.zeros(yy.shape + (2,), np.float32)
    for h in handles:
        w = np.exp(-((xx - h.position[0]) ** 2 + (yy - h.position[1]) ** 2) / (2 * h.sigma**2))
        total += w
        acc += w[:, :, None] * h.displacement.astype(np.float32)
    field[y0:y1, x0:x1] = acc / np.maximum(total, 1.0)[:, :, None]
    return field


def motion_region(field: np.ndarray, fraction: float = 0.2) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1), end-exclusive, where the motion is >= ``fraction`` of its
    peak: the region a test should look at."""
    magnitude = np.hypot(field[:, :, 0], field[:, :, 1])
    peak = float(magnitude.max())
    if peak == 0.0:
        return (0, 0, 0, 0)
    ys, xs = np.nonzero(magnitude >= fraction * peak)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def intensity(t: float, onset: float, apex: float, offset: float) -> float:
    """Temporal profile: 0 at (and before) onset, raised-cosine rise to 1 at the apex, raised-cosine
    fall back to 0 at (and after) the offset."""
    if t <= onset or t >= offset:
        return 0.0
    if t <= apex:
        return 0.5 - 0.5 * math.cos(math.pi * (t - onset) / (apex - onset))
    return 0.5 + 0.5 * math.cos(math.pi * (t - apex) / (offset - apex))


@dataclass
class Expression:
    """One programmed micro-expression: its displacement field and its timing (frame numbers)."""

    field: np.ndarray
    onset: float
    apex: float
    offset: float


class Animator:
    """Draws the frames of one continuous recording of a rendered subject.

    Call :meth:`frame` once per recorded frame, in time order (also for frames a layout then
    drops): the head jitter is a random walk that advances with each call. All randomness comes
    from ``rng``, so a recording is reproducible.

    Only the head moves: the jitter is weighted by a window that is 1 over the face and fades to
    0 at the edge of a box around it, so the backdrop stays still (and only that box is
    resampled, which keeps large frames fast).
    """

    NOISE_PAD = 16

    def __init__(
        self,
        rendering: Rendering,
        rng: np.random.Generator,
        *,
        jitter_px: float | None = None,
        noise_sigma: float = 1.2,
    ):
        self.rendering = rendering
        self.rng = rng
        width, height = rendering.size
        self.box = _head_box(rendering.landmarks, width, height)
        x0, y0, x1, y1 = self.box
        xs, ys = np.meshgrid(
            np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32)
        )
        self._grid = np.dstack([xs, ys])
        self._head_weight = _window(y1 - y0, x1 - x0)[:, :, None]
        # Jitter: an Ornstein-Uhlenbeck walk with stationary std `jitter_px` (default 0.1 px at
        # CASME II face scale, scaled to this face, as head motion scales with it), clipped at 1 px.
        if jitter_px is None:
            jitter_px = 0.1 * rendering.face_width / REFERENCE_FACE_WIDTH
        self._jitter = np.clip(rng.normal(0.0, jitter_px, 2), -1.0, 1.0)
        self._jitter_step = jitter_px * math.sqrt(1 - 0.8**2)
        # Sensor noise: one Gaussian tile per recording, cut at a random offset for each frame;
        # kept as its positive and negative parts so that adding it is two saturating uint8 ops.
        channels = rendering.image.shape[2:]  # () for gray
        tile = (height + self.NOISE_PAD, width + self.NOISE_PAD) + channels
        noise = np.rint(noise_sigma * rng.standard_normal(size=tile, dtype=np.float32))
        self._noise_up = np.clip(noise, 0, 255).astype(np.uint8)
        self._noise_down = np.clip(-noise, 0, 255).astype(np.uint8)

    def frame(self, t: float, expressions: Iterable[Expression] = ()) -> np.ndarray:
        """The image at time ``t`` (a frame number in the expressions' time base)."""
        x0, y0, x1, y1 = self.box
        self._jitter = np.clip(
            0.8 * self._jitter + self.rng.normal(0.0, self._jitter_step, 2), -1.0, 1.0
        )
        # Backward map: output pixel x shows the rest image at x - d(x), so content moves by d.
        mapping: np.ndarray = self._grid - self._head_weight * self._jitter.astype(np.float32)
        for e in expressions:
            s = intensity(t, e.onset, e.apex, e.offset)
            if s > 0.0:
                mapping -= np.float32(s) * e.field[y0:y1, x0:x1]
        image = self.rendering.image.copy()
        image[y0:y1, x0:x1] = cv2.remap(
            self.rendering.image, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        ox, oy = self.rng.integers(0, self.NOISE_PAD, size=2)
        height, width = image.shape[:2]
        image = cv2.add(image, self._noise_up[oy : oy + height, ox : ox + width])
        return cv2.subtract(image, self._noise_down[oy : oy + height, ox : ox + width])

    def expression(
        self,
        aus: Iterable[ActionUnit],
        amplitude_px: float,
        onset: float,
        apex: float,
        offset: float,
    ) -> Expression:
        """Build the :class:`Expression` for ``aus`` on this subject's face."""
        handles = handles_for(aus, self.rendering.landmarks, amplitude_px)
        return Expression(displacement_field(handles, self.rendering.size), onset, apex, offset)


def _head_box(landmarks: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The box around the face (landmarks plus 0.6 face widths each side) that moves."""
    margin = 0.6 * face_width(landmarks)
    x0, y0 = np.floor(landmarks.min(axis=0) - margin).astype(int)
    x1, y1 = np.ceil(landmarks.max(axis=0) + margin).astype(int)
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height)


def _window(height: int, width: int, ramp: float = 0.25) -> np.ndarray:
    """(height, width) float32: 1 in the middle, raised-cosine ramps to 0 over the outer
    ``ramp`` fraction of each side (with the head box's margins, the ramps stay off the face)."""

    def profile(n: int) -> np.ndarray:
        x = (np.arange(n, dtype=np.float32) + 0.5) / n
        edge = np.minimum(x, 1 - x) / ramp
        return np.where(edge >= 1, 1.0, 0.5 - 0.5 * np.cos(np.pi * np.clip(edge, 0, 1)))

    return np.outer(profile(height), profile(width)).astype(np.float32)
