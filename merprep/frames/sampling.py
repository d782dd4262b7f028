"""Choosing which frames of a clip go into the store (``--sampling``).

Micro-expressions last 0.04-0.5 s, so clips differ in length (at 200 fps, 20 to 100 frames) and
most models need a fixed number of frames. Each mode answers "which source frames, and in
what form":

- ``uniform``: N frames evenly spaced from onset to offset (inclusive). The default; keeps the
  temporal profile of the expression. Clips shorter than N repeat frames.
- ``key``: 9 key frames: onset, 3 between onset and apex, apex, 3 between apex and offset, offset
  (section C models). Without an annotated apex the temporal middle stands in (recorded).
- ``all``: every available frame from onset to offset (variable length; for flow or spotting).
- ``tim``: N frames synthesised by the temporal interpolation model (Zhou et al. 2011, as used
  for micro-expressions by Pfister et al. 2011): a clip of any length becomes N frames that
  follow its motion, without repeating or dropping moments. Frame positions are fractional.
- ``diffk``: the N frames between onset and offset that differ most from their predecessor
  (grayscale mean absolute difference), in temporal order: the moments of fastest change, as the
  dual-branch AU model's reference selects its 30 frames (MODELS.md section B).

A mode declares ``needs_pixels`` when it must look at decoded frames to decide (e.g. frame
differences); the pipeline then decodes the clip's candidate frames (``choose``), crops them,
and calls ``refine`` on the crops. ``fractional`` modes store ``positions`` as the frame numbers.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from merprep.registry import Registry


@dataclass(frozen=True)
class SamplingPlan:
    """Which source frames to decode for a clip, and the positions they stand for."""

    numbers: list[int]  # source frame numbers to decode, in output order (repeats allowed)
    positions: list[float]  # the source position each output frame represents
    note: str = ""  # e.g. "apex missing: middle frame used"


def nearest_available(available: Sequence[int], target: float) -> int:
    """The available frame number nearest to ``target`` (ties go to the earlier frame)."""
    i = bisect_left(available, target)
    if i == 0:
        return available[0]
    if i == len(available):
        return available[-1]
    before, after = available[i - 1], available[i]
    return before if target - before <= after - target else after


def _in_clip(available: Sequence[int], onset: int, offset: int) -> list[int]:
    inside = [n for n in available if onset <= n <= offset]
    if not inside:
        raise ValueError(f"no frames available between onset {onset} and offset {offset}")
    return inside


def uniform(
    available: Sequence[int], onset: int, apex: int | None, offset: int, n: int
) -> SamplingPlan:
    """N frames evenly spaced over [onset, offset]; gaps resolve to the nearest frame on disk."""
    inside = _in_clip(available, onset, offset)
    targets = np.linspace(onset, offset, n)
    numbers = [nearest_available(inside, t) for t in targets]
    note = "" if len(inside) >= n else f"clip has {len(inside)} frames < {n}: frames repeat"
    return SamplingPlan(numbers, [float(t) for t in targets], note)


def key_frames(
    available: Sequence[int], onset: int, apex: int | None, offset: int, n: int = 9
) -> SamplingPlan:
    """Onset, 3 between onset and apex, apex, 3 between apex and offset, offset (9 frames)."""
    inside = _in_clip(available, onset, offset)
    note = ""
    middle: float = apex if apex is not None and onset <= apex <= offset else -1.0
    if middle < 0:
        middle = (onset + offset) / 2
        note = "apex missing: temporal middle used"
    targets = list(np.linspace(onset, middle, 5)) + list(np.linspace(middle, offset, 5))[1:]
    numbers = [nearest_available(inside, t) for t in targets]
    return SamplingPlan(numbers, [float(t) for t in targets], note)


def all_frames(
    available: Sequence[int], onset: int, apex: int | None, offset: int, n: int = 0
) -> SamplingPlan:
    """Every frame on disk from onset to offset."""
    inside = _in_clip(available, onset, offset)
    return SamplingPlan(inside, [float(x) for x in inside])


# --------------------------------------------------------------------------------------------
# Temporal interpolation model (TIM)
# --------------------------------------------------------------------------------------------


def every_position(
    available: Sequence[int], onset: int, apex: int | None, offset: int, n: int = 0
) -> SamplingPlan:
    """One frame per source position onset..offset; a dropped frame is stood in for by the
    nearest frame on disk, so the sequence is evenly spaced in time (what TIM assumes)."""
    inside = _in_clip(available, onset, offset)
    positions = list(range(onset, offset + 1))
    numbers = [nearest_available(inside, t) for t in positions]
    dropped = len(positions) - len(inside)
    note = f"{dropped} dropped frame(s) stood in for by their nearest" if dropped > 0 else ""
    return SamplingPlan(numbers, [float(t) for t in positions], note)


def tim_weights(
    n_in: int, n_out: int, gram: np.ndarray, rtol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """TIM as a linear map: (weights (n_out, n_in) applied to the centred frames, curve points).

    Zhou et al. (2011): the frames are the nodes of a path graph P_n; the eigenvectors of its
    Laplacian, y_k(i) = cos(pi k (i + 1/2) / n), k = 1..n-1, embed frame i at a point of a curve
    in R^(n-1), and the same functions evaluated at fractional i trace the whole curve. A linear
    projection between the frames' PCA coefficients and their curve points is learned; N evenly
    spaced curve points ``s`` in [0, n-1] are mapped back through it to frames.

    PCA is done through the n x n Gram matrix of the centred frames (``gram``), keeping every
    component with a non-negligible eigenvalue, so nothing of the clip is discarded. The map from
    curve to PCA coefficients is fitted by least squares (coefficients = curve points @ B): where
    Zhou's projection is invertible this is exactly its inverse, and it stays defined when frames
    repeat (rank-deficient PCA). Because the curve functions span every zero-mean sequence, each
    input frame is reproduced exactly at its own curve point (s = i).
    """
    s = np.linspace(0.0, n_in - 1.0, n_out)
    if n_in == 1:
        return np.zeros((n_out, 1)), s
    k = np.arange(1, n_in)
    curve = np.cos(np.pi * np.outer(np.arange(n_in) + 0.5, k) / n_in)  # (n_in, n_in-1)
    curve_new = np.cos(np.pi * np.outer(s + 0.5, k) / n_in)  # (n_out, n_in-1)
    eigval, eigvec = np.linalg.eigh(gram)
    keep = eigval > rtol * max(float(eigval.max()), 1e-12)
    if not keep.any():  # every frame identical: the mean is the answer
        return np.zeros((n_out, n_in)), s
    root = np.sqrt(eigval[keep])
    coefficients = eigvec[:, keep] * root  # PCA coefficients of each frame (n_in, r)
    projection, *_ = np.linalg.lstsq(curve, coefficients, rcond=None)  # (n_in-1, r)
    # frame(s) = mean + coeff(s) @ components^T, components = centred^T @ eigvec / root
    weights = (curve_new @ projection / root) @ eigvec[:, keep].T  # (n_out, n_in)
    return weights, s


def tim_interpolate(frames: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames interpolated by TIM from ``frames`` (T, H, W, C) uint8, evenly spaced in time
    from the first to the last; returns (frames uint8, curve points s in [0, T-1])."""
    t = len(frames)
    flat = frames.reshape(t, -1).astype(np.float32)
    mean = flat.mean(axis=0)
    centred = flat - mean
    gram = (centred @ centred.T).astype(np.float64)
    weights, s = tim_weights(t, n, gram)
    out = mean + weights.astype(np.float32) @ centred
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.reshape((n,) + frames.shape[1:]), s


def tim_refine(frames: np.ndarray, plan: SamplingPlan, n: int) -> tuple[np.ndarray, SamplingPlan]:
    """TIM on the cropped frames of ``every_position``; positions become fractional."""
    out, s = tim_interpolate(frames, n)
    positions = np.interp(s, np.arange(len(plan.positions)), plan.positions)
    # numbers: the source frame nearest to each position (what a viewer would look up)
    nearest = [plan.numbers[int(round(x))] for x in s]
    note = "; ".join(x for x in (plan.note, f"TIM {len(frames)} -> {n} frames") if x)
    return out, SamplingPlan(nearest, [float(p) for p in positions], note)


# --------------------------------------------------------------------------------------------
# Largest frame differences (diffk)
# --------------------------------------------------------------------------------------------


def frame_differences(frames: np.ndarray) -> np.ndarray:
    """Mean absolute grayscale difference of each frame to its predecessor; (T-1,) float."""
    if frames.shape[-1] == 3:
        gray = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    else:
        gray = frames[..., 0].astype(np.float32)
    return np.abs(np.diff(gray, axis=0)).reshape(len(frames) - 1, -1).mean(axis=1)


def diffk_refine(frames: np.ndarray, plan: SamplingPlan, n: int) -> tuple[np.ndarray, SamplingPlan]:
    """Keep the ``n`` frames of ``all_frames`` that differ most from their predecessor.

    The onset frame has no predecessor inside the clip, so it competes only when the clip has
    too few frames; a clip of ``n`` frames or fewer is kept whole (evenly repeated up to ``n``,
    noted). Ties go to the earlier frame. Differences are measured on the cropped face, so the
    background does not count.
    """
    t = len(frames)
    if t - 1 >= n:
        diffs = frame_differences(frames)
        chosen = sorted(1 + int(i) for i in np.argsort(-diffs, kind="stable")[:n])
        note = ""
    else:
        chosen = [int(round(x)) for x in np.linspace(0, t - 1, n)]
        note = f"clip has {t} frames <= {n}: all kept" + (", frames repeat" if t < n else "")
    numbers = [plan.numbers[i] for i in chosen]
    return frames[chosen], SamplingPlan(numbers, [float(x) for x in numbers], note)


@dataclass(frozen=True)
class SamplingMode:
    name: str
    choose: Callable[..., SamplingPlan]
    fixed_frames: int | None = None  # modes that always produce this many frames
    needs_pixels: bool = False
    refine: Callable | None = None  # (frames, plan, n) -> (frames, plan) when needs_pixels
    fractional: bool = False  # frame_numbers are fractional positions (interpolated frames)


#: the modes of ``--sampling``, by name
SAMPLING_MODES: Registry[SamplingMode] = Registry("sampling")
for _mode in (
    SamplingMode("uniform", uniform),
    SamplingMode("key", key_frames, fixed_frames=9),
    SamplingMode("all", all_frames),
    SamplingMode("tim", every_position, needs_pixels=True, refine=tim_refine, fractional=True),
    SamplingMode("diffk", all_frames, needs_pixels=True, refine=diffk_refine),
):
    SAMPLING_MODES.register(_mode.name, _mode)
del _mode


def get_sampling(name: str) -> SamplingMode:
    """The mode ``name``; ValueError (:class:`merprep.registry.UnknownName`) for any other."""
    return SAMPLING_MODES.get(name)
