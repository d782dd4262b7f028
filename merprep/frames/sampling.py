"""Choosing which frames of a clip go into the store (``--sampling``).

Micro-expressions last 0.04-0.5 s, so clips differ in length (at 200 fps, 20 to 100 frames) and
most models need a fixed number of frames. Each mode answers "which source frames, and in
what form":

- ``uniform``: N frames evenly spaced from onset to offset (inclusive). The default; keeps the
  temporal profile of the expression. Clips shorter than N repeat frames.
- ``key``: 9 key frames: onset, 3 between onset and apex, apex, 3 between apex and offset, offset
  (section C models). Without an annotated apex the temporal middle stands in (recorded).
- ``all``: every available frame from onset to offset (variable length; for flow or spotting).

A mode declares ``needs_pixels`` when it must look at decoded frames to decide (e.g. frame
differences); the pipeline then decodes the clip's candidate frames first and calls ``refine``.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


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


def uniform(available: Sequence[int], onset: int, apex: int | None, offset: int,
            n: int) -> SamplingPlan:
    """N frames evenly spaced over [onset, offset]; gaps resolve to the nearest frame on disk."""
    inside = _in_clip(available, onset, offset)
    targets = np.linspace(onset, offset, n)
    numbers = [nearest_available(inside, t) for t in targets]
    note = "" if len(inside) >= n else f"clip has {len(inside)} frames < {n}: frames repeat"
    return SamplingPlan(numbers, [float(t) for t in targets], note)


def key_frames(available: Sequence[int], onset: int, apex: int | None, offset: int,
               n: int = 9) -> SamplingPlan:
    """Onset, 3 between onset and apex, apex, 3 between apex and offset, offset (9 frames)."""
    inside = _in_clip(available, onset, offset)
    note = ""
    if apex is None or not onset <= apex <= offset:
        apex = (onset + offset) / 2
        note = "apex missing: temporal middle used"
    targets = list(np.linspace(onset, apex, 5)) + list(np.linspace(apex, offset, 5))[1:]
    numbers = [nearest_available(inside, t) for t in targets]
    return SamplingPlan(numbers, [float(t) for t in targets], note)


def all_frames(available: Sequence[int], onset: int, apex: int | None, offset: int,
               n: int = 0) -> SamplingPlan:
    """Every frame on disk from onset to offset."""
    inside = _in_clip(available, onset, offset)
    return SamplingPlan(inside, [float(x) for x in inside])


@dataclass(frozen=True)
class SamplingMode:
    name: str
    choose: Callable[..., SamplingPlan]
    fixed_frames: int | None = None  # modes that always produce this many frames
    needs_pixels: bool = False
    refine: Callable | None = None  # (frames, plan, n) -> (frames, plan) when needs_pixels


SAMPLING_MODES: dict[str, SamplingMode] = {
    "uniform": SamplingMode("uniform", uniform),
    "key": SamplingMode("key", key_frames, fixed_frames=9),
    "all": SamplingMode("all", all_frames),
}


def get_sampling(name: str) -> SamplingMode:
    try:
        return SAMPLING_MODES[name]
    except KeyError:
        raise ValueError(f"unknown sampling {name!r}; choose one of "
                         f"{', '.join(SAMPLING_MODES)}") from None
