"""Decoding frames: image files and videos, optionally at reduced size, with integrity checks.

Frames are returned as contiguous uint8 arrays, RGB (H, W, 3) or gray (H, W, 1). Damaged files
(zero bytes, a JPEG without its end marker, a truncated BMP or PNG) raise :class:`FrameError`
instead of silently decoding to a half-grey picture, which OpenCV would otherwise do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merprep.errors import MerprepError

log = logging.getLogger(__name__)

#: OpenCV can decode JPEGs at 1/2, 1/4, 1/8 size during the DCT (much faster than full decoding).
REDUCE_FACTORS = (1, 2, 4, 8)
_COLOR_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_GRAY_FLAGS = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


#: ``(source frame number, decoded image) -> anything`` applied as frames are decoded
FrameTransform = Callable[[int, np.ndarray], Any]


class FrameError(MerprepError):
    """A frame could not be decoded (missing, empty, truncated or corrupt)."""


def check_image_bytes(data: bytes, path: Path) -> None:
    """Reject files that decoders would accept but that are damaged."""
    if not data:
        raise FrameError("empty image file (0 bytes)", file=path)
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        if data[:2] != b"\xff\xd8":
            raise FrameError("not a JPEG file (no start-of-image marker)", file=path)
        if b"\xff\xd9" not in data[-16:]:
            raise FrameError("truncated JPEG (no end-of-image marker)", file=path)
    elif suffix == ".bmp":
        if data[:2] != b"BM" or len(data) < 26:
            raise FrameError("not a BMP file", file=path)
        declared = int.from_bytes(data[2:6], "little")
        if declared and len(data) < declared:
            raise FrameError(f"truncated BMP ({len(data)} of {declared} bytes)", file=path)
    elif suffix == ".png":
        if not data.startswith(b"\x89PNG") or b"IEND" not in data[-16:]:
            raise FrameError("truncated or invalid PNG", file=path)


def read_image(path: Path | str, color: str = "rgb", reduce: int = 1) -> np.ndarray:
    """Decode one image file; ``reduce`` in (1, 2, 4, 8) decodes at that fraction of full size."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FrameError(f"cannot read frame ({exc.strerror or exc})", file=path) from None
    check_image_bytes(data, path)
    flags = (_GRAY_FLAGS if color == "gray" else _COLOR_FLAGS)[reduce]
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img is None:
        raise FrameError("corrupt or unsupported image", file=path)
    if color == "gray":
        return np.ascontiguousarray(img[:, :, None])
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def image_size(path: Path | str) -> tuple[int, int]:
    """(width, height) of an image without keeping the pixels (a full decode, reduced by 8)."""
    img = read_image(path, "gray", 8)
    return img.shape[1] * 8, img.shape[0] * 8


def video_frame_count(path: Path | str) -> int:
    """Number of frames in a video, counted by decoding (container metadata is often wrong)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FrameError("cannot open video", file=path)
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def video_fps(path: Path | str) -> float | None:
    cap = cv2.VideoCapture(str(path))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return float(fps) if fps and fps > 0 else None


def read_video_frames(
    path: Path | str,
    indices: Sequence[int],
    color: str = "rgb",
    reduce: int = 1,
    transform: FrameTransform | None = None,
    decoded: dict[int, np.ndarray] | None = None,
) -> list[Any]:
    """Decode the given 0-based frame indices (any order, repeats allowed) in one sequential pass.

    With ``transform``, each distinct frame is replaced by ``transform(index, image)`` as soon as
    it is decoded; frames in ``decoded`` are taken from there (see :func:`read_frames`).
    """
    path = Path(path)
    got: dict[int, Any] = _seed(decoded, transform)
    wanted = sorted({int(i) for i in indices} - set(got))
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FrameError("cannot open video", file=path)
    try:
        i = 0
        for target in wanted:
            while i < target:
                if not cap.grab():
                    break
                i += 1
            ok, bgr = cap.read()
            if not ok:
                break
            i += 1
            img = _convert_video_frame(bgr, color, reduce)
            got[target] = img if transform is None else transform(target, img)
    finally:
        cap.release()
    missing = [t for t in wanted if t not in got]
    if missing:
        raise FrameError(
            f"video has no frame {missing[0]} (decoded {len(got)} of {len(wanted)} requested)",
            file=path,
        )
    return [got[int(i)] for i in indices]


def _convert_video_frame(bgr: np.ndarray, color: str, reduce: int) -> np.ndarray:
    if reduce > 1:
        h, w = bgr.shape[:2]
        bgr = cv2.resize(
            bgr, (max(1, w // reduce), max(1, h // reduce)), interpolation=cv2.INTER_AREA
        )
    if color == "gray":
        return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[:, :, None])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_frames(
    frames: dict[int, Path] | None,
    video: Path | None,
    numbers: Iterable[int],
    color: str = "rgb",
    reduce: int = 1,
    transform: FrameTransform | None = None,
    decoded: dict[int, np.ndarray] | None = None,
) -> list[Any]:
    """Decode the given source frame numbers from an image folder mapping or a video.

    A repeated number is decoded once. ``transform(number, image)``, when given, is applied to
    each distinct frame right after decoding and only its result is kept, so a long clip never
    holds all its full-size frames at once (a 900-frame 1280x720 video would be 2.5 GB; its
    128 px crops are 44 MB). ``decoded`` holds frames the caller already decoded with the same
    ``color`` and ``reduce``; they are not decoded again.
    """
    numbers = list(numbers)
    if video is not None:
        return read_video_frames(video, numbers, color, reduce, transform, decoded)
    assert frames is not None
    cache: dict[int, Any] = _seed(decoded, transform)
    out = []
    for n in numbers:
        if n not in cache:
            if n not in frames:
                raise FrameError(f"frame {n} is missing from the clip folder")
            img = read_image(frames[n], color, reduce)
            cache[n] = img if transform is None else transform(n, img)
        out.append(cache[n])
    return out


def _seed(
    decoded: dict[int, np.ndarray] | None, transform: FrameTransform | None
) -> dict[int, Any]:
    """Frames decoded already, transformed like freshly decoded ones."""
    return {
        int(n): img if transform is None else transform(int(n), img)
        for n, img in (decoded or {}).items()
    }
