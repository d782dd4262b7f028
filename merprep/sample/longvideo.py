"""Long sample videos: untrimmed recordings with programmed ME and MaE intervals and distractors.

Each video is one continuous recording of a rendered subject (:mod:`merprep.sample.faces`)
holding, at random but reproducible times:

- micro- and macro-expressions (AU motions of :mod:`merprep.sample.motion`, raised-cosine onset
  -> apex -> offset, of the lengths the real dataset's annotations have; MaEs 2.5x the ME
  amplitude), unless the video is one of those with no expression (every 4th);
- distractors a spotter must not report: **blinks** (eyelids close and open, 0.1-0.25 s, every
  2-5 s), **head motion** (the face translates rigidly by 3-8 px at CASME II face scale and
  back, 0.6-2 s; no rotation) and **talking**
  (the jaw and lower lip drop and rise syllable after syllable, 1.5-3 s).

Layouts (``casme2_long``, ``samm_long``) decide the frame size, naming and workbook; this module
plans the events (:func:`plan_video`) and renders the frames (:class:`LongRecording`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from merprep.sample.aus import AUText
from merprep.sample.faces import REFERENCE_FACE_WIDTH, Rendering
from merprep.sample.motion import (
    SIGMA,
    SIGMA_EYELID,
    Animator,
    FaceFrame,
    Handle,
    displacement_field,
    handles_for,
    intensity,
)

#: mixed into every random key (the short-clip layouts use 1-6)
DATASET_KEYS = {"casme2-long": 7, "samm-long": 8}
NO_EXPRESSION_EVERY = 4
MAE_GAIN = 2.5


@dataclass(frozen=True)
class Timing:
    """A dataset's lengths in frames: (min, max) of MEs and MaEs, and its frame rate."""

    fps: float
    me: tuple[int, int]
    mae: tuple[int, int]

    def frames(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fps)))


@dataclass(frozen=True)
class Style:
    """One expression as planned: emotion word, the AUs (structured, written to text by the
    layout: the generator never parses an AU string) and the self-report (CAS(ME)^2)."""

    emotion: str
    aus: AUText
    report: str = ""


@dataclass
class Event:
    """One programmed event; frames are positions in the recording (0-based)."""

    kind: str  # me, mae, blink, head, talk
    onset: int
    apex: int
    offset: int
    style: Style | None = None
    syllables: list[tuple[int, int, int]] = field(default_factory=list)
    vector: tuple[float, float] = (0.0, 0.0)

    @property
    def is_expression(self) -> bool:
        return self.kind in ("me", "mae")


def rng_for(dataset: str, seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, DATASET_KEYS[dataset], *keys])


def plan_video(
    rng: np.random.Generator,
    n_frames: int,
    timing: Timing,
    styles: Sequence[Style],
    *,
    expressions: bool,
) -> list[Event]:
    """Events of one recording of ``n_frames``: expressions and head motion / talking in
    random order without overlap (gaps of at least 0.7 s), blinks anywhere."""
    kinds = ["head"] + (["talk"] if rng.random() < 0.6 else [])
    if expressions:
        kinds += ["me"] * int(rng.integers(1, 3)) + ["mae"] * int(rng.integers(1, 3))
        if rng.random() < 0.5:
            kinds.append("head")
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    gap = timing.frames(0.7)
    events: list[Event] = []
    t = timing.frames(rng.uniform(0.8, 1.5))
    for kind in kinds:
        if kind == "me":
            length = int(rng.integers(timing.me[0], timing.me[1] + 1))
        elif kind == "mae":
            length = int(rng.integers(timing.mae[0], timing.mae[1] + 1))
        elif kind == "head":
            length = timing.frames(rng.uniform(0.6, 2.0))
        else:
            length = timing.frames(rng.uniform(1.5, 3.0))
        if t + length + gap > n_frames:
            continue  # a short video holds fewer events
        event = Event(kind, t, t, t + length - 1)
        if event.is_expression:
            event.apex = t + max(1, min(length - 2, int(round(rng.uniform(0.3, 0.6) * length))))
            event.style = styles[int(rng.integers(len(styles)))]
        elif kind == "head":
            event.apex = t + length // 2
            angle = rng.uniform(0, 2 * math.pi)
            size = rng.uniform(3.0, 8.0)  # px at CASME II face scale
            event.vector = (size * math.cos(angle), size * math.sin(angle))
        else:
            event.syllables = _syllables(rng, t, t + length - 1, timing)
            event.apex = event.syllables[0][1]
        events.append(event)
        t += length + gap + timing.frames(rng.uniform(0.0, 1.5))
    b = timing.frames(rng.uniform(0.5, 2.0))
    while True:
        length = timing.frames(rng.uniform(0.1, 0.25))
        if b + length >= n_frames:
            break
        events.append(Event("blink", b, b + length // 2, b + length - 1))
        b += length + timing.frames(rng.uniform(2.0, 5.0))
    return sorted(events, key=lambda e: e.onset)


def _syllables(
    rng: np.random.Generator, start: int, end: int, timing: Timing
) -> list[tuple[int, int, int]]:
    out = []
    t = start
    while True:
        length = timing.frames(rng.uniform(0.15, 0.3))
        if t + length - 1 > end:
            break
        out.append((t, t + length // 2, t + length - 1))
        t += length + timing.frames(rng.uniform(0.03, 0.15))
    return out or [(start, (start + end) // 2, end)]


class LongAnimator(Animator):
    """The short-clip :class:`Animator` (head jitter, sensor noise), drawing any number of
    displacement fields cut to its head box, each with its own weight for the frame."""

    def render(self, layers: Sequence[tuple[np.ndarray, float]]) -> np.ndarray:
        import cv2

        x0, y0, x1, y1 = self.box
        self._jitter = np.clip(
            0.8 * self._jitter + self.rng.normal(0.0, self._jitter_step, 2), -1.0, 1.0
        )
        mapping: np.ndarray = self._grid - self._head_weight * self._jitter.astype(np.float32)
        for box_field, weight in layers:
            if weight > 0.0:
                mapping -= np.float32(weight) * box_field
        image = self.rendering.image.copy()
        image[y0:y1, x0:x1] = cv2.remap(
            self.rendering.image, mapping, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        ox, oy = self.rng.integers(0, self.NOISE_PAD, size=2)
        height, width = image.shape[:2]
        image = cv2.add(image, self._noise_up[oy : oy + height, ox : ox + width])
        return cv2.subtract(image, self._noise_down[oy : oy + height, ox : ox + width])


class LongRecording:
    """The frames of one long video: ``frames()`` yields (position, image) in order."""

    def __init__(
        self,
        rendering: Rendering,
        events: Sequence[Event],
        amplitude: float,
        rng: np.random.Generator,
    ):
        self.rendering = rendering
        self.events = list(events)
        self.scale = rendering.face_width / REFERENCE_FACE_WIDTH
        self.amplitude_px = amplitude * self.scale
        self.animator = LongAnimator(rendering, rng)
        x0, y0, x1, y1 = self.animator.box
        self._cut = (slice(y0, y1), slice(x0, x1))
        self._fields: dict[Any, np.ndarray] = {}

    def _field(self, key: Any, handles: list[Handle]) -> np.ndarray:
        if key not in self._fields:
            full = displacement_field(handles, self.rendering.size)
            self._fields[key] = np.ascontiguousarray(full[self._cut])
        return self._fields[key]

    def field_of(self, event: Event) -> np.ndarray:
        points = self.rendering.landmarks
        if event.is_expression:
            assert event.style is not None
            gain = MAE_GAIN if event.kind == "mae" else 1.0
            codes = [a for a in event.style.aus.aus() if a.code in _ANIMATED]
            key = ("expr", str(event.style.aus), gain)
            return self._field(key, handles_for(codes, points, gain * self.amplitude_px))
        if event.kind == "blink":
            return self._field("blink", _blink_handles(points))
        if event.kind == "talk":
            return self._field("talk", _jaw_handles(points, 1.4 * self.amplitude_px))
        vec = np.array(event.vector, np.float32) * np.float32(self.scale)
        return self._rigid_weight() * vec  # head motion: the face moves rigidly

    def _rigid_weight(self) -> np.ndarray:
        """(h, w, 1) over the head box: 1 on the face and a margin of 0.25 face widths around
        its landmarks, falling to 0 towards the box's edge (the backdrop stays still)."""
        if "rigid" not in self._fields:
            x0, y0, x1, y1 = self.animator.box
            pts = self.rendering.landmarks
            margin = 0.25 * self.rendering.face_width
            ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            dx = np.maximum(
                np.maximum(pts[:, 0].min() - margin - xs, xs - pts[:, 0].max() - margin), 0
            )
            dy = np.maximum(
                np.maximum(pts[:, 1].min() - margin - ys, ys - pts[:, 1].max() - margin), 0
            )
            ramp = 0.3 * self.rendering.face_width
            dist = np.minimum(np.hypot(dx, dy) / ramp, 1.0)
            self._fields["rigid"] = (0.5 + 0.5 * np.cos(np.pi * dist))[:, :, None].astype(
                np.float32
            )
        return self._fields["rigid"]

    def weight(self, event: Event, t: float) -> float:
        if event.kind == "talk":
            return max((intensity(t, *s) for s in event.syllables), default=0.0)
        return intensity(t, event.onset - 0.5, event.apex, event.offset + 0.5)

    def frames(self, n_frames: int) -> Iterator[tuple[int, np.ndarray]]:
        fields = [self.field_of(e) for e in self.events]
        for t in range(n_frames):
            layers = [
                (f, self.weight(e, t))
                for e, f in zip(self.events, fields)
                if e.onset - 1 <= t <= e.offset + 1
            ]
            yield t, self.animator.render(layers)


def _blink_handles(points: np.ndarray) -> list[Handle]:
    """The upper lids drop onto the lower ones, which rise a little (tight reach)."""
    face = FaceFrame(points)
    sigma = SIGMA_EYELID * face.width
    handles = []
    for upper, lower in (((37, 38), (41, 40)), ((43, 44), (47, 46))):
        for u, lo in zip(upper, lower):
            gap = float(np.linalg.norm(points[lo] - points[u]))
            handles.append(Handle(points[u], -0.8 * gap * face.up, sigma))
            handles.append(Handle(points[lo], 0.2 * gap * face.up, sigma))
    return handles


def _jaw_handles(points: np.ndarray, amplitude_px: float) -> list[Handle]:
    """Talking: the chin and the lower lip move down (a jaw drop)."""
    face = FaceFrame(points)
    sigma = SIGMA * face.width
    moves = dict.fromkeys((7, 8, 9), 1.0) | dict.fromkeys((56, 57, 58, 66), 0.8)
    moves |= dict.fromkeys((6, 10, 55, 59, 65, 67), 0.6)
    return [Handle(points[i], -w * amplitude_px * face.up, sigma) for i, w in moves.items()]


#: AU codes with a programmed motion (motion.AU_MOTIONS); others in a written AU string are
#: annotation only
_ANIMATED = {1, 2, 4, 7, 9, 10, 12, 14, 15, 17}


def truth_of(
    events: Sequence[Event], recording: LongRecording, first_frame: int
) -> dict[str, list[dict[str, Any]]]:
    """Truth-file lists (frame numbers = position + ``first_frame``): ``intervals`` and
    ``distractors``."""
    intervals, distractors = [], []
    for e in events:
        frames = {k: getattr(e, k) + first_frame for k in ("onset", "apex", "offset")}
        if e.is_expression:
            assert e.style is not None
            gain = MAE_GAIN if e.kind == "mae" else 1.0
            intervals.append(
                {
                    "type": e.kind,
                    **frames,
                    "emotion": e.style.emotion,
                    "aus": str(e.style.aus),
                    "au_codes": e.style.aus.codes(),
                    "amplitude_px": round(gain * recording.amplitude_px, 3),
                }
            )
        else:
            distractors.append({"kind": e.kind, **frames})
    return {"intervals": intervals, "distractors": distractors}


def still_frames(
    seed: int,
    index: int,
    frame_size: tuple[int, int],
    face_width: float,
    n: int,
    *,
    gray: bool = False,
) -> Iterator[np.ndarray]:
    """``n`` frames of subject ``index`` at rest (head jitter and sensor noise only): frames
    to lay out under a real dataset's names, for its real workbook (tests, benchmarks)."""
    from merprep.sample.faces import load_photos, render_subject

    rendering = render_subject(load_photos(), seed, index, frame_size, face_width)
    if gray:
        rendering = rendering.gray()
    recording = LongRecording(rendering, [], 1.0, np.random.default_rng([seed, 99, index]))
    for _, image in recording.frames(n):
        yield image
