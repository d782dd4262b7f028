"""Frames of a long video one at a time, in order: a folder of numbered images or a video file.

Nothing holds more than one decoded frame: a SAMM long video (thousands of 2040x1088 frames) is
never in memory. Frames skipped by a stride are not decoded (``grab`` without ``retrieve`` for
videos, not read at all for folders).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from merprep.datasets.base import FrameSource
from merprep.frames.decode import FrameError, _convert_video_frame, read_image


def kept_numbers(source: FrameSource, stride: int) -> list[int]:
    """The frame numbers a stride keeps: every ``stride``-th frame on disk (for a folder with
    dropped frames, every ``stride``-th file), starting with the first."""
    return source.available[::stride]


def iter_frames(
    source: FrameSource, numbers: Sequence[int], color: str = "gray", reduce: int = 1
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(number, image)`` for ``numbers`` (ascending), decoding each once, in order.

    Images are uint8 (H, W, 1) gray or (H, W, 3) RGB; ``reduce`` 2/4/8 decodes JPEGs at that
    fraction of full size (videos are resized). Raises FrameError for a missing or damaged
    frame, naming the file.
    """
    if source.video is not None:
        yield from _iter_video(source.video, numbers, color, reduce)
        return
    assert source.frames is not None
    for n in numbers:
        path = source.frames.get(n)
        if path is None:
            raise FrameError(f"frame {n} is missing from the video folder")
        yield n, read_image(path, color, reduce)


def _iter_video(
    path: Path, numbers: Sequence[int], color: str, reduce: int
) -> Iterator[tuple[int, np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FrameError("cannot open video", file=path)
    try:
        i = 0
        for target in numbers:
            while i < target:
                if not cap.grab():
                    raise FrameError(f"video ends before frame {target}", file=path)
                i += 1
            ok, bgr = cap.read()
            if not ok:
                raise FrameError(f"video ends before frame {target}", file=path)
            i += 1
            yield target, _convert_video_frame(bgr, color, reduce)
    finally:
        cap.release()
