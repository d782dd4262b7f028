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
  (grayscale mean absolute difference), in temporal order: the frame *after* each of the N
  largest changes. ``diffk-before`` keeps the frame *before* each change, as the dual-branch
  extension's CASME II and CAS(ME)^3 scripts do. Neither need keep the onset.
- ``first``: the first N frames on disk from the onset (the ICIP 2024 recipe, and the
  extension's SMIC script with N = 10).
- ``ext-casme2``, ``ext-casme3``, ``ext-samm``, ``ext-smic``, ``ext-deception``: the dual-branch
  extension's per-dataset choices, by name (docs/references.md#audit-1-1-4): frame differences
  (``diffk-before``, 30), uniform 30, the first 10, and video positions 5-20 (16 frames).

Every mode but the frame-difference and ``ext-deception`` ones stores the onset as frame 0,
which optical flow and the trainer's ``onset-diff`` input rely on; :func:`stored_onset_index`
says from a record whether it did, and :func:`require_stored_onset` refuses the rest by name.

A mode declares ``needs_pixels`` when it must look at decoded frames to decide (e.g. frame
differences); the pipeline then decodes the clip's candidate frames (``choose``), crops them,
and calls ``refine`` on the crops. ``fractional`` modes store ``positions`` as the frame numbers.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from merprep.errors import MerprepError
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


def _leading(frames: list[int], n: int, note: str = "") -> SamplingPlan:
    """The first ``n`` of ``frames``; fewer are evenly repeated up to ``n`` (noted)."""
    if len(frames) >= n:
        numbers = frames[:n]
    else:
        numbers = [frames[int(round(x))] for x in np.linspace(0, len(frames) - 1, n)]
        note = "; ".join(x for x in (note, f"{len(frames)} frames < {n}: frames repeat") if x)
    return SamplingPlan(numbers, [float(x) for x in numbers], note)


def first_frames(
    available: Sequence[int], onset: int, apex: int | None, offset: int, n: int
) -> SamplingPlan:
    """The first N frames on disk from the onset, within the clip (the ICIP 2024 scripts read
    frames 0..N-1 of each clip video); a shorter clip is evenly repeated (noted)."""
    return _leading(_in_clip(available, onset, offset), n)


#: frames the extension's lie-detection script skips at the start of each video
DECEPTION_SKIP = 5


def skip_five_frames(
    available: Sequence[int], onset: int, apex: int | None, offset: int, n: int
) -> SamplingPlan:
    """Frames 5 .. 5+N-1 after the onset (``lie detection/Dual-Branch 3DCNN.py:106``:
    ``[x + 5 for x in range(16)]``, video positions 5-20); a clip too short for that keeps
    its last frames, repeated (noted)."""
    inside = _in_clip(available, onset, offset)
    rest = inside[DECEPTION_SKIP:] or inside[-1:]
    note = f"first {DECEPTION_SKIP} frames skipped; onset not kept"
    return _leading(rest, n, note)


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


def _largest_changes(
    frames: np.ndarray, plan: SamplingPlan, n: int, keep: str
) -> tuple[np.ndarray, SamplingPlan]:
    """Keep ``n`` frames of ``all_frames``: for each of the ``n`` largest differences between
    neighbouring frames, the frame after it (``keep="after"``) or before it (``"before"``), in
    temporal order; ties go to the earlier pair. A clip of ``n`` frames or fewer is kept whole
    (evenly repeated up to ``n``, noted). Differences are measured on the cropped face, so the
    background does not count. Whether the onset is kept is noted: later stages need it."""
    t = len(frames)
    if t - 1 >= n:
        diffs = frame_differences(frames)
        shift = 1 if keep == "after" else 0
        chosen = sorted(shift + int(i) for i in np.argsort(-diffs, kind="stable")[:n])
        note = ""
    else:
        chosen = [int(round(x)) for x in np.linspace(0, t - 1, n)]
        note = f"clip has {t} frames <= {n}: all kept" + (", frames repeat" if t < n else "")
    numbers = [plan.numbers[i] for i in chosen]
    if chosen[0] != 0:
        note = "; ".join(x for x in (note, f"onset not kept: frame 0 is {numbers[0]}") if x)
    return frames[chosen], SamplingPlan(numbers, [float(x) for x in numbers], note)


def diffk_refine(frames: np.ndarray, plan: SamplingPlan, n: int) -> tuple[np.ndarray, SamplingPlan]:
    """``diffk``: the frame after each of the ``n`` largest changes (the onset has no
    predecessor, so it is kept only when the clip has ``n`` frames or fewer)."""
    return _largest_changes(frames, plan, n, "after")


def diffk_before_refine(
    frames: np.ndarray, plan: SamplingPlan, n: int
) -> tuple[np.ndarray, SamplingPlan]:
    """``diffk-before``: the frame before each of the ``n`` largest changes, as the
    dual-branch extension keeps index k of ``frame_diffs`` (the pair k, k+1) in
    ``Dual-Branch 3DCNN+AU.py:150-161``; the offset is never kept, the onset when the first
    change is among the largest."""
    return _largest_changes(frames, plan, n, "before")


# --------------------------------------------------------------------------------------------
# The onset, for the stages that need it
# --------------------------------------------------------------------------------------------


def stored_onset_index(record: Mapping[str, Any]) -> int | None:
    """0 when a store record's first stored frame is its onset frame, else None.

    Derived from the record's ``frame_numbers`` and ``onset``, so stores written before this
    check are judged the same way. Every mode but the frame-difference ones and
    ``ext-deception`` keeps the onset as frame 0."""
    numbers = record.get("frame_numbers") or []
    return 0 if numbers and float(numbers[0]) == float(record["onset"]) else None


def require_stored_onset(
    records: Iterable[Mapping[str, Any]],
    needed_by: str,
    *,
    store: str | None = None,
    alternative: str = "",
) -> None:
    """Refuse, by clip and sampling mode, records whose onset frame is not stored frame 0
    (``needed_by`` says what needs it: flow, the ``onset-diff`` input)."""
    missing = [r for r in records if stored_onset_index(r) is None]
    if not missing:
        return
    shown = ", ".join(str(r["clip_id"]) for r in missing[:3]) + (
        ", ..." if len(missing) > 3 else ""
    )
    modes = sorted({str(r.get("sampling", "?")).split(" ")[0] for r in missing})
    raise MerprepError(
        f"{needed_by} needs each clip's onset as its first stored frame, but {len(missing)} "
        f"clip(s) do not have it ({shown}): sampling {', '.join(modes)} keeps the frames that "
        "change most (or skips the first ones), which need not include the onset; re-extract "
        "with a --sampling that keeps it (uniform, first, key, all, tim)" + alternative,
        file=store,
    )


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
_DIFFK = SamplingMode("diffk", all_frames, needs_pixels=True, refine=diffk_refine)
_DIFFK_BEFORE = SamplingMode(
    "diffk-before", all_frames, needs_pixels=True, refine=diffk_before_refine
)
_UNIFORM = SamplingMode("uniform", uniform)
_FIRST = SamplingMode("first", first_frames)
for _mode in (
    _UNIFORM,
    SamplingMode("key", key_frames, fixed_frames=9),
    SamplingMode("all", all_frames),
    SamplingMode("tim", every_position, needs_pixels=True, refine=tim_refine, fractional=True),
    _DIFFK,
    _DIFFK_BEFORE,
    _FIRST,
    # the dual-branch extension's per-dataset scripts (docs/references.md#audit-1-1-4)
    replace(_DIFFK_BEFORE, name="ext-casme2", fixed_frames=30),
    replace(_DIFFK_BEFORE, name="ext-casme3", fixed_frames=30),
    replace(_UNIFORM, name="ext-samm", fixed_frames=30),
    replace(_FIRST, name="ext-smic", fixed_frames=10),
    SamplingMode("ext-deception", skip_five_frames, fixed_frames=16),
):
    SAMPLING_MODES.register(_mode.name, _mode)
del _mode


def get_sampling(name: str) -> SamplingMode:
    """The mode ``name``; ValueError (:class:`merprep.registry.UnknownName`) for any other."""
    return SAMPLING_MODES.get(name)
