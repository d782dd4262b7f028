"""``merprep extract``: dataset as shipped -> validated clip records -> face clips -> clip store.

Three phases, so that bad input costs seconds rather than hours:

1. **Plan** (:func:`plan_extraction`): the adapter reads the annotation file; every record is
   resolved to its frames on disk; every problem (bad cell, missing folder or frame, onset after
   offset, unknown emotion, duplicate clip id) is collected. Unless ``skip_invalid``, any problem
   stops here with the full list and nothing is written.
2. **Process** (:func:`process_clip`, in worker processes): decode the onset frame, find the
   landmarks once, compute one crop transform for the whole clip, decode the sampled frames
   (at reduced size when the source is much larger than the output), warp, and stage the clip on
   disk. Workers run in parallel across clips; a clip that fails (corrupt frame, no face) is
   reported, or recorded as skipped with ``skip_invalid``.
3. **Write**: one writer merges the staged clips, in clip-id order, into the HDF5 store while
   later clips are still in the workers (atomic rename at the end). ``resume`` reuses clips
   staged by an interrupted run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from merprep.datasets import get_adapter
from merprep.datasets.corrections import CorrectionTable
from merprep.datasets.base import ClipRecord, FrameSource
from merprep.errors import MerprepError, Problem, ValidationFailed
from merprep.faces import backend_class, get_backend
from merprep.faces.base import FaceNotFound, LandmarkBackend
from merprep.faces.align import ALIGNERS
from merprep.faces.geometry import face_box, scale_source, transform_points, warp
from merprep.frames.decode import REDUCE_FACTORS, FrameError, read_frames, video_frame_count
from merprep.frames.sampling import get_sampling
from merprep.store import StoreWriter, store_lock
from merprep.store.codec import DEFAULT_FRAME_COMPRESSION, FRAME_COMPRESSIONS, EncodedClip
from merprep.store.staging import ClipStaging

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------

@dataclass
class ExtractConfig:
    """Every parameter of an extraction; recorded in the store as ``params``."""

    dataset: str
    root: Path
    out: Path
    annotations: Path | None = None
    #: CSV of explicit cell corrections to the annotation file (merprep.datasets.corrections)
    corrections: Path | None = None
    adapter_options: dict[str, Any] = field(default_factory=dict)
    landmarks: str = "dlib"
    align: str = "none"
    margin: float = 0.1
    size: int = 128
    color: str = "rgb"
    sampling: str = "uniform"
    frames: int = 30
    track: bool = False
    frame_compression: str = DEFAULT_FRAME_COMPRESSION  # codec.FRAME_COMPRESSIONS
    workers: int = 0  # 0: all cores
    skip_invalid: bool = False
    resume: bool = False

    def __post_init__(self) -> None:
        self.root, self.out = Path(self.root), Path(self.out)
        if self.annotations is not None:
            self.annotations = Path(self.annotations)
        if self.corrections is not None:
            self.corrections = Path(self.corrections)
        mode = get_sampling(self.sampling)  # raises on unknown names
        if mode.fixed_frames is not None and self.frames != mode.fixed_frames:
            log.info("sampling %r always gives %d frames; --frames %d ignored", self.sampling,
                     mode.fixed_frames, self.frames)
            self.frames = mode.fixed_frames
        if not 16 <= self.size <= 1024:
            raise ValueError(f"--size must be between 16 and 1024, got {self.size}")
        if self.frames < 1:
            raise ValueError(f"--frames must be at least 1, got {self.frames}")
        if self.color not in ("rgb", "gray"):
            raise ValueError(f"--color must be rgb or gray, got {self.color!r}")
        if not 0 <= self.margin <= 1:
            raise ValueError(f"--margin must be between 0 and 1, got {self.margin}")
        if self.align not in ALIGNERS:
            raise ValueError(f"unknown --align {self.align!r}; choose one of {', '.join(ALIGNERS)}")
        backend_class(self.landmarks)  # raises on unknown names
        if self.workers < 0:
            raise ValueError("--workers must be >= 0 (0 = all cores)")
        if self.frame_compression not in FRAME_COMPRESSIONS:
            raise ValueError(f"--frame-compression must be one of "
                             f"{', '.join(FRAME_COMPRESSIONS)}, got {self.frame_compression!r}")

    @property
    def n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def output_params(self) -> dict[str, Any]:
        """Parameters that determine the store's content (what --resume must match)."""
        d = asdict(self)
        for k in ("out", "workers", "resume"):
            d.pop(k)
        d["root"] = str(self.root.resolve())
        d["annotations"] = None if self.annotations is None else str(self.annotations.resolve())
        if self.corrections is not None:  # the content matters, not only the name
            d["corrections"] = str(self.corrections.resolve())
            d["corrections_sha256"] = (hashlib.sha256(self.corrections.read_bytes()).hexdigest()
                                       if self.corrections.is_file() else None)
        return d


# ----------------------------------------------------------------------------------------------
# Phase 1: plan
# ----------------------------------------------------------------------------------------------

@dataclass
class ClipTask:
    record: ClipRecord
    source: FrameSource


def plan_extraction(config: ExtractConfig) -> tuple[list[ClipTask], list[Problem]]:
    """Read annotations and resolve every clip to its frames; collect every problem.

    Only file listings and annotation cells are read here (videos are counted by the adapter), so
    a bad row costs seconds, not a failed run hours later. Beyond the adapter's row checks (bad
    cells, onset after offset, apex outside the clip, unknown emotion), each record is checked
    for: a duplicate clip id, its folder or video, frames on disk covering onset..offset, the
    onset frame itself (landmarks come from it), and no frames missing between onset and offset
    unless the dataset drops frames by design (``frame_gaps_expected``, CAS(ME)^3). Problems of
    one row are merged into one line, so ``--skip-invalid`` records each clip once.
    """
    if not config.root.is_dir():
        raise MerprepError("dataset root not found (not a folder)", file=config.root)
    if config.annotations is not None and not config.annotations.is_file():
        raise MerprepError("annotation file not found", file=config.annotations)
    corrections = None
    if config.corrections is not None:
        if not config.corrections.is_file():
            raise MerprepError("corrections file not found", file=config.corrections)
        corrections = CorrectionTable(config.corrections)
    adapter = get_adapter(config.dataset)(config.root, config.annotations,
                                          corrections=corrections, **config.adapter_options)
    records, problems = adapter.read_records()
    for rec in records:
        if rec.annotation_row in adapter.applied_corrections:
            rec.extra["corrections"] = adapter.applied_corrections[rec.annotation_row]
    seen: dict[str, ClipRecord] = {}
    tasks: list[ClipTask] = []
    for rec in records:
        where = dict(file=rec.annotation_file, row=rec.annotation_row, clip_id=rec.clip_id)
        if rec.clip_id in seen:
            first = seen[rec.clip_id]
            problems.append(Problem(f"duplicate clip id (first on row {first.annotation_row})"
                                    if first.annotation_row else "duplicate clip id", **where))
            continue
        seen[rec.clip_id] = rec
        try:
            source = adapter.frame_source(rec)
            if source.video is not None and source.n_video_frames is None:
                source.n_video_frames = video_frame_count(source.video)
        except MerprepError as exc:
            problems.append(Problem(str(exc), **where))
            continue
        problem = _frames_problem(rec, source, adapter.frame_gaps_expected)
        if problem:
            problems.append(Problem(problem, **where))
            continue
        tasks.append(ClipTask(rec, source))
    return tasks, _merge_by_row(problems)


def _frames_problem(rec: ClipRecord, source: FrameSource, gaps_expected: bool) -> str | None:
    """Why the frames on disk cannot give this clip, or None."""
    available = source.available
    if not available:
        return f"no frames found in {rec.source}"
    first, last = available[0], available[-1]
    outside = [name for name, n in (("onset", rec.onset), ("offset", rec.offset))
               if not first <= n <= last]
    if outside:
        return (f"{' and '.join(outside)} outside the frames on disk ({first}..{last}; "
                f"annotated {rec.onset}..{rec.offset})")
    present = set(available)
    if rec.onset not in present:
        return f"onset frame {rec.onset} is missing on disk"
    if not gaps_expected:
        missing = [n for n in range(rec.onset, rec.offset + 1) if n not in present]
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
            return (f"{len(missing)} of {rec.offset - rec.onset + 1} frames between onset and "
                    f"offset missing on disk ({shown})")
    return None


def _merge_by_row(problems: list[Problem]) -> list[Problem]:
    """One problem per annotation row (or per clip, for datasets without rows), in order."""
    merged: dict[tuple, Problem] = {}
    out: list[Problem] = []
    for p in problems:
        key = (p.file, p.row, p.clip_id)
        if p.row is None and p.clip_id is None:
            out.append(p)
        elif key in merged:
            merged[key].message += "; " + p.message
        else:
            merged[key] = Problem(p.message, p.file, p.row, p.clip_id)
            out.append(merged[key])
    return out


# ----------------------------------------------------------------------------------------------
# Phase 2: process one clip (runs in a worker process)
# ----------------------------------------------------------------------------------------------

def choose_reduce(face_px: float, size: int, is_video: bool) -> int:
    """Largest JPEG DCT reduction that still leaves the face at least ``size`` pixels wide."""
    if is_video:
        return 1
    best = 1
    for r in REDUCE_FACTORS:
        if face_px / r >= size:
            best = r
    return best


def process_clip(task: ClipTask, config: ExtractConfig, backend: LandmarkBackend
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Decode, detect, crop and sample one clip; returns (store record, arrays).

    The crop matrix comes from the onset landmarks and is the same for every frame. With
    ``config.track`` landmarks are also found on every kept frame (:func:`track_landmarks`);
    they are stored, but never move the crop, so the frames are identical with or without it.

    Raises MerprepError (FrameError, FaceNotFound) for problems with this clip's media.
    """
    rec, source = task.record, task.source
    mode = get_sampling(config.sampling)
    plan = mode.choose(source.available, rec.onset, rec.apex, rec.offset, config.frames)

    # Landmarks once, on the onset frame at full resolution.
    (onset_img,) = read_frames(source.frames, source.video, [rec.onset], "rgb", 1)
    points = backend.landmarks(onset_img)
    matrix = ALIGNERS[config.align](points, config.size, config.margin)
    face_px = config.size / float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    reduce = choose_reduce(face_px, config.size, source.video is not None)
    matrix_r = scale_source(matrix, reduce)

    full_h, full_w = onset_img.shape[:2]
    expect_h, expect_w = -(-full_h // reduce), -(-full_w // reduce)

    def crop(n: int, img: np.ndarray) -> np.ndarray:
        """Check one decoded frame's size and warp it (only the crop is kept in memory)."""
        h, w = img.shape[:2]
        if abs(h - expect_h) > 1 or abs(w - expect_w) > 1:
            raise FrameError(f"frame {n} is {w * reduce}x{h * reduce} but the onset frame is "
                             f"{full_w}x{full_h} (mixed frame sizes in one clip)",
                             file=source.path)
        return warp(img, matrix_r, config.size)

    # the onset, decoded above exactly as the kept frames would be, is not decoded again
    again = ({rec.onset: onset_img} if reduce == 1 and config.color == "rgb"
             and rec.onset in plan.numbers else None)
    frames = np.stack(read_frames(source.frames, source.video, plan.numbers, config.color,
                                  reduce, transform=crop, decoded=again))
    decoded_numbers = list(plan.numbers)
    if mode.needs_pixels and mode.refine is not None:
        frames, plan = mode.refine(frames, plan, config.frames)
    onset_store = transform_points(points, matrix)

    record = rec.to_dict()
    if config.track:
        tracked, lost = track_landmarks(task, backend, decoded_numbers, points)
        if mode.needs_pixels:  # refined frames stand for (fractional) source positions
            tracked = _interpolate_points(tracked, decoded_numbers, plan.positions)
        landmarks = np.stack([transform_points(p, matrix) for p in tracked])
        record.update(landmarks_from="tracked", landmark_drift_px=round(landmark_drift(
            landmarks, onset_store), 4), tracking_lost_frames=lost)
    else:
        landmarks = np.repeat(onset_store[None], len(frames), axis=0)
        record.update(landmarks_from="onset")

    x0, y0, x1, y1 = face_box(points, config.margin)
    record.update(
        n_frames=int(len(frames)),
        frame_numbers=[float(p) for p in plan.positions] if mode.fractional else
        [int(n) for n in plan.numbers],
        sampling=config.sampling + (f" ({plan.note})" if plan.note else ""),
        face_box=[float(x0), float(y0), float(x1), float(y1)],
        transform=matrix.tolist(),
    )
    return record, {"frames": frames, "landmarks": landmarks}


def track_landmarks(task: ClipTask, backend: LandmarkBackend, numbers: list[int],
                    onset_points: np.ndarray, batch: int = 32) -> tuple[np.ndarray, int]:
    """Landmarks (source pixels) on each frame of ``numbers``: (len(numbers), 68, 2), lost.

    Each distinct frame is decoded at full resolution in RGB, exactly as the onset frame was,
    so differences from the onset landmarks are movement (or detector jitter), not a change of
    resolution or colour. Frames are decoded ``batch`` at a time (one pass through a video per
    batch, bounded memory). A frame where no face is found reuses the landmarks of the previous
    frame (in source order) and is counted in ``lost``; it does not fail the clip.
    """
    rec, source = task.record, task.source
    found: dict[int, np.ndarray] = {rec.onset: onset_points}
    todo = sorted(set(numbers) - {rec.onset})
    lost = 0
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        for n, img in zip(chunk, read_frames(source.frames, source.video, chunk, "rgb", 1)):
            try:
                found[n] = backend.landmarks(img)
            except FaceNotFound:
                log.info("%s: no face on frame %d while tracking; previous landmarks reused",
                         rec.clip_id, n)
                # frames go in ascending order, so every earlier frame is already in `found`
                found[n] = found[max((k for k in found if k < n), default=rec.onset)]
                lost += 1
    return np.stack([found[n] for n in numbers]).astype(np.float32), lost


def _interpolate_points(points: np.ndarray, numbers: list[int], positions: Iterable[float]
                        ) -> np.ndarray:
    """Landmarks at fractional source ``positions``, linear between the frames ``numbers``."""
    order = np.argsort(numbers, kind="stable")
    xs = np.asarray(numbers, np.float64)[order]
    flat = points[order].reshape(len(xs), -1)
    pos = np.asarray(list(positions), np.float64)
    out = np.stack([np.interp(pos, xs, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(len(pos), *points.shape[1:]).astype(np.float32)


def landmark_drift(landmarks: np.ndarray, reference: np.ndarray) -> float:
    """Max over frames of the mean distance of the 68 points from ``reference`` (store px)."""
    per_frame = np.linalg.norm(landmarks - reference[None], axis=2).mean(axis=1)
    return float(per_frame.max()) if len(per_frame) else 0.0


def drift_summary(store_path: Path | str) -> str | None:
    """One line on landmark drift over a store's tracked clips (None when none was tracked)."""
    from merprep.store import ClipStore

    with ClipStore(store_path) as store:
        recs = [r for r in store.records() if r.get("landmark_drift_px") is not None]
    if not recs:
        return None
    drift = np.array([r["landmark_drift_px"] for r in recs])
    worst = recs[int(drift.argmax())]["clip_id"]
    lost = sum(int(r.get("tracking_lost_frames", 0)) for r in recs)
    return (f"landmark drift over {len(recs)} tracked clips (store px, max over frames of the "
            f"mean point displacement from the onset): mean {drift.mean():.2f}, max "
            f"{drift.max():.2f} ({worst}); {lost} frames without a face reused the previous "
            "landmarks")


# Worker-process state: each worker loads its landmark model once (dlib's predictor is 100 MB).
_WORKER: dict[str, Any] = {}


def _init_worker(config: ExtractConfig) -> None:
    from merprep.workers import single_threaded_worker

    single_threaded_worker()
    _WORKER["config"] = config
    _WORKER["backend"] = get_backend(config.landmarks)


def _run_in_worker(task: ClipTask, staging_path: str) -> tuple[str, int, str | None]:
    """Process one clip and stage it; returns (clip_id, n_frames, failure reason or None)."""
    config: ExtractConfig = _WORKER["config"]
    try:
        record, arrays = process_clip(task, config, _WORKER["backend"])
    except MerprepError as exc:
        return task.record.clip_id, 0, str(exc)
    encoded = EncodedClip.encode(record, arrays["frames"], arrays["landmarks"],
                                 config.frame_compression)
    ClipStaging.attach(staging_path).put_clip(encoded)
    return task.record.clip_id, record["n_frames"], None


# ----------------------------------------------------------------------------------------------
# Phase 3: the whole extraction
# ----------------------------------------------------------------------------------------------

@dataclass
class ExtractResult:
    path: Path
    n_clips: int
    n_frames: int
    skipped: list[dict[str, Any]]
    fingerprint: str
    seconds: float
    resumed: int = 0
    #: wall seconds per phase: plan (validation), process (workers, with the overlapped merge),
    #: write (what is left of the merge after the last clip, then commit)
    phases: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"wrote {self.path}: {self.n_clips} clips, {self.n_frames} frames, "
                f"{len(self.skipped)} skipped, {self.seconds:.1f} s "
                f"({self.n_frames / max(self.seconds, 1e-9):.1f} frames/s), "
                f"fingerprint {self.fingerprint[:12]}")


def extract(config: ExtractConfig, *, command: str = "", progress: bool | None = None
            ) -> ExtractResult:
    """Run plan -> process -> write for ``config``; see the module docstring.

    Clips are processed in clip-id order and merged into the store in that order while later
    clips are still in the workers (:class:`_OrderedMerge`), so the single-threaded HDF5 write
    overlaps the parallel work instead of following it. The store is a temporary file until
    the end: a run that fails (or is killed) leaves no store, only the staged clips for
    ``resume``.
    """
    start = time.perf_counter()
    with store_lock(config.out):
        tasks, problems = plan_extraction(config)
        planned = time.perf_counter()
        if problems and not config.skip_invalid:
            raise ValidationFailed(problems=problems, what=f"{config.dataset} dataset at "
                                   f"{config.root}")
        if not tasks:
            raise MerprepError("no clips to extract", file=config.root)
        params = config.output_params()
        staging = ClipStaging(config.out, params, resume=config.resume)
        done = set(staging.done())
        tasks = sorted(tasks, key=lambda t: t.record.clip_id)
        todo = [t for t in tasks if t.record.clip_id not in done]
        resumed = len(tasks) - len(todo)

        provenance = {
            "datasets": [config.dataset] if config.dataset != "manifest" else
            sorted({t.record.dataset for t in tasks}),
            "command": command or f"merprep.pipeline.extract({config.dataset!r})",
            "params": params,
            "landmark_backend": config.landmarks,
            "landmark_backend_version": backend_class(config.landmarks).describe_version(),
            "frame_height": config.size,
            "frame_width": config.size,
            "channels": 1 if config.color == "gray" else 3,
            "color": config.color,
        }
        with StoreWriter(config.out, provenance) as writer:
            merge = _OrderedMerge(writer, staging, [t.record.clip_id for t in tasks], done)
            for p in problems:  # only reached with skip_invalid
                merge.skip(p.clip_id or "", p.message, p.file, p.row)
            merge.flush()  # clips staged by an interrupted run
            failures = _run_tasks(todo, config, staging, progress, merge)
            processed = time.perf_counter()
            if failures and not config.skip_invalid:  # leaving the block discards the store
                raise ValidationFailed(problems=failures, what="clips (nothing was written; "
                                       "fix them or pass --skip-invalid)")
            merge.flush()
            if writer.n_clips == 0:
                raise MerprepError("every clip failed; no store written", file=config.root)
        staging.remove()
    end = time.perf_counter()
    phases = {"plan": planned - start, "process": processed - planned, "write": end - processed}
    log.info("extract phases: %s", ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    return ExtractResult(config.out, writer.n_clips, merge.n_frames, merge.skipped,
                         writer.fingerprint, end - start, resumed, phases)


class _OrderedMerge:
    """Moves finished clips from the staging folder into the store, in clip-id order, as soon as
    every earlier clip is finished (so the file's layout does not depend on worker timing)."""

    def __init__(self, writer: StoreWriter, staging: ClipStaging, order: list[str],
                 finished: set[str]):
        self.writer, self.staging = writer, staging
        self.order = order
        self.finished = set(finished)
        self.next = 0
        self.n_frames = 0
        self.skipped: list[dict[str, Any]] = []
        self.stopped = False

    def skip(self, clip_id: str, reason: str, file: str | None, row: int | None) -> None:
        self.writer.skip(clip_id, reason, file, row)
        self.skipped.append({"clip_id": clip_id, "reason": reason})

    def done(self, clip_id: str, failure: Problem | None, keep_going: bool) -> None:
        """Clip ``clip_id`` is finished (staged, or failed with ``failure``)."""
        if failure is not None:
            if not keep_going:  # the run will fail: merging more is wasted work
                self.stopped = True
                return
            self.staging.put_failure(clip_id, failure.message, failure.file, failure.row)
        self.finished.add(clip_id)
        self.flush()

    def flush(self) -> None:
        while (not self.stopped and self.next < len(self.order)
               and self.order[self.next] in self.finished):
            clip_id = self.order[self.next]
            item = self.staging.load(clip_id)
            if isinstance(item, EncodedClip):
                self.writer.add_encoded(item)
                self.n_frames += item.frames_shape[0]
            else:
                fail = item["failure"]
                self.skip(clip_id, fail["reason"], fail["file"], fail["row"])
            self.next += 1


def _run_tasks(tasks: list[ClipTask], config: ExtractConfig, staging: ClipStaging,
               progress: bool | None, merge: _OrderedMerge) -> list[Problem]:
    """Process ``tasks`` (in parallel when workers > 1), handing each finished clip to
    ``merge``; return per-clip failures."""
    from tqdm import tqdm

    failures: list[Problem] = []
    bar = tqdm(total=len(tasks), unit="clip", disable=None if progress is None else not progress,
               desc="extract", dynamic_ncols=True)
    frames_done, t0 = 0, time.perf_counter()

    def record(task: ClipTask, n_frames: int, reason: str | None) -> None:
        nonlocal frames_done
        failure = None
        if reason is not None:
            failure = Problem(reason, file=task.record.annotation_file,
                              row=task.record.annotation_row, clip_id=task.record.clip_id)
            failures.append(failure)
        frames_done += n_frames
        bar.update(1)
        bar.set_postfix(frames_s=f"{frames_done / max(time.perf_counter() - t0, 1e-9):.0f}")
        merge.done(task.record.clip_id, failure, config.skip_invalid)

    try:
        if config.n_workers == 1 or len(tasks) <= 1:
            backend = get_backend(config.landmarks) if tasks else None
            for task in tasks:
                try:
                    rec, arrays = process_clip(task, config, backend)
                except MerprepError as exc:
                    record(task, 0, str(exc))
                    continue
                staging.put_clip(EncodedClip.encode(rec, arrays["frames"], arrays["landmarks"],
                                                    config.frame_compression))
                record(task, rec["n_frames"], None)
        else:
            # spawn, never fork: OpenCV's own thread pool (and TF/MediaPipe threads, when a
            # notebook has them loaded) deadlock a forked child
            ctx = get_context("spawn")
            n = min(config.n_workers, len(tasks))
            with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker,
                                     initargs=(config,)) as pool:
                pending: dict = {}
                queue = iter(tasks)
                for task in _take(queue, 2 * n):
                    pending[pool.submit(_run_in_worker, task, str(staging.dir))] = task
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in sorted(finished, key=lambda f: pending[f].record.clip_id):
                        task = pending.pop(fut)
                        _, n_frames, reason = fut.result()
                        for nxt in _take(queue, 1):  # keep the workers busy while merging
                            pending[pool.submit(_run_in_worker, nxt, str(staging.dir))] = nxt
                        record(task, n_frames, reason)
    finally:
        bar.close()
    return failures


def _take(it: Iterable, k: int) -> list:
    out = []
    for x in it:
        out.append(x)
        if len(out) == k:
            break
    return out
