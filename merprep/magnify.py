"""Eulerian linear motion magnification of stored face clips (``merprep magnify``, optional).

Each frame is split into a Laplacian pyramid; every band-pass level is filtered in time (ideal
FFT band or a first-order Butterworth band-pass, in Hz) and the filtered signal, multiplied by
``alpha``, is added back; the coarsest (low-pass) level is left alone so slow lighting changes
are not amplified. Small motions whose temporal frequency lies in the band grow about
``1 + alpha`` times (Wu et al., SIGGRAPH 2012). See docs/flow.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merprep import stages
from merprep.errors import MerprepError
from merprep.parallel import map_clips
from merprep.store import ClipStore, modify_store, store_lock

log = logging.getLogger(__name__)

STAGE = stages.MAGNIFY.name
FILTERS = ("ideal", "butterworth")
#: bounds of ``levels``; the CLI's range is the same (a test keeps them equal)
LEVELS_RANGE = (1, 8)


@dataclass
class MagnifyConfig:
    """Parameters of a magnify stage; recorded in the store as the stage's params."""

    alpha: float
    low: float
    high: float
    levels: int = 4
    filter: str = "ideal"

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise MerprepError(f"alpha must be positive, got {self.alpha}")
        if not 0 <= self.low < self.high:
            raise MerprepError(
                f"the band needs 0 <= low < high (Hz), got low {self.low}, high {self.high}"
            )
        lo, hi = LEVELS_RANGE
        if not lo <= self.levels <= hi:
            raise MerprepError(f"levels must be between {lo} and {hi}, got {self.levels}")
        if self.filter not in FILTERS:
            raise MerprepError(f"filter must be one of {', '.join(FILTERS)}, got {self.filter!r}")

    def stage_params(self) -> dict[str, Any]:
        d = asdict(self)
        d["band_hz"] = [self.low, self.high]
        d["sample_rate"] = (
            "record fps x (stored frames - 1) / (last - first source frame "
            "number): stored frames treated as evenly spaced"
        )
        d["amplified_levels"] = "every Laplacian band-pass level; low-pass residual unchanged"
        return d


def check_band(store: ClipStore, config: MagnifyConfig) -> None:
    """Refuse a band reaching the Nyquist frequency of any clip (half its stored frames' rate):
    a filter cannot pass frequencies the samples do not hold, and would silently amplify
    nothing, or noise."""
    worst: tuple[float, str] | None = None
    for cid in store.clip_ids:
        record = store.record(cid)
        nyquist = sample_rate(record["fps"], record["frame_numbers"]) / 2
        if worst is None or nyquist < worst[0]:
            worst = (nyquist, cid)
    if worst is not None and config.high >= worst[0]:
        raise MerprepError(
            f"band {config.low:g}-{config.high:g} Hz: clip {worst[1]} holds frequencies up to "
            f"{worst[0]:.3g} Hz only (half its stored frames' rate); choose a high edge below "
            "that",
            file=store.path,
        )


def sample_rate(fps: float, frame_numbers: Sequence[float]) -> float:
    """Frames per second of the *stored* frames: sampling keeps every k-th source frame on
    average, so the rate is fps / mean step."""
    nums = np.asarray(frame_numbers, np.float64)
    if len(nums) < 2 or nums[-1] <= nums[0]:
        return float(fps)
    return float(fps) * (len(nums) - 1) / float(nums[-1] - nums[0])


def laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels`` band-pass images plus the low-pass residual (float32)."""
    pyramid, current = [], img
    for _ in range(levels):
        down = cv2.pyrDown(current)
        up = cv2.pyrUp(down, dstsize=(current.shape[1], current.shape[0]))
        pyramid.append(current - up.reshape(current.shape))
        current = down.reshape(down.shape[:2] + current.shape[2:])
    pyramid.append(current)
    return pyramid


def collapse(pyramid: list[np.ndarray]) -> np.ndarray:
    current = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        up = cv2.pyrUp(current, dstsize=(band.shape[1], band.shape[0]))
        current = band + up.reshape(band.shape)
    return current


def bandpass(
    signal: np.ndarray, rate: float, low: float, high: float, kind: str
) -> tuple[np.ndarray, int]:
    """Temporal band-pass along axis 0; returns (filtered, number of FFT bins in the band;
    0 means nothing passes).

    ``ideal`` keeps the FFT bins with low <= |f| <= high exactly. ``butterworth`` is a
    first-order band-pass run forward and backward (zero phase).
    """
    t = signal.shape[0]
    freqs = np.fft.rfftfreq(t, d=1.0 / rate)
    keep = (freqs >= low) & (freqs <= high)
    n_bins = int(keep.sum())
    if kind == "ideal":
        spectrum = np.fft.rfft(signal, axis=0)
        spectrum[~keep] = 0
        return np.fft.irfft(spectrum, n=t, axis=0).astype(np.float32), n_bins
    from scipy.signal import butter, sosfiltfilt

    nyquist = rate / 2.0
    hi = min(high, 0.99 * nyquist)
    if low >= hi:
        return np.zeros_like(signal), 0
    if low > 0:
        sos = butter(1, [low, hi], btype="bandpass", fs=rate, output="sos")
    else:
        sos = butter(1, hi, btype="lowpass", fs=rate, output="sos")
    padlen = min(3 * (2 * len(sos) + 1), t - 1)
    # A Butterworth band also passes neighbouring frequencies: count it as one bin at least.
    return sosfiltfilt(sos, signal, axis=0, padlen=padlen).astype(np.float32), max(n_bins, 1)


def magnify_frames(
    frames: np.ndarray, rate: float, config: MagnifyConfig
) -> tuple[np.ndarray, dict[str, Any]]:
    """Magnified uint8 frames (same shape) and what was done, for the clip's stage info."""
    frames = np.asarray(frames)
    t, h, w = frames.shape[:3]
    levels = min(config.levels, max(1, int(np.log2(max(2, min(h, w)) / 4))))
    info: dict[str, Any] = {"sample_rate": round(rate, 4), "levels": levels}
    if t < 3:
        info["note"] = "fewer than 3 frames; unchanged"
        return frames.copy(), info
    data = frames.astype(np.float32)
    pyramids = [laplacian_pyramid(f, levels) for f in data]
    amplified = []
    n_bins = 0
    for level in range(levels):
        stack = np.stack([p[level] for p in pyramids])
        filtered, n_bins = bandpass(stack, rate, config.low, config.high, config.filter)
        amplified.append(config.alpha * filtered)
    info["band_bins"] = n_bins
    if n_bins == 0:
        info["note"] = (
            f"the band {config.low}-{config.high} Hz holds no frequency of this clip "
            f"(resolution {rate / t:.3g} Hz, Nyquist {rate / 2:.3g} Hz)"
        )
        log.info("%s", info["note"])
    out = np.empty_like(data)
    for i in range(t):
        added = collapse([a[i] for a in amplified] + [np.zeros_like(pyramids[i][-1])])
        out[i] = data[i] + added.reshape(data[i].shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), info


@dataclass
class MagnifyResult:
    path: Path
    n_clips: int = 0
    unchanged: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        line = (
            f"magnified frames written to {self.path}: {self.n_clips} clips in {self.seconds:.1f} s"
        )
        if self.unchanged:
            line += f"; {self.unchanged} clip(s) had no frequency in the band (see -v)"
        return line


def run_magnify(
    path: Path | str, config: MagnifyConfig, *, command: str = "", progress: bool | None = None
) -> MagnifyResult:
    """Add the ``magnify`` stage (``magnified/frames``) to the store at ``path``."""
    path = Path(path)
    start = time.perf_counter()
    result = MagnifyResult(path)
    with (
        store_lock(path, must_exist=True),
        ClipStore(path) as store,
        modify_store(
            path, STAGE, command or "merprep.magnify.run_magnify", config.stage_params()
        ) as writer,
    ):
        ids = store.clip_ids
        check_band(store, config)

        def items():
            for cid in ids:
                record = store.record(cid)
                yield (
                    cid,
                    store.frames(cid),
                    sample_rate(record["fps"], record["frame_numbers"]),
                    config,
                )

        # inline in this process (workers=1), as this stage always ran; giving it a --workers
        # option is passing that number here (_magnify_clip is picklable)
        for _, (cid, (out, info)) in map_clips(
            _magnify_clip, items(), workers=1, total=len(ids), desc=STAGE, progress=progress
        ):
            writer.write(cid, stages.MAGNIFIED_FRAMES, out)
            writer.set_clip_info(cid, info)
            result.n_clips += 1
            result.unchanged += "note" in info
    result.seconds = time.perf_counter() - start
    return result


def _magnify_clip(
    clip_id: str, frames: np.ndarray, rate: float, config: MagnifyConfig
) -> tuple[str, tuple[np.ndarray, dict[str, Any]]]:
    return clip_id, magnify_frames(frames, rate, config)
