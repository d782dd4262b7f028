"""``merprep spot``: the classical spotter over every video of a long-video store.

One video per task (local worker processes, or Ray tasks: :mod:`merprep.videotasks`), each
reading its face crops a block at a time. The output folder gets

- ``spots.json``: the parameters, the store's fingerprint, per video the spotted intervals
  (onset, apex, offset in frames and seconds, type, score, region) beside the ground truth,
  and the MEGC evaluation when the store has ground truth (:mod:`.metric`);
- ``curves.npz``: per video the motion scores, thresholds and frame numbers (for pictures and
  the learned spotter), written atomically like ``spots.json``.
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from merprep import __version__
from merprep.errors import MerprepError
from merprep.fsio import atomic_write
from merprep.longvideo.records import Interval
from merprep.longvideo.store import LongVideoStore
from merprep.spotting.classical import SpotConfig, Spotted, spot_motion
from merprep.spotting.features import motion_of
from merprep.spotting.metric import MODES, VideoResult, evaluate
from merprep.store.writer import utc_now
from merprep.videotasks import map_videos
from merprep.workers import single_threaded_worker

log = logging.getLogger(__name__)

FORMAT = "merprep-spots"
VERSION = 1


@dataclass
class SpotResult:
    out: Path
    n_videos: int
    n_spotted: int
    evaluation: dict[str, Any] | None
    seconds: float

    def summary(self) -> str:
        line = (
            f"wrote {self.out / 'spots.json'}: {self.n_spotted} intervals in {self.n_videos} "
            f"videos, {self.seconds:.1f} s"
        )
        if self.evaluation is not None:
            line += "\n" + format_table(self.evaluation)
        return line


def with_seconds(d: dict[str, Any], fps: float, first: int) -> dict[str, Any]:
    """``d`` with onset/apex/offset also in seconds from the video's first frame."""
    out = dict(d)
    for k in ("onset", "apex", "offset"):
        if out.get(k) is not None:
            out[f"{k}_s"] = round((out[k] - first) / fps, 4)
    return out


def spot_video(
    store_path: str, vid: str, config: SpotConfig
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(the video's entry in spots.json, its curves) for one stored video."""
    with LongVideoStore(store_path) as store:
        rec = store.record(vid)
        windows = config.windows(rec["fps"], rec["stride"])
        motion, numbers = motion_of(
            store.iter_faces(vid),
            store.array(vid, "landmarks"),
            store.array(vid, "landmark_frames"),
            windows,
            int(store.attrs["face_size"]),
            config.flow_size,
        )
    spots, curves = spot_motion(motion, numbers, rec["fps"], rec["stride"], rec["limits"], config)
    return video_entry(rec, spots, curves), curve_arrays(curves)


def video_entry(
    rec: dict[str, Any], spots: list[Spotted], curves: dict[str, Any]
) -> dict[str, Any]:
    fps, first = float(rec["fps"]), int(rec.get("first_frame", 0))
    return {
        "video_id": rec["video_id"],
        "dataset": rec["dataset"],
        "subject": rec["subject"],
        "subject_id": rec["subject_id"],
        "fps": fps,
        "first_frame": first,
        "last_frame": int(rec.get("last_frame", first)),
        "stride": int(rec.get("stride", 1)),
        "limits": rec.get("limits"),
        "intervals": [with_seconds(s.to_dict(), fps, first) for s in spots],
        "ground_truth": [with_seconds(i, fps, first) for i in rec.get("intervals", [])],
        "blinks": list(curves.get("blinks", [])),
        "talking": [list(map(int, t)) for t in curves.get("talking", [])],
        "thresholds": {
            k: float(curves[f"threshold_{k}"]) for k in ("me", "mae") if f"threshold_{k}" in curves
        },
    }


def curve_arrays(curves: dict[str, Any]) -> dict[str, np.ndarray]:
    return {
        k: np.asarray(curves[k], np.float32 if k.startswith("score") else np.int64)
        for k in ("frame_numbers", "score_me", "score_mae")
        if k in curves
    }


def _spot_in_worker(
    store_path: str, vid: str, config: SpotConfig
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return spot_video(store_path, vid, config)


def run_spot(
    store_path: Path | str,
    out: Path | str,
    config: SpotConfig,
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    mode: str = "one-to-one",
    command: str = "",
    progress: bool | None = None,
) -> SpotResult:
    """Spot every video of the store into the folder ``out`` (see the module docstring)."""
    start = time.perf_counter()
    store_path, out = Path(store_path), Path(out)
    with LongVideoStore(store_path) as store:
        ids = store.video_ids
        fingerprint = store.fingerprint
    if not ids:
        raise MerprepError("the store holds no videos", file=store_path)
    entries: dict[str, dict[str, Any]] = {}
    arrays: dict[str, dict[str, np.ndarray]] = {}
    items = [(str(store_path), vid, config) for vid in ids]
    for (_, vid, _), (entry, curves) in map_videos(
        _spot_in_worker,
        items,
        executor=executor,
        workers=min(max(1, workers), len(ids)),
        address=address,
        initializer=single_threaded_worker,
        progress=progress,
        desc="spot",
    ):
        entries[vid], arrays[vid] = entry, curves
    videos = [entries[v] for v in ids]
    document = spots_document(
        videos,
        method="classical",
        params=config.to_dict(),
        store=store_path,
        fingerprint=fingerprint,
        command=command,
        mode=mode,
    )
    write_spots(out, document, {v: arrays[v] for v in ids})
    return SpotResult(
        out,
        len(videos),
        sum(len(v["intervals"]) for v in videos),
        document.get("evaluation"),
        time.perf_counter() - start,
    )


def spots_document(
    videos: list[dict[str, Any]],
    *,
    method: str,
    params: dict[str, Any],
    store: Path | str | None,
    fingerprint: str | None,
    command: str,
    mode: str = "one-to-one",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "method": method,
        "params": params,
        "store": None if store is None else str(store),
        "store_fingerprint": fingerprint,
        "command": command,
        "created": utc_now(),
        "merprep_version": __version__,
        **(extra or {}),
        "videos": videos,
    }
    if any(v["ground_truth"] for v in videos):
        doc["evaluation"] = evaluation_of(doc, mode=mode)
    return doc


def write_spots(
    out: Path, document: dict[str, Any], curves: dict[str, dict[str, np.ndarray]] | None = None
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "spots.json", json.dumps(document, indent=1) + "\n")
    if curves:
        buffer = io.BytesIO()
        flat = {f"{i:05d}_{k}": a for i, vid in enumerate(curves) for k, a in curves[vid].items()}
        flat["video_ids"] = np.array(list(curves))
        np.savez_compressed(buffer, **flat)
        atomic_write(out / "curves.npz", buffer.getvalue())


def load_spots(path: Path | str) -> dict[str, Any]:
    """A spots.json (or the folder holding one), checked to be one."""
    path = Path(path)
    if path.is_dir():
        path = path / "spots.json"
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise MerprepError("no spots.json here", file=path) from None
    except ValueError as exc:
        raise MerprepError(f"not a JSON file ({exc})", file=path) from None
    if doc.get("format") != FORMAT:
        raise MerprepError("not a spots.json written by merprep spot", file=path)
    return doc


def evaluation_of(doc: dict[str, Any], *, mode: str = "one-to-one") -> dict[str, Any]:
    """The MEGC tables of a spots document (without the per-match list)."""
    if mode not in MODES:
        raise MerprepError(f"unknown matching mode {mode!r}; choose one of {', '.join(MODES)}")
    result = evaluate(video_results(doc), mode=mode)
    result.pop("matches")
    return result


def video_results(doc: dict[str, Any]) -> list[VideoResult]:
    return [
        VideoResult(
            v["video_id"],
            v["dataset"],
            [Interval.from_dict(g) for g in v["ground_truth"]],
            [Spotted.from_dict(s) for s in v["intervals"]],
        )
        for v in doc["videos"]
    ]


def format_table(evaluation: dict[str, Any]) -> str:
    """The MEGC table: per dataset and combined, ME / MaE / overall TP FP FN P R F1."""
    lines = [
        f"matching {evaluation['mode']}, IoU >= {evaluation['threshold']:g}; counts pooled over all videos",
        f"{'dataset':<16}{'videos':>7}  {'type':<8}{'TP':>6}{'FP':>6}{'FN':>6}{'P':>8}{'R':>8}{'F1':>8}",
    ]
    tables = list(evaluation["datasets"].items())
    if len(tables) > 1:
        tables.append(("combined", evaluation["combined"]))
    for name, table in tables:
        for i, kind in enumerate(("me", "mae", "overall")):
            c = table[kind]
            lines.append(
                f"{name if i == 0 else '':<16}{table['n_videos'] if i == 0 else '':>7}  {kind:<8}"
                f"{c['tp']:>6}{c['fp']:>6}{c['fn']:>6}{c['precision']:>8.3f}{c['recall']:>8.3f}{c['f1']:>8.3f}"
            )
    return "\n".join(lines)
