"""One user video, one command: face, landmarks, spotting, recognition, pictures (on CPU).

:func:`analyze_video` streams the video into a long-video store (``work/video.h5``, the same
code as ``merprep extract-long``), spots it with the classical spotter (``work/spots.json``),
and, given a :class:`Recognizer` (a trained model, see ``mertrain analyze --model``), cuts a
face clip for every spotted micro-expression exactly as ``merprep extract`` cut the model's
training clips (its recorded landmarks, alignment, margin, size, colour, sampling and frame
count; :func:`merprep.extract.clip.process_clip` itself) and records the class probabilities.

Outputs in the folder: ``analysis.json`` (every interval: start, apex, end in frames and
seconds, type, score, region, class and class probabilities, or why there are none),
``timeline.png`` and ``montages/NN_<type>.png``. A video without a face or without a spotted
expression gives that answer in ``analysis.json`` and one line, never a traceback.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from merprep.datasets.base import ClipRecord, FrameSource
from merprep.errors import MerprepError, ValidationFailed
from merprep.faces import get_backend
from merprep.fsio import atomic_write
from merprep.longvideo.config import LongExtractConfig
from merprep.spotting.classical import SpotConfig
from merprep.spotting.timeline import load_curves, montage_png, timeline_png

log = logging.getLogger(__name__)

MONTAGE_FRAMES = 7


class Recognizer(Protocol):
    """What analysis needs of a trained recognition model (mertrain.inference's models)."""

    classes: Sequence[str]
    #: the extraction parameters of the model's training clips (merprep extract's params)
    clip_params: Mapping[str, Any]
    describe: str

    def predict(self, clips: np.ndarray) -> np.ndarray:
        """(N, n_classes) probabilities of uint8 face clips (N, T, H, W, C)."""


@dataclass
class AnalyzeResult:
    out: Path
    status: str  # "ok", "no_face", "no_expression"
    message: str
    intervals: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return f"{self.message}\nwrote {self.out / 'analysis.json'} ({self.seconds:.1f} s)"


def analyze_video(
    video: Path | str,
    out: Path | str,
    *,
    recognizer: Recognizer | None = None,
    spot: SpotConfig | None = None,
    fps: float | None = None,
    landmarks: str = "dlib",
    face_size: int = 128,
    progress: bool | None = None,
) -> AnalyzeResult:
    """Analyse ``video`` into the folder ``out`` (see the module docstring)."""
    from merprep.frames.decode import video_fps
    from merprep.longvideo.extract import extract_long
    from merprep.spotting.run import run_spot

    start = time.perf_counter()
    video, out = Path(video).resolve(), Path(out)
    if not video.is_file():
        raise MerprepError("no such video file", file=video)
    rate = fps or video_fps(video)
    if not rate:
        raise MerprepError("cannot read the frame rate of this video; pass --fps", file=video)
    spot = spot or SpotConfig()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    manifest = work / "manifest.csv"
    atomic_write(
        manifest, f"subject,video,source,fps\nuser,video,{json.dumps(str(video))},{rate}\n"
    )
    base: dict[str, Any] = {
        "video": str(video),
        "fps": rate,
        "spotting": {"method": "classical", "params": spot.to_dict()},
        "recognition": recognizer.describe
        if recognizer
        else "none (spotting only: no --model given)",
    }
    config = LongExtractConfig(
        dataset="video",
        root=work,
        out=work / "video.h5",
        annotations=manifest,
        landmarks=landmarks,
        face_size=face_size,
        workers=1,
    )
    try:
        extract_long(config, command=f"merprep analyze {video}", progress=progress)
    except ValidationFailed as exc:
        message = exc.problems[0].message if exc.problems else str(exc)
        if "no face" not in message:
            raise
        return _finish(out, base, "no_face", f"no face found in {video.name}: {message}", [], start)
    spots = run_spot(config.out, work, spot, workers=1, progress=progress)
    doc = json.loads((work / "spots.json").read_text())
    entry = doc["videos"][0]
    intervals = [dict(s) for s in entry["intervals"]]
    if recognizer is not None and intervals:
        from merprep.frames.decode import video_frame_count

        source = FrameSource(video=video, n_video_frames=video_frame_count(video))
        recognise_intervals(source, rate, intervals, recognizer)
    entry["intervals"] = intervals
    _pictures(out, config.out, entry)
    base.update(
        n_frames=entry["last_frame"] - entry["first_frame"] + 1,
        duration_s=round((entry["last_frame"] - entry["first_frame"] + 1) / rate, 3),
    )
    if not intervals:
        return _finish(
            out,
            base,
            "no_expression",
            f"no expression spotted in {video.name} ({base['duration_s']} s, {spots.n_spotted} intervals)",
            [],
            start,
        )
    kinds = {k: sum(1 for i in intervals if i["type"] == k) for k in ("me", "mae")}
    message = f"{video.name}: {kinds['me']} micro- and {kinds['mae']} macro-expression(s) spotted"
    if recognizer is None:
        message += " (spotting only: no recognition model given)"
    return _finish(out, base, "ok", message, intervals, start)


def _finish(
    out: Path,
    base: dict[str, Any],
    status: str,
    message: str,
    intervals: list[dict[str, Any]],
    start: float,
) -> AnalyzeResult:
    doc = {**base, "status": status, "message": message, "intervals": intervals}
    atomic_write(out / "analysis.json", json.dumps(doc, indent=1) + "\n")
    return AnalyzeResult(out, status, message, intervals, time.perf_counter() - start)


def recognise_intervals(
    source: Any, fps: float, intervals: list[dict[str, Any]], recognizer: Recognizer
) -> None:
    """Add ``class``, ``class_probability`` and ``class_probabilities`` to every ME of
    ``intervals`` (MaEs get None: the models know MEs). ``source`` is a
    :class:`~merprep.datasets.base.FrameSource` (a video file or numbered frames)."""
    from merprep.extract.clip import process_clip
    from merprep.extract.config import ExtractConfig
    from merprep.extract.plan import ClipTask

    params = dict(recognizer.clip_params)
    keys = ("landmarks", "align", "margin", "size", "color", "sampling", "frames")
    missing = [k for k in keys if params.get(k) is None]
    if missing:
        raise MerprepError(
            f"the model does not record its clips' {', '.join(missing)}; cannot cut matching clips"
        )
    where = source.path
    config = ExtractConfig(
        dataset="manifest",
        root=where.parent,
        out=where.parent / "unused.h5",
        **{k: params[k] for k in keys},
    )
    backend = get_backend(str(params["landmarks"]))
    for i, s in enumerate(intervals):
        if s["type"] != "me":
            s["class"], s["class_probabilities"] = None, None
            continue
        apex = (
            min(max(s["apex"], s["onset"] + 1), s["offset"] - 1)
            if s["offset"] - s["onset"] >= 2
            else None
        )
        record = ClipRecord(
            "video", "user", f"i{i:03d}", "", "", s["onset"], apex, s["offset"], fps, str(where)
        )
        try:
            _, arrays = process_clip(ClipTask(record, source), config, backend)
        except MerprepError as exc:
            s["class"], s["class_probabilities"], s["class_note"] = None, None, str(exc)
            continue
        proba = np.asarray(recognizer.predict(arrays["frames"][None]))[0]
        s["class_probabilities"] = {
            c: round(float(p), 4) for c, p in zip(recognizer.classes, proba)
        }
        s["class"] = recognizer.classes[int(np.argmax(proba))]
        s["class_probability"] = round(float(np.max(proba)), 4)


def _pictures(out: Path, store_path: Path, entry: dict[str, Any]) -> None:
    from merprep.longvideo.store import LongVideoStore

    curves = load_curves(out / "work")
    timeline_png(entry, curves.get(entry["video_id"], {}), out / "timeline.png")
    if not entry["intervals"]:
        return
    with LongVideoStore(store_path) as store:
        vid = store.video_ids[0]
        numbers = store.array(vid, "frame_numbers")
        for k, s in enumerate(entry["intervals"], start=1):
            wanted = np.unique(
                np.linspace(s["onset"], s["offset"], MONTAGE_FRAMES).round().astype(int)
            )
            idx = np.clip(np.searchsorted(numbers, wanted), 0, len(numbers) - 1)
            label = f"{s['type'].upper()} {s['onset_s']:.2f}-{s['offset_s']:.2f} s, score {s['score']:.1f}"
            if s.get("class"):
                label += f", {s['class']} ({s['class_probability']:.2f})"
            montage_png(
                store.faces_at(vid, list(idx)),
                [int(numbers[int(j)]) for j in idx],
                int(s["apex"]),
                label,
                out / "montages" / f"{k:02d}_{s['type']}.png",
            )
