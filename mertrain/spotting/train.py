"""Training the learned spotter on one leave-one-subject-out fold and spotting its held-out
videos.

A fold (:func:`train_fold`) touches its held-out subject's videos only after the model and
every choice are fixed. In order, on the **training subjects' videos only**:

1. :func:`fit_normaliser`: the per-channel standardisation (after the signed log compression);
2. :func:`fit_spotter`: a fresh network from the fold's seed, trained for a fixed number of
   epochs (no epoch selection) on random crops with their pseudo-labels, mirrored and
   amplitude-jittered;
3. :func:`choose_threshold` (only with ``threshold_select="train"``): the detection threshold
   that scores best on the training videos themselves;

then :func:`predict_scores` and :func:`spot_scores` on the held-out videos: peaks of each
output above the threshold, each turned into an interval by the classical spotter's
extraction (twice the half-maximum width about the centre), one movement read as both types
kept as its better-scoring reading (:func:`merprep.spotting.classical.combine_readings`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from merprep.longvideo.records import Interval
from merprep.spotting.classical import (
    Spotted,
    combine_readings,
    peak_interval,
    peaks_above,
    type_by_length,
)
from merprep.spotting.features import REGIONS
from merprep.spotting.metric import VideoResult, evaluate
from mertrain.backend import keras
from mertrain.fitting import op_determinism
from mertrain.folds import fold_seed
from mertrain.spotting.config import LearnedSpotConfig
from mertrain.spotting.dataset import (
    MAE,
    ME,
    TYPES,
    GridVideo,
    LosoFold,
    VideoFeatures,
    input_names,
    input_view,
    mirror_index,
    on_grid,
    resample,
)
from mertrain.spotting.model import build_spotter

log = logging.getLogger(__name__)

#: thresholds tried by ``threshold_select="train"``
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.2, 0.81, 0.05))


def compress(x: np.ndarray) -> np.ndarray:
    """Signed log: noise-floor units stay about linear, large movements are tamed."""
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass
class Normaliser:
    """Per-channel mean and standard deviation of the compressed features."""

    mean: np.ndarray
    std: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((compress(x) - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}


def fit_normaliser(videos: Sequence[VideoFeatures], config: LearnedSpotConfig) -> Normaliser:
    """Standardisation fitted on these (training) videos' time steps."""
    x = compress(np.concatenate([on_grid(v, config).x for v in videos]))
    return Normaliser(x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3))


def _crops(
    grids: Sequence[GridVideo],
    normaliser: Normaliser,
    config: LearnedSpotConfig,
    length: int,
    rng: np.random.Generator,
    mirror: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's crops: X (n, length, C) and Y (n, length, 3) = ME, MaE targets, weight."""
    xs, ys = [], []
    for g in grids:
        n = len(g.x)
        for _ in range(config.crops_per_video):
            start = int(rng.integers(0, max(1, n - length + 1)))
            x = g.x[start : start + length]
            t = g.labels[start : start + length]
            if config.mirror and rng.random() < 0.5:
                x = x[:, mirror[0]] * mirror[1]
            if config.scale_jitter:
                x = x * np.float32(np.exp(rng.uniform(-config.scale_jitter, config.scale_jitter)))
            w = 1.0 + config.positive_weight * (t.max(axis=1) > 0)
            pad = length - len(x)
            xs.append(np.pad(normaliser(x), ((0, pad), (0, 0))))
            ys.append(np.pad(np.column_stack([t, w]), ((0, pad), (0, 0))))  # padding weighs 0
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


def weighted_bce(y_true: Any, y_pred: Any) -> Any:
    """Binary cross-entropy against the soft targets, weighted per frame (``y_true[..., 2]``)."""
    ops = keras.ops
    target, weight = y_true[..., :2], y_true[..., 2]
    p = ops.clip(y_pred, 1e-6, 1.0 - 1e-6)
    bce = -(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p))
    return ops.sum(ops.mean(bce, axis=-1) * weight) / ops.maximum(ops.sum(weight), 1.0)


def fit_spotter(
    videos: Sequence[VideoFeatures],
    normaliser: Normaliser,
    config: LearnedSpotConfig,
    seed: int,
) -> tuple[Any, list[float]]:
    """A fresh network from ``seed`` trained on these (training) videos: (model, loss per
    epoch)."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    names = input_names(len(config.windows), config.inputs)
    model = build_spotter(len(names), config)
    model.compile(optimizer=keras.optimizers.Adam(config.lr), loss=weighted_bce)
    rng = np.random.default_rng(seed)
    length = max(8, int(round(config.crop_seconds * config.rate)))
    grids = [on_grid(v, config) for v in videos]
    mirror = mirror_index(names)
    losses = []
    for epoch in range(config.epochs):
        x, y = _crops(grids, normaliser, config, length, rng, mirror)
        hist = model.fit(
            x,
            y,
            batch_size=config.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            verbose=0,
        )
        losses.append(float(hist.history["loss"][-1]))
    return model, losses


def predict_scores(
    model: Any, video: VideoFeatures, normaliser: Normaliser, config: LearnedSpotConfig
) -> np.ndarray:
    """(N, 2) ME and MaE scores of one whole video at its kept frames."""
    grid = on_grid(video, config)
    out = np.asarray(keras.ops.convert_to_numpy(model(normaliser(grid.x)[None], training=False)))
    return resample(out[0], video.numbers.astype(np.float64), grid.numbers)


def _dominant_region(video: VideoFeatures, p: int, n_windows: int) -> str:
    """The scored region moving most at kept frame ``p`` (largest contrast over the windows,
    in its own noise-floor units)."""
    names = input_names(n_windows, "magnitude")
    row = input_view(video.x[p : p + 1], "magnitude")[0]
    best: dict[str, float] = {}
    for name, value in zip(names, row):
        _, kind, part, _ = name.split(".")
        if kind == "d" and part in REGIONS:
            best[part] = max(best.get(part, 0.0), float(value))
    return max(REGIONS, key=lambda r: best.get(r, 0.0))


def moving_average(s: np.ndarray, width: int) -> np.ndarray:
    """``s`` averaged over ``width`` frames about each frame (the ends repeated)."""
    if width <= 1:
        return s
    padded = np.pad(s, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, np.full(width, 1.0 / width), mode="valid").astype(np.float32)


def smoothed_scores(
    scores: np.ndarray, video: VideoFeatures, config: LearnedSpotConfig
) -> np.ndarray:
    """(N, 2) the scores averaged over ``config.smooth`` seconds (ME, MaE): the curves the
    peaks are found on."""
    out = np.empty_like(scores, dtype=np.float32)
    for col in range(len(TYPES)):
        width = int(round(config.smooth[col] * video.fps / video.stride))
        out[:, col] = moving_average(scores[:, col], width)
    return out


def spot_scores(
    scores: np.ndarray, video: VideoFeatures, threshold: float, config: LearnedSpotConfig
) -> list[Spotted]:
    """Intervals of one video from its two score curves (see the module docstring)."""
    limits = video.record["limits"]
    numbers, stride = video.numbers, video.stride
    found: dict[str, list[Spotted]] = {ME: [], MAE: []}
    distance = {ME: limits["me_min"] // (2 * stride), MAE: limits["me_max"] // (2 * stride)}
    smoothed = smoothed_scores(scores, video, config)
    for col, kind in enumerate(TYPES):
        s = smoothed[:, col]
        for p in peaks_above(s, threshold, max(1, distance[kind])):
            onset, offset = peak_interval(s, int(p), 0.0, numbers, stride)
            if config.typing == "length" and type_by_length(offset - onset + 1, limits) != kind:
                continue
            found[kind].append(
                Spotted(
                    onset,
                    offset,
                    int(numbers[p]),
                    kind,
                    float(s[p] / threshold),
                    _dominant_region(video, int(p), len(config.windows)),
                )
            )
    return combine_readings(found, config.overlap)


def choose_threshold(
    scores: Mapping[str, np.ndarray],
    videos: Sequence[VideoFeatures],
    config: LearnedSpotConfig,
) -> tuple[float, dict[str, float]]:
    """The threshold of :data:`THRESHOLDS` with the best overall F1 on these (training) videos
    (ties: the one nearest the configured threshold); also every threshold's F1."""
    f1s: dict[str, float] = {}
    for t in THRESHOLDS:
        results = [
            VideoResult(
                v.video_id,
                v.dataset,
                [Interval.from_dict(i) for i in v.intervals],
                spot_scores(scores[v.video_id], v, t, config),
            )
            for v in videos
        ]
        f1s[f"{t:.2f}"] = float(evaluate(results)["combined"]["overall"]["f1"])
    best = max(THRESHOLDS, key=lambda t: (f1s[f"{t:.2f}"], -abs(t - config.threshold)))
    return float(best), f1s


@dataclass
class FoldResult:
    """One fold's outcome: what it trained on and what it spotted in its held-out videos."""

    fold: LosoFold
    seed: int
    threshold: float
    losses: list[list[float]]  # per ensemble member, per epoch
    seconds: float
    train_subjects: list[str]
    normaliser: Normaliser
    scores: dict[str, np.ndarray] = field(repr=False)
    spotted: dict[str, list[Spotted]]
    threshold_f1: dict[str, float] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "index": self.fold.index,
            "name": self.fold.name,
            "held_out_subject": self.fold.subject_id,
            "seed": self.seed,
            "train_subjects": list(self.train_subjects),
            "train_videos": list(self.fold.train),
            "test_videos": list(self.fold.test),
            "threshold": self.threshold,
            "threshold_f1_on_training_videos": self.threshold_f1,
            "loss": self.losses,
            "seconds": round(self.seconds, 3),
            "normaliser": self.normaliser.to_dict(),
            "n_spotted": sum(len(s) for s in self.spotted.values()),
        }


def _accumulate(total: dict[str, np.ndarray], scores: dict[str, np.ndarray], n: int) -> None:
    for vid, value in scores.items():
        total[vid] = total.get(vid, 0.0) + value / np.float32(n)


def train_fold(
    videos: Mapping[str, VideoFeatures], fold: LosoFold, config: LearnedSpotConfig
) -> FoldResult:
    """Train on the fold's training videos, then spot its held-out ones."""
    start = time.perf_counter()
    train = [videos[v] for v in fold.train]
    seed = fold_seed(config.seed, fold.name)
    if any(v.subject_id == fold.subject_id for v in train):  # a broken fold is a bug
        raise AssertionError(f"fold {fold.name} trains on its held-out subject")
    losses: list[list[float]] = []
    own: dict[str, np.ndarray] = {}
    scores: dict[str, np.ndarray] = {}
    with op_determinism(config.deterministic):
        normaliser = fit_normaliser(train, config)
        for member in range(config.ensemble):  # members' scores are averaged
            member_seed = seed if member == 0 else fold_seed(config.seed, f"{fold.name}#{member}")
            model, loss = fit_spotter(train, normaliser, config, member_seed)
            losses.append(loss)
            if config.threshold_select == "train":
                _accumulate(
                    own,
                    {v.video_id: predict_scores(model, v, normaliser, config) for v in train},
                    config.ensemble,
                )
            _accumulate(
                scores,
                {v: predict_scores(model, videos[v], normaliser, config) for v in fold.test},
                config.ensemble,
            )
        threshold, f1s = config.threshold, dict[str, float]()
        if config.threshold_select == "train":
            threshold, f1s = choose_threshold(own, train, config)
    spotted = {v: spot_scores(scores[v], videos[v], threshold, config) for v in fold.test}
    keras.backend.clear_session()
    return FoldResult(
        fold=fold,
        seed=seed,
        threshold=threshold,
        losses=losses,
        seconds=time.perf_counter() - start,
        train_subjects=sorted({v.subject_id for v in train}),
        normaliser=normaliser,
        scores=scores,
        spotted=spotted,
        threshold_f1=f1s,
    )
