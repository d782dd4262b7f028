"""``merprep extract-long``: a long-video dataset as shipped -> a long-video store.

1. **Plan** (:func:`plan_long`): the adapter reads the workbook (quirks kept, bad rows and
   annotated videos missing on disk are problems) and lists the videos; every interval must lie
   within the video's frames. Unless ``skip_invalid``, any problem stops here with the list.
2. **Stream** (:func:`stage_video`, one video per worker or Ray task): find the face on the
   first frame that has one (trying about one frame a second), fix ONE crop transform for the
   whole video from it (the video's own small movements stay in the crops), then decode every
   kept frame once, in order (JPEGs at reduced size when the face stays larger than the
   crop), warp it to the gray face crop and append it to the video's staged file; landmarks
   are found every ``landmark_every`` seconds (a frame without a face reuses the last ones).
3. **Write**: the staged videos are copied into the store in id order and the store is renamed
   into place; ``resume`` keeps the videos staged by an interrupted run of the same parameters.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from merprep.datasets.base import FrameSource
from merprep.errors import MerprepError, Problem, StoreError, ValidationFailed
from merprep.extract.clip import choose_reduce
from merprep.faces import backend_class, get_backend
from merprep.faces.align import ALIGNERS
from merprep.faces.base import FaceNotFound, LandmarkBackend
from merprep.faces.geometry import face_box, scale_source, transform_points, warp
from merprep.frames.decode import video_frame_count
from merprep.fsio import atomic_write
from merprep.jsonutil import canonical_json
from merprep.longvideo import get_long_adapter
from merprep.longvideo.config import LongExtractConfig
from merprep.longvideo.records import VideoRecord
from merprep.longvideo.store import LongStoreWriter, StagedVideo
from merprep.longvideo.stream import iter_frames, kept_numbers
from merprep.store import store_lock
from merprep.videotasks import map_videos
from merprep.workers import single_threaded_worker

log = logging.getLogger(__name__)

#: frames tried for the face: the first, then one a second, at most this many
FACE_TRIES = 10


@dataclass
class VideoTask:
    """One video to extract (sent to a worker)."""

    record: VideoRecord
    source: FrameSource
    limits: dict[str, int]


@dataclass
class LongExtractResult:
    path: Path
    n_videos: int
    n_frames: int
    skipped: list[dict[str, Any]]
    quirks: list[Problem]
    fingerprint: str
    seconds: float
    resumed: int = 0
    phases: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"wrote {self.path}: {self.n_videos} videos, {self.n_frames} face frames, "
            f"{len(self.skipped)} skipped, {len(self.quirks)} annotation quirks normalised, "
            f"{self.seconds:.1f} s ({self.n_frames / max(self.seconds, 1e-9):.0f} frames/s), "
            f"fingerprint {self.fingerprint[:12]}"
        )


def plan_long(config: LongExtractConfig) -> tuple[list[VideoTask], list[Problem], list[Problem]]:
    """(tasks, quirks, problems): every video on disk resolved, every problem collected."""
    if not config.root.is_dir():
        raise MerprepError("dataset root not found (not a folder)", file=config.root)
    adapter = get_long_adapter(config.dataset)(
        config.root, config.annotations, **config.adapter_options
    )
    videos, quirks, problems = adapter.videos()
    tasks = []
    for v in videos:
        try:
            source = adapter.frame_source(v)
            if source.video is not None:
                source.n_video_frames = video_frame_count(source.video)
        except MerprepError as exc:
            problems.append(Problem(str(exc), clip_id=v.video_id))
            continue
        problem = _frames_problem(v, source, adapter.frame_gaps_expected)
        if problem:
            problems.append(problem)
            continue
        limits = adapter.limits_for(v.fps)
        tasks.append(VideoTask(v, source, {"me_min": limits.me_min, "me_max": limits.me_max}))
    return tasks, quirks, problems


def _frames_problem(v: VideoRecord, source: FrameSource, gaps_expected: bool) -> Problem | None:
    available = source.available
    if not available:
        return Problem(f"no frames found in {v.source}", clip_id=v.video_id)
    first, last = available[0], available[-1]
    outside = [i for i in v.intervals if i.onset < first - 1 or i.offset > last]
    if outside:
        rows = ", ".join(str(i.annotation_row) for i in outside[:6])
        return Problem(
            f"{len(outside)} annotated interval(s) outside the frames on disk ({first}..{last}; "
            f"rows {rows})",
            file=outside[0].annotation_file,
            row=outside[0].annotation_row,
            clip_id=v.video_id,
        )
    if not gaps_expected and source.frames is not None and len(available) != last - first + 1:
        return Problem(
            f"{last - first + 1 - len(available)} frames missing between {first} and {last}",
            clip_id=v.video_id,
        )
    return None


# -- one video (in a worker) ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def _backend(name: str) -> LandmarkBackend:
    return get_backend(name)


def init_worker(landmarks: str) -> None:
    single_threaded_worker()
    _backend(landmarks)


def stage_video(
    task: VideoTask, config: LongExtractConfig, staging_dir: str
) -> tuple[int, str | None]:
    """Stream one video into ``staging_dir``; returns (kept frames, failure reason or None)."""
    staged_path = Path(staging_dir) / "videos" / f"{_key(task.record.video_id)}.h5"
    try:
        return _stage(task, config, staged_path), None
    except MerprepError as exc:
        return 0, str(exc)


def _stage(task: VideoTask, config: LongExtractConfig, path: Path) -> int:
    backend = _backend(config.landmarks)
    rec, source = task.record, task.source
    numbers = kept_numbers(source, config.stride)
    found_at, points, full = _find_face(source, numbers, rec.fps, backend)
    matrix = ALIGNERS[config.align](points, config.face_size, config.margin)
    face_px = config.face_size / float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    reduce = choose_reduce(face_px, config.face_size, source.video is not None)
    matrix_r = scale_source(matrix, reduce)
    step = max(1, int(round(config.landmark_every * rec.fps / config.stride)))
    staged = StagedVideo(path, config.face_size, config.frame_compression)
    landmarks, landmark_frames, lost = [], [], 0
    last = transform_points(points, matrix)
    expect = (-(-full[0] // reduce), -(-full[1] // reduce))
    try:
        for k, (n, img) in enumerate(iter_frames(source, numbers, "gray", reduce)):
            if abs(img.shape[0] - expect[0]) > 1 or abs(img.shape[1] - expect[1]) > 1:
                raise MerprepError(
                    f"frame {n} is {img.shape[1] * reduce}x{img.shape[0] * reduce}, the video's "
                    f"first frame {full[1]}x{full[0]} (mixed frame sizes)",
                    file=source.path,
                )
            staged.add(n, warp(img, matrix_r, config.face_size))
            if k % step == 0:
                try:
                    last = transform_points(backend.landmarks(img), matrix_r)
                except FaceNotFound:
                    lost += 1
                landmarks.append(last)
                landmark_frames.append(n)
        available = source.available
        record = rec.to_dict()
        x0, y0, x1, y1 = face_box(points, config.margin)
        record.update(
            limits=task.limits,
            n_source_frames=len(available),
            first_frame=int(available[0]),
            last_frame=int(available[-1]),
            missing_frames=int(available[-1] - available[0] + 1 - len(available)),
            stride=config.stride,
            n_kept=len(numbers),
            transform=matrix.tolist(),
            face_box=[float(x0), float(y0), float(x1), float(y1)],
            face_found_at=int(found_at),
            reduce=int(reduce),
            n_landmarks=len(landmarks),
            landmarks_lost=lost,
            source_size=[int(full[1]), int(full[0])],
        )
        staged.finish(record, np.stack(landmarks), np.asarray(landmark_frames))
    except BaseException:
        staged.abort()
        raise
    return len(numbers)


def _find_face(
    source: FrameSource, numbers: list[int], fps: float, backend: LandmarkBackend
) -> tuple[int, np.ndarray, tuple[int, int]]:
    """(frame, landmarks at full resolution, (height, width)) of the first frame with a face."""
    step = max(1, int(round(fps)))
    tried = [numbers[i] for i in range(0, len(numbers), step)][:FACE_TRIES]
    wanted = sorted(set(tried))
    for n, img in iter_frames(source, wanted, "gray", 1):
        try:
            return n, backend.landmarks(img), (int(img.shape[0]), int(img.shape[1]))
        except FaceNotFound:
            continue
    raise FaceNotFound(
        f"no face found on frames {', '.join(map(str, wanted))} (the first, then one a second)",
        file=source.path,
    )


def _key(video_id: str) -> str:
    return hashlib.sha1(video_id.encode("utf-8")).hexdigest()[:20]


# -- the whole extraction ----------------------------------------------------------------------


class _Staging:
    """``<store>.partial/``: staged videos, failures and the parameters of the run."""

    def __init__(self, store: Path, params: dict[str, Any], resume: bool):
        self.dir = store.with_name(store.name + ".partial")
        text = canonical_json(params)
        params_file = self.dir / "params.json"
        if self.dir.exists():
            if resume and params_file.is_file() and params_file.read_text("utf-8") != text:
                raise StoreError(
                    f"cannot --resume: the interrupted run used different parameters (see "
                    f"{params_file}); rerun without --resume to start over",
                    file=store,
                )
            if not resume:
                shutil.rmtree(self.dir)
        (self.dir / "videos").mkdir(parents=True, exist_ok=True)
        (self.dir / "failed").mkdir(exist_ok=True)
        if not params_file.is_file():
            atomic_write(params_file, text, durable=False)

    def staged(self, vid: str) -> Path:
        return self.dir / "videos" / f"{_key(vid)}.h5"

    def failed(self, vid: str) -> Path:
        return self.dir / "failed" / f"{_key(vid)}.json"

    def done(self, vid: str) -> bool:
        return self.staged(vid).is_file() or self.failed(vid).is_file()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def extract_long(
    config: LongExtractConfig, *, command: str = "", progress: bool | None = None
) -> LongExtractResult:
    """Plan, stream every video, write the store (see the module docstring)."""
    start = time.perf_counter()
    with store_lock(config.out):
        tasks, quirks, problems = plan_long(config)
        for q in quirks:
            log.info("quirk: %s", q)
        planned = time.perf_counter()
        if problems and not config.skip_invalid:
            raise ValidationFailed(
                problems=problems, what=f"{config.dataset} videos at {config.root}"
            )
        if not tasks:
            raise MerprepError("no videos to extract", file=config.root)
        staging = _Staging(config.out, config.output_params(), config.resume)
        tasks = sorted(tasks, key=lambda t: t.record.video_id)
        todo = [t for t in tasks if not staging.done(t.record.video_id)]
        failures: list[Problem] = []
        items = [(t, config, str(staging.dir)) for t in todo]
        workers = min(config.n_workers, max(1, len(todo)))
        for (task, _, _), (_n_kept, reason) in map_videos(
            stage_video,
            items,
            executor=config.executor,
            workers=workers,
            address=config.ray_address,
            initializer=init_worker,
            initargs=(config.landmarks,),
            progress=progress,
            desc="extract-long",
        ):
            if reason is not None:
                failures.append(Problem(reason, clip_id=task.record.video_id))
                if config.skip_invalid:  # kept as skipped; without it, resume retries it
                    atomic_write(
                        staging.failed(task.record.video_id),
                        canonical_json({"reason": reason}),
                        durable=False,
                    )
        processed = time.perf_counter()
        if failures and not config.skip_invalid:
            raise ValidationFailed(
                problems=failures,
                what="videos (nothing was written; fix them or pass --skip-invalid)",
            )
        provenance = {
            "datasets": [config.dataset],
            "command": command or f"merprep.longvideo.extract_long({config.dataset!r})",
            "params": config.output_params(),
            "landmark_backend": config.landmarks,
            "landmark_backend_version": backend_class(config.landmarks).describe_version(),
            "face_size": config.face_size,
            "channels": 1,
            "color": "gray",
        }
        skipped, n_frames = [], 0
        with LongStoreWriter(config.out, provenance) as writer:
            for p in problems:
                writer.skip(p.clip_id or "", p.message, p.file, p.row)
                skipped.append({"video_id": p.clip_id, "reason": p.message})
            for t in tasks:
                vid = t.record.video_id
                if staging.staged(vid).is_file():
                    writer.add_staged(staging.staged(vid))
                    n_frames += len(kept_numbers(t.source, config.stride))
                else:
                    reason = json.loads(staging.failed(vid).read_text())["reason"]
                    writer.skip(vid, reason)
                    skipped.append({"video_id": vid, "reason": reason})
            if writer.n_videos == 0:
                raise MerprepError("every video failed; no store written", file=config.root)
        staging.remove()
    end = time.perf_counter()
    return LongExtractResult(
        config.out,
        writer.n_videos,
        n_frames,
        skipped,
        quirks,
        writer.fingerprint or "",
        end - start,
        len(tasks) - len(todo),
        {"plan": planned - start, "stream": processed - planned, "write": end - processed},
    )
