"""``mertrain spot-train``: the learned spotter under leave-one-subject-out, into a run folder.

The folder gets, each written atomically (:mod:`merprep.fsio`):

- ``features-<store>.npz``: every video's features (computed once, one video per worker
  process, and reused by a later run on the same store with the same feature parameters; no
  label enters them);
- ``folds/NNN.json``: per fold the held-out subject, the videos trained on, the fold seed, the
  loss per epoch, the threshold and how it was chosen, and the standardisation;
- ``spots.json`` and ``curves.npz`` in the format of ``merprep spot`` (:mod:`merprep.spotting.
  run`; ``method`` ``learned``, every parameter in ``params``, the folds in ``loso``), so
  ``merprep spot-eval`` and ``mertrain spot-eval`` score both spotters the same way. Every
  video is spotted by the one fold that held its subject out. With several stores (say
  CAS(ME)^2 and SAMM: one leave-one-subject-out over all their subjects) ``spots.json`` holds
  every video and ``<store>/spots.json`` each store's, with its store (for STR).
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from merprep.errors import MerprepError
from merprep.fsio import atomic_write
from merprep.jsonutil import sha256_json
from merprep.longvideo.store import LongVideoStore
from merprep.spotting.run import format_table, spots_document, video_entry, write_spots
from merprep.videotasks import map_videos
from merprep.workers import single_threaded_worker
from mertrain.spotting.config import LearnedSpotConfig
from mertrain.spotting.dataset import VideoFeatures, loso_folds, video_features
from mertrain.spotting.train import FoldResult, smoothed_scores, train_fold

log = logging.getLogger(__name__)

FEATURES_FORMAT = "mertrain-spot-features-v1"
PROTOCOL_NOTE = (
    "leave-one-subject-out: each video spotted by the model of the fold that held its subject "
    "out; normalisation, training (fixed epochs) and any threshold choice on the training "
    "subjects only"
)


@dataclass
class SpotTrainResult:
    out: Path
    folds: list[FoldResult]
    evaluation: dict[str, Any] | None
    seconds: float

    def summary(self) -> str:
        n = sum(len(f.spotted) for f in self.folds)
        k = sum(sum(len(s) for s in f.spotted.values()) for f in self.folds)
        line = (
            f"wrote {self.out / 'spots.json'}: {k} intervals in {n} videos, "
            f"{len(self.folds)} leave-one-subject-out folds, {self.seconds:.1f} s"
        )
        if self.evaluation is not None:
            line += "\n" + format_table(self.evaluation)
        return line


def _features_key(fingerprint: str, config: LearnedSpotConfig) -> str:
    return sha256_json({"format": FEATURES_FORMAT, "store": fingerprint, **config.feature_params()})


def _features_in_worker(store_path: str, vid: str, config: LearnedSpotConfig) -> VideoFeatures:
    return video_features(store_path, vid, config)


def compute_features(
    store_path: Path | str,
    config: LearnedSpotConfig,
    *,
    workers: int = 1,
    cache: Path | None = None,
    progress: bool | None = None,
) -> dict[str, VideoFeatures]:
    """Every stored video's features, by video id in store order; read from ``cache`` when it
    holds them for this store and these feature parameters, else computed (and written
    there)."""
    store_path = Path(store_path)
    with LongVideoStore(store_path) as store:
        ids = store.video_ids
        fingerprint = store.fingerprint
        records = {v: store.record(v) for v in ids}
    if not ids:
        raise MerprepError("the store holds no videos", file=store_path)
    key = _features_key(fingerprint, config)
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            if str(z["key"]) == key and list(z["video_ids"]) == ids:
                log.info("features read from %s", cache)
                return {
                    vid: _from_cache(records[vid], z[f"{i:05d}_numbers"], z[f"{i:05d}_x"])
                    for i, vid in enumerate(ids)
                }
    out: dict[str, VideoFeatures] = {}
    items = [(str(store_path), vid, config) for vid in ids]
    for (_, vid, _), feats in map_videos(
        _features_in_worker,
        items,
        workers=min(max(1, workers), len(ids)),
        initializer=single_threaded_worker,
        progress=progress,
        desc="features",
    ):
        out[vid] = feats
    out = {vid: out[vid] for vid in ids}
    if cache is not None:
        buffer = io.BytesIO()
        arrays: dict[str, Any] = {"key": np.array(key), "video_ids": np.array(ids)}
        for i, vid in enumerate(ids):
            arrays[f"{i:05d}_numbers"], arrays[f"{i:05d}_x"] = out[vid].numbers, out[vid].x
        np.savez_compressed(buffer, **arrays)
        atomic_write(cache, buffer.getvalue())
    return out


def _from_cache(rec: dict[str, Any], numbers: np.ndarray, x: np.ndarray) -> VideoFeatures:
    return VideoFeatures(
        video_id=rec["video_id"],
        subject_id=rec["subject_id"],
        dataset=rec["dataset"],
        fps=float(rec["fps"]),
        stride=int(rec.get("stride", 1)),
        numbers=np.asarray(numbers, np.int64),
        x=np.asarray(x, np.float32),
        record=rec,
    )


def features_cache(out: Path, store_path: Path) -> Path:
    """Where a run folder keeps one store's features."""
    return out / f"features-{store_path.stem}.npz"


def run_spot_train(
    stores: Sequence[Path | str] | Path | str,
    out: Path | str,
    config: LearnedSpotConfig,
    *,
    workers: int = 1,
    mode: str = "one-to-one",
    command: str = "",
    progress: bool | None = None,
    on_fold: Callable[[FoldResult], None] | None = None,
) -> SpotTrainResult:
    """Train and spot every fold of the store(s) into the folder ``out`` (module docstring).
    With several stores the folds are those of all their subjects together: a held-out
    subject's model trains on every other subject of every store."""
    start = time.perf_counter()
    paths = [Path(stores)] if isinstance(stores, (str, Path)) else [Path(p) for p in stores]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    features: dict[str, VideoFeatures] = {}
    fingerprints, owner = [], {}
    for path in paths:
        feats = compute_features(
            path, config, workers=workers, cache=features_cache(out, path), progress=progress
        )
        if set(feats) & set(features):
            raise MerprepError("a video is in two of the stores given", file=path)
        features.update(feats)
        owner.update(dict.fromkeys(feats, path))
        with LongVideoStore(path) as store:
            fingerprints.append(store.fingerprint)
    folds = loso_folds(list(features.values()))
    results: list[FoldResult] = []
    bar = tqdm(
        folds,
        desc="spot-train folds",
        unit="fold",
        disable=None if progress is None else not progress,
    )
    for fold in bar:
        result = train_fold(features, fold, config)
        atomic_write(
            out / "folds" / f"{fold.index:03d}.json",
            json.dumps(result.to_record(), indent=1) + "\n",
        )
        log.info("fold %s: %d videos spotted, %.1f s", fold.name, len(fold.test), result.seconds)
        results.append(result)
        if on_fold is not None:
            on_fold(result)
    entries, curves = {}, {}
    for r in results:
        for vid in r.fold.test:
            v = features[vid]
            scores = smoothed_scores(r.scores[vid], v, config)
            curve = {
                "frame_numbers": v.numbers,
                "score_me": scores[:, 0],
                "score_mae": scores[:, 1],
                "threshold_me": r.threshold,
                "threshold_mae": r.threshold,
            }
            entry = video_entry(v.record, r.spotted[vid], curve)
            entry["fold"] = r.fold.index
            entries[vid], curves[vid] = (
                entry,
                {k: np.asarray(curve[k]) for k in ("frame_numbers", "score_me", "score_mae")},
            )
    extra = {
        "protocol": PROTOCOL_NOTE,
        "stores": [{"path": str(p), "fingerprint": f} for p, f in zip(paths, fingerprints)],
        "loso": [
            {
                "index": r.fold.index,
                "held_out_subject": r.fold.subject_id,
                "seed": r.seed,
                "threshold": r.threshold,
                "train_subjects": r.train_subjects,
            }
            for r in results
        ],
    }

    def document(ids: list[str], store: Path | None, fingerprint: str | None) -> dict[str, Any]:
        return spots_document(
            [entries[v] for v in ids],
            method="learned",
            params=config.to_dict(),
            store=store,
            fingerprint=fingerprint,
            command=command,
            mode=mode,
            extra=extra,
        )

    ids = list(features)
    single = len(paths) == 1
    doc = document(ids, paths[0] if single else None, fingerprints[0] if single else None)
    write_spots(out, doc, {v: curves[v] for v in ids})
    if not single:  # one spots.json per store too: what STR (mertrain spot-eval --model) reads
        for path, fingerprint in zip(paths, fingerprints):
            mine = [v for v in ids if owner[v] == path]
            write_spots(
                out / path.stem, document(mine, path, fingerprint), {v: curves[v] for v in mine}
            )
    return SpotTrainResult(out, results, doc.get("evaluation"), time.perf_counter() - start)
