"""Phase 2 of an extraction, one clip at a time (in a worker process): decode, find the
landmarks, crop, sample (:func:`process_clip`); optionally track the landmarks on every kept
frame (:func:`track_landmarks`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from merprep import stages
from merprep.extract.config import ExtractConfig
from merprep.extract.plan import ClipTask
from merprep.faces.align import ALIGNERS
from merprep.faces.base import FaceNotFound, LandmarkBackend
from merprep.faces.geometry import face_box, scale_source, transform_points, warp
from merprep.frames.decode import REDUCE_FACTORS, FrameError, read_frames
from merprep.frames.sampling import get_sampling

log = logging.getLogger(__name__)


def choose_reduce(face_px: float, size: int, is_video: bool) -> int:
    """Largest JPEG DCT reduction that still leaves the face at least ``size`` pixels wide."""
    if is_video:
        return 1
    best = 1
    for r in REDUCE_FACTORS:
        if face_px / r >= size:
            best = r
    return best


def process_clip(
    task: ClipTask, config: ExtractConfig, backend: LandmarkBackend
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Decode, detect, crop and sample one clip; returns (store record, arrays).

    The crop matrix comes from the onset landmarks and is the same for every frame. With
    ``config.track`` landmarks are also found on every kept frame (:func:`track_landmarks`);
    they are stored, but never move the crop, so the frames are identical with or without it.

    Raises MerprepError (FrameError, FaceNotFound) for problems with this clip's media.
    """
    rec, source = task.record, task.source
    mode = get_sampling(config.sampling)
    plan = mode.choose(source.available, rec.onset, rec.apex, rec.offset, config.frames)

    # Landmarks once, on the onset frame at full resolution.
    (onset_img,) = read_frames(source.frames, source.video, [rec.onset], "rgb", 1)
    points = backend.landmarks(onset_img)
    matrix = ALIGNERS[config.align](points, config.size, config.margin)
    face_px = config.size / float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    reduce = choose_reduce(face_px, config.size, source.video is not None)
    matrix_r = scale_source(matrix, reduce)

    full_h, full_w = onset_img.shape[:2]
    expect_h, expect_w = -(-full_h // reduce), -(-full_w // reduce)

    def crop(n: int, img: np.ndarray) -> np.ndarray:
        """Check one decoded frame's size and warp it (only the crop is kept in memory)."""
        h, w = img.shape[:2]
        if abs(h - expect_h) > 1 or abs(w - expect_w) > 1:
            raise FrameError(
                f"frame {n} is {w * reduce}x{h * reduce} but the onset frame is "
                f"{full_w}x{full_h} (mixed frame sizes in one clip)",
                file=source.path,
            )
        return warp(img, matrix_r, config.size)

    # the onset, decoded above exactly as the kept frames would be, is not decoded again
    again = (
        {rec.onset: onset_img}
        if reduce == 1 and config.color == "rgb" and rec.onset in plan.numbers
        else None
    )
    frames = np.stack(
        read_frames(
            source.frames,
            source.video,
            plan.numbers,
            config.color,
            reduce,
            transform=crop,
            decoded=again,
        )
    )
    decoded_numbers = list(plan.numbers)
    if mode.needs_pixels and mode.refine is not None:
        frames, plan = mode.refine(frames, plan, config.frames)
    onset_store = transform_points(points, matrix)

    record = rec.to_dict()
    if config.track:
        tracked, lost = track_landmarks(task, backend, decoded_numbers, points)
        if config.track_smooth > 1:
            tracked = smooth_track(tracked, decoded_numbers, config.track_smooth, rec.onset)
        if mode.needs_pixels:  # refined frames stand for (fractional) source positions
            tracked = _interpolate_points(tracked, decoded_numbers, plan.positions)
        landmarks = np.stack([transform_points(p, matrix) for p in tracked])
        record.update(
            landmarks_from="tracked",
            landmark_drift_px=round(landmark_drift(landmarks, onset_store), 4),
            landmark_jitter_px=round(landmark_jitter(landmarks), 4),
            tracking_lost_frames=lost,
        )
    else:
        landmarks = np.repeat(onset_store[None], len(frames), axis=0)
        record.update(landmarks_from="onset")

    x0, y0, x1, y1 = face_box(points, config.margin)
    record.update(
        n_frames=len(frames),
        frame_numbers=[float(p) for p in plan.positions]
        if mode.fractional
        else [int(n) for n in plan.numbers],
        sampling=config.sampling + (f" ({plan.note})" if plan.note else ""),
        face_box=[float(x0), float(y0), float(x1), float(y1)],
        transform=matrix.tolist(),
    )
    return record, {stages.FRAMES: frames, stages.LANDMARKS: landmarks}


def track_landmarks(
    task: ClipTask,
    backend: LandmarkBackend,
    numbers: list[int],
    onset_points: np.ndarray,
    batch: int = 32,
) -> tuple[np.ndarray, int]:
    """Landmarks (source pixels) on each frame of ``numbers``: (len(numbers), 68, 2), lost.

    Each distinct frame is decoded at full resolution in RGB, exactly as the onset frame was,
    so differences from the onset landmarks are movement (or detector jitter), not a change of
    resolution or colour. Frames are decoded ``batch`` at a time (one pass through a video per
    batch, bounded memory). A frame where no face is found reuses the landmarks of the previous
    frame (in source order) and is counted in ``lost``; it does not fail the clip.
    """
    rec, source = task.record, task.source
    found: dict[int, np.ndarray] = {rec.onset: onset_points}
    todo = sorted(set(numbers) - {rec.onset})
    lost = 0
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        for n, img in zip(chunk, read_frames(source.frames, source.video, chunk, "rgb", 1)):
            try:
                found[n] = backend.landmarks(img)
            except FaceNotFound:
                log.info(
                    "%s: no face on frame %d while tracking; previous landmarks reused",
                    rec.clip_id,
                    n,
                )
                # frames go in ascending order, so every earlier frame is already in `found`
                found[n] = found[max((k for k in found if k < n), default=rec.onset)]
                lost += 1
    return np.stack([found[n] for n in numbers]).astype(np.float32), lost


def _interpolate_points(
    points: np.ndarray, numbers: list[int], positions: Iterable[float]
) -> np.ndarray:
    """Landmarks at fractional source ``positions``, linear between the frames ``numbers``."""
    order = np.argsort(numbers, kind="stable")
    xs = np.asarray(numbers, np.float64)[order]
    flat = points[order].reshape(len(xs), -1)
    pos = np.asarray(list(positions), np.float64)
    out = np.stack([np.interp(pos, xs, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(len(pos), *points.shape[1:]).astype(np.float32)


def smooth_track(points: np.ndarray, numbers: list[int], window: int, onset: int) -> np.ndarray:
    """Running median of tracked landmarks over ``window`` neighbouring frames, in source order.

    A median (not a mean) because detector failures are single-frame jumps (the jaw line
    leaving the face) that a mean would smear over the neighbours. The onset frame keeps its
    detected points: the crop was made from them, so they stay exact.
    """
    order = np.argsort(numbers, kind="stable")
    ordered = points[order]
    half = window // 2
    out = np.empty_like(ordered)
    for i in range(len(ordered)):
        out[i] = np.median(ordered[max(0, i - half) : i + half + 1], axis=0)
    smoothed = np.empty_like(points)
    smoothed[order] = out
    for i, n in enumerate(numbers):
        if n == onset:
            smoothed[i] = points[i]
    return smoothed


def landmark_jitter(landmarks: np.ndarray) -> float:
    """Mean size of the second temporal difference of the points (store px per frame).

    Movement of the face is smooth, so it changes the first difference but little the second;
    detector jitter flips direction from frame to frame and shows up here. 0 for < 3 frames.
    """
    if len(landmarks) < 3:
        return 0.0
    second = landmarks[:-2] - 2 * landmarks[1:-1] + landmarks[2:]
    return float(np.linalg.norm(second, axis=2).mean())


def landmark_drift(landmarks: np.ndarray, reference: np.ndarray) -> float:
    """Max over frames of the mean distance of the 68 points from ``reference`` (store px)."""
    per_frame = np.linalg.norm(landmarks - reference[None], axis=2).mean(axis=1)
    return float(per_frame.max()) if len(per_frame) else 0.0
