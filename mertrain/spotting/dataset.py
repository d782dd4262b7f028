"""What the learned spotter learns from: per-frame region flow of every stored long video, the
pseudo-labels of its annotated intervals, and the leave-one-subject-out folds.

**Features** (:func:`video_features`) come from :mod:`merprep.spotting.features`, the classical
spotter's extraction: per kept frame t and window K, the mean flow of each action-unit region
and of each eye (nose-bridge median subtracted: head motion compensated). For every window the
contrast D(t) (the region at t against the mean of its positions K frames before and after) is
kept, and for the shortest window (about half an ME, SOFTNet's onset-to-frame window) also the
flow itself. Each region's channels are divided by that region's own noise floor over the video
(the 25th percentile of its magnitude, as the classical spotter's score is): a per-video
normalisation from the video's own frames, no label and no other video involved, so a held-out
video is treated exactly like a training one. Anything fitted across videos (the
standardisation of :mod:`.train`) is fitted on the training subjects only.

**Pseudo-labels** (:func:`pseudo_labels`): per type (ME, MaE) a soft score that rises from 0
at an annotated onset to 1 at the interval's middle and falls back to 0 at its offset
(sin^2, a raised cosine). Its full width at half maximum is half the interval's length, as the
classical spotter's contrast profile is, so the classical interval extraction (twice the
half-maximum width about the peak's centre) turns a predicted bump back into the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from merprep.errors import MerprepError
from merprep.longvideo.store import LongVideoStore
from merprep.spotting.features import EYES, REGIONS, Motion, motion_of
from mertrain.spotting.config import LearnedSpotConfig

ME, MAE = "me", "mae"
TYPES = (ME, MAE)
PARTS = REGIONS + EYES  # the channels' regions, in order (x, y each)


def kept_windows(config: LearnedSpotConfig, fps: float, stride: int) -> tuple[int, ...]:
    """The flow windows in kept frames (at least 2 each, distinct, in the config's order)."""
    out: list[int] = []
    for seconds in config.windows:
        k = max(2, int(round(seconds * fps / stride)))
        while k in out:
            k += 1
        out.append(k)
    return tuple(out)


def channel_names(n_windows: int) -> list[str]:
    """``w0.d.brow_r.x``, ...: D of every window, then the shortest window's flow ``m``."""
    names = []
    for w in range(n_windows):
        names += [f"w{w}.d.{p}.{c}" for p in PARTS for c in "xy"]
    names += [f"w0.m.{p}.{c}" for p in PARTS for c in "xy"]
    return names


#: face areas of the ``summary`` inputs (each: the largest of its regions)
AREAS = {
    "upper": ("brow_r", "brow_l"),
    "middle": ("nose_wings", "cheek_r", "cheek_l"),
    "lower": ("upper_lip", "mouth_r", "mouth_l", "chin"),
    "eyes": EYES,
}


def input_names(n_windows: int, inputs: str) -> list[str]:
    """The network's input columns: :func:`channel_names` (``vector``), one ``...mag`` column
    per part instead of its x and y (``magnitude``), or per block the face areas' largest
    movement and the whole face's (``summary``), or only the eyes' and the face's
    (``score``)."""
    names = channel_names(n_windows)
    if inputs == "vector":
        return names
    if inputs == "magnitude":
        return [n[:-2] + ".mag" for n in names[::2]]
    blocks = [f"w{w}.d" for w in range(n_windows)] + ["w0.m"]
    areas = (*AREAS, "face") if inputs == "summary" else ("eyes", "face")
    return [f"{b}.{a}.s" for b in blocks for a in areas]


def input_view(x: np.ndarray, inputs: str) -> np.ndarray:
    """The stored features (x, y per part) as the network's inputs (:func:`input_names`):
    the vectors, their lengths (which way a region moves differs from one action unit and
    one face to the next; how far it moves against its noise floor does not), or the
    ``summary``: per block each face area's largest length and the face's (the classical
    spotter's score), all over the median of the face's over the video (its baseline)."""
    if inputs == "vector":
        return x
    mag = np.hypot(x[:, 0::2], x[:, 1::2]).astype(np.float32)
    if inputs == "magnitude":
        return mag
    cols = []
    index = {p: i for i, p in enumerate(PARTS)}
    for block in mag.reshape(len(mag), -1, len(PARTS)).transpose(1, 0, 2):
        face = block[:, : len(REGIONS)].max(axis=1)
        base = max(float(np.median(face[1:])) if len(face) > 1 else 1.0, 1e-3)
        for name, parts in AREAS.items():
            if inputs == "summary" or name == "eyes":
                cols.append(block[:, [index[p] for p in parts]].max(axis=1) / base)
        cols.append(face / base)
    return np.stack(cols, axis=1).astype(np.float32)


def mirror_index(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(source column of each column, sign) of the left-right mirrored features: paired
    regions swap (``_r`` <-> ``_l``) and every x component changes sign."""
    position = {n: i for i, n in enumerate(names)}
    source, sign = [], []
    for n in names:
        window, kind, part, comp = n.split(".")
        if part.endswith("_r"):
            part = part[:-2] + "_l"
        elif part.endswith("_l"):
            part = part[:-2] + "_r"
        source.append(position[f"{window}.{kind}.{part}.{comp}"])
        sign.append(-1.0 if comp == "x" else 1.0)
    return np.asarray(source), np.asarray(sign, np.float32)


def _per_part(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N, P, 2) over each part's noise floor, flattened to (N, 2P)."""
    magnitude = np.hypot(values[..., 0], values[..., 1])
    if valid.any():
        floor = np.quantile(magnitude[valid], 0.25, axis=0)
    else:
        floor = np.ones(values.shape[1])
    out = values / np.maximum(floor, 1e-3)[None, :, None]
    out[~valid] = 0.0
    return out.reshape(len(values), -1).astype(np.float32)


def motion_features(motion: Motion, windows: Sequence[int]) -> np.ndarray:
    """(N, C) features of one video (see the module docstring), columns as
    :func:`channel_names`."""
    n = len(next(iter(motion.regions.values())))
    blocks = []
    for k in windows:
        d, e = motion.vectors(k)
        valid = np.ones(n, bool)
        valid[:1] = False  # the first frame has no flow at all
        blocks.append(_per_part(np.concatenate([d, e], axis=1), valid))
    k0 = windows[0]
    m = np.concatenate([motion.regions[k0], motion.eyes[k0]], axis=1)
    valid = np.isfinite(m).all(axis=(1, 2))
    blocks.append(_per_part(np.nan_to_num(m), valid))
    return np.concatenate(blocks, axis=1)


@dataclass
class VideoFeatures:
    """One stored video as the learned spotter sees it."""

    video_id: str
    subject_id: str
    dataset: str
    fps: float
    stride: int
    numbers: np.ndarray  # (N,) source frame number of each kept frame
    x: np.ndarray  # (N, C) float32, per-video normalised (not yet compressed)
    record: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def intervals(self) -> list[dict[str, Any]]:
        return list(self.record.get("intervals") or [])


def video_features(store_path: str, vid: str, config: LearnedSpotConfig) -> VideoFeatures:
    """Features of one stored video (what a worker process computes)."""
    with LongVideoStore(store_path) as store:
        rec = store.record(vid)
        windows = kept_windows(config, rec["fps"], rec["stride"])
        motion, numbers = motion_of(
            store.iter_faces(vid),
            store.array(vid, "landmarks"),
            store.array(vid, "landmark_frames"),
            windows,
            int(store.attrs["face_size"]),
            config.flow_size,
        )
    return VideoFeatures(
        video_id=rec["video_id"],
        subject_id=rec["subject_id"],
        dataset=rec["dataset"],
        fps=float(rec["fps"]),
        stride=int(rec.get("stride", 1)),
        numbers=np.asarray(numbers, np.int64),
        x=motion_features(motion, windows),
        record=rec,
    )


def grid_numbers(video: VideoFeatures, rate: float) -> np.ndarray:
    """Source frame numbers (fractional) of the network's time steps: ``rate`` a second from
    the first kept frame to the last, whatever the video's frame rate and stride (one network
    for CAS(ME)^2 at 30 fps and SAMM at 200)."""
    step = video.fps / rate
    first, last = float(video.numbers[0]), float(video.numbers[-1])
    return first + step * np.arange(int(np.floor((last - first) / step + 1e-9)) + 1)


def resample(values: np.ndarray, at: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """(len(at), C) ``values`` (N, C), given at frames ``numbers``, linearly interpolated."""
    src = np.asarray(numbers, np.float64)
    return np.stack(
        [np.interp(at, src, values[:, c]) for c in range(values.shape[1])], axis=1
    ).astype(np.float32)


@dataclass
class GridVideo:
    """A video on the network's time base: inputs (:func:`input_view`) and pseudo-labels."""

    video: VideoFeatures
    numbers: np.ndarray  # (M,) fractional source frame numbers
    x: np.ndarray  # (M, C) network inputs, not yet compressed
    labels: np.ndarray  # (M, 2)


def on_grid(video: VideoFeatures, config: LearnedSpotConfig) -> GridVideo:
    """The video's inputs and pseudo-labels at ``config.rate`` steps a second."""
    at = grid_numbers(video, config.rate)
    x = resample(input_view(video.x, config.inputs), at, video.numbers)
    return GridVideo(video, at, x, pseudo_labels(at, video.intervals))


def pseudo_labels(numbers: np.ndarray, intervals: Sequence[dict[str, Any]]) -> np.ndarray:
    """(N, 2) soft targets (ME, MaE) at the frames ``numbers``: sin^2 bumps over each
    annotated interval (0 at onset - 1/2 and offset + 1/2, 1 in the middle; the larger where
    two of a type overlap)."""
    f = np.asarray(numbers, np.float64)
    y = np.zeros((len(f), len(TYPES)), np.float32)
    for iv in intervals:
        if iv.get("type") not in TYPES:
            continue
        onset, offset = int(iv["onset"]), int(iv["offset"])
        length = max(1, offset - onset + 1)
        u = (f - onset + 0.5) / length
        inside = (u > 0.0) & (u < 1.0)
        bump = np.where(inside, np.sin(np.pi * np.clip(u, 0.0, 1.0)) ** 2, 0.0)
        col = TYPES.index(iv["type"])
        y[:, col] = np.maximum(y[:, col], bump.astype(np.float32))
    return y


@dataclass(frozen=True)
class LosoFold:
    """One leave-one-subject-out fold: the held-out subject's videos are its test videos."""

    index: int
    subject_id: str
    train: tuple[str, ...]
    test: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.subject_id


def loso_folds(videos: Sequence[VideoFeatures]) -> list[LosoFold]:
    """One fold per subject (every subject, those without ground truth too: their videos are
    spotted and their false positives count), in subject order."""
    subjects = sorted({v.subject_id for v in videos})
    if len(subjects) < 2:
        raise MerprepError(
            f"leave-one-subject-out needs at least 2 subjects; the store has {len(subjects)}"
        )
    return [
        LosoFold(
            i,
            s,
            tuple(v.video_id for v in videos if v.subject_id != s),
            tuple(v.video_id for v in videos if v.subject_id == s),
        )
        for i, s in enumerate(subjects)
    ]
