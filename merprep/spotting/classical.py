"""The classical, training-free spotter: region motion contrast -> peaks -> typed intervals.

From :mod:`.features` (flow over AU regions, nose-bridge head-motion compensation, eyes
masked), per window K the score S(t) is the largest region contrast |D_r(t)|, each region
divided by its own median over the video (so a region's noise level is its own baseline).
Two windows: the **ME window** (about the longest micro-expression, 0.55 s) and the **MaE
window** (3 s). In each, peaks above ``threshold`` robust standard deviations over the
video's median (median + z * 1.4826 * MAD: relative to the video's own baseline, so a video
without expressions gives nothing) become intervals: an expression shorter than K shows its own
time profile in S, whose full width at half maximum is half the expression's length for a
rise-and-fall profile, so the interval is twice the half-maximum width about its centre.

Intervals are typed by length with the dataset's frame limits (ME window: ``me_min``..
``me_max``; MaE window: longer than ``me_max``); an ME whose apex lies inside a spotted MaE is
dropped (a MaE's rise also stands out in the short window). **Talking** is suppressed: where
at least ``talking_peaks`` lower-face peaks follow each other less than ``talking_gap`` apart,
the span is talking and lower-face intervals in it are dropped. Blinks never score (the eyes
are masked); the eye signal's peaks are reported as ``blinks``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from merprep.spotting.features import LOWER, REGIONS, Motion

ME, MAE = "me", "mae"
_LOWER = [REGIONS.index(r) for r in LOWER]


@dataclass
class SpotConfig:
    """Every parameter of the classical spotter (recorded with its output)."""

    flow_size: int = 96
    me_window: float = 0.55  # seconds
    mae_window: float = 3.0  # seconds
    threshold: float = 4.0  # times the video's median score
    noise_quantile: float = 0.25  # a region's noise floor: this quantile of its contrast
    blink_ratio: float = 2.0  # eye motion this many times the region's: a blink
    talking_peaks: int = 4
    talking_gap: float = 0.6  # seconds between consecutive syllable peaks
    overlap: float = 0.2  # IoU above which two intervals of one type are one

    def windows(self, fps: float, stride: int) -> tuple[int, int]:
        """(ME window, MaE window) in kept frames."""
        return (
            max(2, int(round(self.me_window * fps / stride))),
            max(3, int(round(self.mae_window * fps / stride))),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Spotted:
    """One spotted interval: source frames (inclusive), type, score and where it moved."""

    onset: int
    offset: int
    apex: int
    type: str
    score: float
    region: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Spotted:
        return cls(
            **{k: d[k] for k in ("onset", "offset", "apex", "type", "score", "region")},
            extra=dict(d.get("extra") or {}),
        )


def normalised_score(
    contrast: np.ndarray, valid: np.ndarray, quantile: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """(S(t), dominant region index): each region's contrast over its own ``quantile`` over
    the video (its noise floor), then the largest region."""
    if valid.any():
        base = np.quantile(contrast[valid], quantile, axis=0)
    else:
        base = np.ones(contrast.shape[1])
    norm = contrast / np.maximum(base, 1e-6)
    norm[~valid] = 0.0
    return norm.max(axis=1), norm.argmax(axis=1)


def video_threshold(score: np.ndarray, valid: np.ndarray, factor: float) -> tuple[float, float]:
    """(median, factor x median) of the score over the valid frames: the video's own baseline."""
    med = float(np.median(score[valid])) if valid.any() else float(np.median(score))
    return med, factor * max(med, 1e-6)


def side_lobe(vectors: np.ndarray, p: int, k: int, ratio: float = 1.5) -> bool:
    """True when the peak at ``p`` is the echo of a stronger event K frames away: D(t) of an
    event at t0 is -1/2 of it at t0 +- K (opposite direction, half the size). Within K frames
    of either end D is one-sided and the echo is as large as the event: there an opposite
    partner of at least 0.7 times the size (in the two-sided part) makes ``p`` the echo."""
    n = len(vectors)
    a = vectors[p].ravel()
    na = float(np.linalg.norm(a))
    for q in (p - k, p + k):
        if 0 <= q < n:
            b = vectors[q].ravel()
            nb = float(np.linalg.norm(b))
            one_sided = p < k <= q or q < n - k <= p
            need = 0.7 if one_sided else ratio
            if nb > need * na and float(a @ b) < -0.3 * na * nb:
                return True
    return False


def _peaks(score: np.ndarray, height: float, distance: int) -> np.ndarray:
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(score, height=height, distance=max(1, distance))
    return peaks


def _extent(score: np.ndarray, p: int, base: float) -> tuple[float, float]:
    """(centre, width) in kept frames of the run around ``p`` above half the peak's height."""
    half = base + 0.5 * (score[p] - base)
    left = p
    while left > 0 and score[left - 1] > half:
        left -= 1
    right = p
    while right < len(score) - 1 and score[right + 1] > half:
        right += 1
    return (left + right) / 2.0, float(right - left + 1)


def _interval(numbers: np.ndarray, centre: float, width: float) -> tuple[int, int]:
    idx = np.arange(len(numbers), dtype=np.float64)
    lo = float(np.interp(centre - width, idx, numbers, left=numbers[0] - (width - centre)))
    hi = float(np.interp(centre + width, idx, numbers))
    step = float(numbers[1] - numbers[0]) if len(numbers) > 1 else 1.0
    return int(round(lo)), int(round(hi + step - 1))  # the last kept frame stands for a stride


def _iou(a: Spotted, b: Spotted) -> float:
    inter = min(a.offset, b.offset) - max(a.onset, b.onset) + 1
    if inter <= 0:
        return 0.0
    return inter / ((a.offset - a.onset + 1) + (b.offset - b.onset + 1) - inter)


def spot_motion(
    motion: Motion,
    numbers: np.ndarray,
    fps: float,
    stride: int,
    limits: dict[str, int],
    config: SpotConfig,
) -> tuple[list[Spotted], dict[str, Any]]:
    """Spotted intervals of one video and the curves behind them (for the timeline)."""
    k_me, k_mae = config.windows(fps, stride)
    n = len(numbers)
    curves: dict[str, Any] = {"frame_numbers": numbers, "windows": [k_me, k_mae]}
    found: dict[str, list[Spotted]] = {ME: [], MAE: []}
    talking: list[tuple[int, int]] = []
    blinks: list[int] = []
    for kind, k in ((ME, k_me), (MAE, k_mae)):
        vectors, eye_vectors = motion.vectors(k)
        contrast = np.hypot(vectors[..., 0], vectors[..., 1])
        eyes = np.hypot(eye_vectors[..., 0], eye_vectors[..., 1]).max(axis=1)
        valid = np.ones(n, bool)
        if n > k:
            valid[:1] = False  # the first frame has no flow at all
        score, dominant = normalised_score(contrast, valid, config.noise_quantile)
        base, thr = video_threshold(score, valid, config.threshold)
        curves[f"score_{kind}"] = score
        curves[f"threshold_{kind}"] = thr
        kept = []
        for p in _peaks(score, thr, k // 2 if kind == ME else k // 4):
            if eyes[p] > config.blink_ratio * contrast[p, dominant[p]]:
                if kind == ME:
                    blinks.append(int(numbers[p]))
                continue
            if not side_lobe(vectors, int(p), k):
                kept.append(int(p))
        if kind == ME:
            talking = _talking(np.asarray(kept, int), dominant, numbers, fps, config)
        for p in kept:
            region = REGIONS[int(dominant[p])]
            onset, offset = peak_interval(score, p, base, numbers, stride)
            if type_by_length(offset - onset + 1, limits) != kind:
                continue
            apex = int(numbers[p])
            if region in LOWER and any(a <= apex <= b for a, b in talking):
                continue
            found[kind].append(Spotted(onset, offset, apex, kind, float(score[p] / thr), region))
    curves["blinks"] = blinks
    curves["talking"] = talking
    return combine_readings(found, config.overlap), curves


def combine_readings(found: dict[str, list[Spotted]], overlap: float) -> list[Spotted]:
    """The spotted intervals of both types in temporal order: within a type, of two intervals
    overlapping by more than ``overlap`` IoU the better-scoring one; one movement seen as both
    types (each one's apex inside the other): the better-scoring reading (scores are each
    reading's peak over its own threshold)."""
    readings = _suppress(found.get(MAE, []), overlap) + _suppress(found.get(ME, []), overlap)
    out: list[Spotted] = []
    for s in sorted(readings, key=lambda s: -s.score):
        if not any(o.type != s.type and _conflict(s, o) for o in out):
            out.append(s)
    return sorted(out, key=lambda s: (s.onset, s.offset))


def peaks_above(score: np.ndarray, height: float, distance: int) -> np.ndarray:
    """Indices of the peaks of ``score`` above ``height``, at least ``distance`` apart."""
    return _peaks(score, height, distance)


def peak_interval(
    score: np.ndarray, p: int, base: float, numbers: np.ndarray, stride: int
) -> tuple[int, int]:
    """(onset, offset) in source frames of the peak at ``p``: twice the width of the run above
    half the peak's height over ``base``, about that run's centre, within the video."""
    centre, width = _extent(score, p, base)
    onset, offset = _interval(numbers, centre, width)
    return max(onset, int(numbers[0])), min(offset, int(numbers[-1]) + stride - 1)


def type_by_length(length: int, limits: dict[str, int]) -> str | None:
    """ME or MaE by the dataset's frame limits (None: shorter than the shortest ME)."""
    if length > limits["me_max"]:
        return MAE
    if length >= limits["me_min"]:
        return ME
    return None


def _conflict(a: Spotted, b: Spotted) -> bool:
    return a.onset <= b.apex <= a.offset or b.onset <= a.apex <= b.offset


def _suppress(items: list[Spotted], overlap: float) -> list[Spotted]:
    kept: list[Spotted] = []
    for s in sorted(items, key=lambda s: -s.score):
        if all(_iou(s, k) <= overlap for k in kept):
            kept.append(s)
    return kept


def _talking(
    peaks: np.ndarray, dominant: np.ndarray, numbers: np.ndarray, fps: float, config: SpotConfig
) -> list[tuple[int, int]]:
    """Spans of source frames where lower-face peaks come in quick succession (syllables)."""
    lower = [int(numbers[p]) for p in peaks if int(dominant[p]) in _LOWER]
    gap = config.talking_gap * fps
    spans, run = [], lower[:1]
    for f in lower[1:]:
        if f - run[-1] <= gap:
            run.append(f)
            continue
        if len(run) >= config.talking_peaks:
            spans.append((run[0], run[-1]))
        run = [f]
    if len(run) >= config.talking_peaks:
        spans.append((run[0], run[-1]))
    pad = int(round(config.me_window * fps))
    return [(a - pad, b + pad) for a, b in spans]
