"""Sample subjects: renderings of the two shipped public-domain photographs.

The real datasets' faces cannot ship, so each sample subject is a *rendering* of one of the
photographs in ``photos/``: photo choice x mirror (from the subject index, so consecutive
subjects differ) x scale x small rotation x brightness/contrast/colour tint x background x
placement (drawn from a generator keyed by seed and subject index). The rendering is a known
similarity transform of the photo, so its 68 landmarks are the photo's precomputed dlib landmarks
(``photos/landmarks.json``) transformed the same way: no detector runs at generation time.

A subject is not frozen across its clips: each recording (*session*) moves the head a little
(rotation, scale, placement) and changes the light (level, contrast, tint and a side light
falling across the face) around the subject's own look (:func:`session_style`), as the real
recordings do between clips, so a model cannot lean on a clip's exact appearance.

Landmarks always follow dlib's (iBUG) order: point 0 is on the image-left jaw, so the
*subject's* right side is on the image left. Mirrored renderings re-index their points to keep
that convention.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

PHOTOS_DIR = Path(__file__).with_name("photos")

#: Face width (distance between jaw points 0 and 16) of a CASME II-like face in a 640x480
#: frame. Amplitudes are given at this scale and scaled proportionally to other face sizes.
REFERENCE_FACE_WIDTH = 225.0

#: Landmark index of each point's mirror partner (left-right swap of the 68-point scheme).
MIRROR_INDEX = np.array(
    [16 - i for i in range(17)]  # jaw
    + [26 - i for i in range(10)]  # brows 17-26
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nose base
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)


@dataclass(frozen=True)
class Photo:
    """A shipped photograph (BGR) and its 68 dlib landmarks."""

    name: str
    image: np.ndarray
    landmarks: np.ndarray  # (68, 2) float


def load_photos(photos_dir: Path = PHOTOS_DIR) -> list[Photo]:
    """Load the shipped photographs in a fixed (sorted) order with their landmarks."""
    doc = json.loads((photos_dir / "landmarks.json").read_text())
    photos = []
    for name in sorted(doc["photos"]):
        image = cv2.imread(str(photos_dir / name), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(photos_dir / name)
        points = np.asarray(doc["photos"][name]["points"], dtype=np.float64)
        photos.append(Photo(name, image, points))
    return photos


def face_width(landmarks: np.ndarray) -> float:
    """Distance between the outer jaw points 0 and 16 (the face's width at the cheeks)."""
    return float(np.linalg.norm(landmarks[16] - landmarks[0]))


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of the face: ``right`` (image-left eye -> image-right eye) and ``up``.

    AU motions are defined along these axes so that they follow the head's small rotation.
    """
    eye_a = landmarks[36:42].mean(axis=0)
    eye_b = landmarks[42:48].mean(axis=0)
    right = (eye_b - eye_a) / np.linalg.norm(eye_b - eye_a)
    up = np.array([right[1], -right[0]])  # rotate by -90 degrees: image y grows downwards
    return right, up


@dataclass
class Rendering:
    """One subject's face at rest, in a frame of the target dataset's size."""

    image: np.ndarray  # (H, W, 3) BGR uint8
    landmarks: np.ndarray  # (68, 2) float, frame coordinates, dlib order
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frame."""
        return self.image.shape[1], self.image.shape[0]

    @property
    def face_width(self) -> float:
        return face_width(self.landmarks)

    def gray(self) -> Rendering:
        """The same rendering as one gray channel (SAMM is recorded in grayscale)."""
        return Rendering(
            cv2.cvtColor(self.image, cv2.COLOR_BGR2GRAY),
            self.landmarks,
            {**self.params, "colour": "gray"},
        )

    def near_infrared(self) -> Rendering:
        """A near-infrared look (SMIC NIR), one channel: flat, bright skin.

        Skin reflects NIR strongly and evenly, so the red channel (closest to NIR) dominates and
        contrast is compressed towards bright values. (SMIC stores NIR frames as 3-channel BMPs;
        the writer expands the channel.)
        """
        b, g, r = cv2.split(self.image.astype(np.float32))
        nir = 0.7 * r + 0.2 * g + 0.1 * b
        nir = np.clip(60.0 + 0.75 * nir, 0, 255).astype(np.uint8)
        return Rendering(nir, self.landmarks, {**self.params, "colour": "near-infrared"})


def subject_style(seed: int, index: int) -> dict[str, Any]:
    """The random but reproducible look of subject ``index``: independent of frame size.

    Photo and mirror cycle with the index (4 combinations); the rest is drawn from a generator
    keyed by (seed, index), so every subject differs and adding subjects changes none of the
    earlier ones.
    """
    rng = np.random.default_rng([seed, 7919, index])
    # muted studio backdrops: a gray level plus a modest colour cast, two of them for a gradient
    lo, hi = rng.uniform(50, 200, size=(2, 1)) + rng.uniform(-30, 30, size=(2, 3))
    return {
        "photo_index": index % 2,
        "mirror": bool((index // 2) % 2),
        "scale_jitter": float(rng.uniform(0.92, 1.08)),
        "rotation_deg": float(rng.uniform(-4.0, 4.0)),
        "offset": [float(rng.uniform(-0.07, 0.07)), float(rng.uniform(-0.04, 0.04))],
        "contrast": float(rng.uniform(0.8, 1.15)),
        "brightness": float(rng.uniform(-25, 25)),
        "channel_gain": [float(g) for g in rng.uniform(0.88, 1.12, size=3)],
        "background": {
            "colour_a": [int(c) for c in lo],
            "colour_b": [int(c) for c in hi],
            "seed": int(rng.integers(1 << 30)),
        },
    }


def session_style(seed: int, index: int, session: int) -> dict[str, Any]:
    """Subject ``index``'s look in recording ``session``: :func:`subject_style` with the head a
    little moved and the light changed, drawn from a generator keyed by (seed, index, session)."""
    style = subject_style(seed, index)
    rng = np.random.default_rng([seed, 7919, index, 1 + session])
    style["rotation_deg"] += float(rng.uniform(-2.0, 2.0))
    style["scale_jitter"] *= float(rng.uniform(0.97, 1.03))
    style["offset"] = [o + float(rng.uniform(-0.02, 0.02)) for o in style["offset"]]
    # light changes within the range subjects differ by, so a bright subject is not pushed into
    # clipped highlights (lab lighting is set to avoid them; clipped skin shows no motion)
    contrast, brightness = style["contrast"], style["brightness"]
    style["contrast"] = contrast * float(
        rng.uniform(max(0.9, 0.8 / contrast), min(1.1, 1.15 / contrast))
    )
    style["brightness"] = brightness + float(
        rng.uniform(max(-15, -25 - brightness), min(15, 25 - brightness))
    )
    style["channel_gain"] = [g * float(rng.uniform(0.96, 1.04)) for g in style["channel_gain"]]
    style["side_light"] = {
        "strength": float(rng.uniform(-0.15, 0.15)),
        "angle_deg": float(rng.uniform(-30.0, 30.0)),
    }
    style["session"] = session
    return style


def render_subject(
    photos: list[Photo],
    seed: int,
    index: int,
    frame_size: tuple[int, int],
    target_face_width: float,
    session: int | None = None,
) -> Rendering:
    """Render subject ``index`` into a frame of ``frame_size`` (width, height), as seen in
    recording ``session`` (:func:`session_style`; ``None``: the subject's own look).

    ``target_face_width`` is the dataset's typical jaw width in pixels; the subject's own scale
    varies a few percent around it. The face centre sits near the frame centre (slightly above,
    as in the datasets' head-and-shoulders framing).
    """
    style = subject_style(seed, index) if session is None else session_style(seed, index, session)
    photo = photos[style["photo_index"] % len(photos)]
    image, points = photo.image, photo.landmarks
    if style["mirror"]:
        image = np.ascontiguousarray(image[:, ::-1])
        points = points[MIRROR_INDEX].copy()
        points[:, 0] = photo.image.shape[1] - 1 - points[:, 0]

    width, height = frame_size
    scale = target_face_width * style["scale_jitter"] / face_width(points)
    centre = points[[27, 28, 29, 30, 33, 8]].mean(axis=0)  # nose line and chin: face middle
    target = np.array([width * (0.5 + style["offset"][0]), height * (0.5 + style["offset"][1])])
    matrix = cv2.getRotationMatrix2D(
        (float(centre[0]), float(centre[1])), style["rotation_deg"], scale
    )
    matrix[:, 2] += target - centre
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    face = cv2.warpAffine(
        image, matrix, (width, height), flags=interpolation, borderMode=cv2.BORDER_CONSTANT
    )
    mask = _feathered_mask(image.shape[:2], matrix, (width, height))
    background = _background(style["background"], (width, height))
    composite = face.astype(np.float32) * mask + background * (1.0 - mask)
    composite = _photometric(composite, style)
    landmarks = points @ matrix[:, :2].T + matrix[:, 2]
    params = {
        "photo": photo.name,
        **{k: v for k, v in style.items() if k != "photo_index"},
        "scale": float(scale),
        "frame_size": [width, height],
    }
    return Rendering(composite, landmarks, params)


def _feathered_mask(
    photo_shape: tuple[int, int], matrix: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Where the warped photo covers the frame, with a soft edge so no hard seam shows."""
    ones = np.full(photo_shape, 255, np.uint8)
    mask = cv2.warpAffine(
        ones, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    radius = max(3, int(0.02 * max(size)))
    mask = cv2.erode(mask, np.ones((radius, radius), np.uint8))
    mask = cv2.GaussianBlur(mask, (0, 0), radius / 2.0)
    return (mask.astype(np.float32) / 255.0)[:, :, None]


def _background(spec: dict[str, Any], size: tuple[int, int]) -> np.ndarray:
    """A smooth studio-like backdrop: a diagonal two-colour gradient with soft blotches."""
    width, height = size
    rng = np.random.default_rng(spec["seed"])
    t = (
        np.linspace(0, 0.6, width, dtype=np.float32)[None, :]
        + np.linspace(0, 0.4, height, dtype=np.float32)[:, None]
    )[:, :, None]
    a = np.asarray(spec["colour_a"], np.float32)
    b = np.asarray(spec["colour_b"], np.float32)
    background = a + (b - a) * t
    shade = rng.normal(0, 12, size=(6, 8, 1)) + rng.normal(0, 3, size=(6, 8, 3))
    blotches = cv2.resize(shade.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return background + blotches


def _photometric(image: np.ndarray, style: dict[str, Any]) -> np.ndarray:
    """Contrast around mid-gray, brightness offset, per-channel gain (a colour tint) and, for a
    session, a side light: a gain rising linearly across the frame in one direction."""
    image = (image - 128.0) * style["contrast"] + 128.0 + style["brightness"]
    image = image * np.asarray(style["channel_gain"], np.float32)
    light = style.get("side_light")
    if light is not None:
        height, width = image.shape[:2]
        angle = np.deg2rad(light["angle_deg"])
        x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
        y = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None] * (height / width)
        gain = 1.0 + light["strength"] * (np.cos(angle) * x + np.sin(angle) * y)
        image = image * gain[:, :, None]
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)
