"""The whole extraction: plan, process the clips in workers, merge them into the store in order.

The workers stage each finished clip on disk (:class:`~merprep.store.staging.ClipStaging`); one
writer in this process merges the staged clips into the store in clip-id order while later
clips are still in the workers (:class:`_OrderedMerge`), so the single-threaded HDF5 write
overlaps the parallel work instead of following it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from merprep import stages
from merprep.errors import MerprepError, Problem, ValidationFailed
from merprep.extract.clip import process_clip
from merprep.extract.config import ExtractConfig
from merprep.extract.plan import ClipTask, plan_extraction
from merprep.faces import backend_class, get_backend
from merprep.faces.base import LandmarkBackend
from merprep.parallel import map_in_workers, progress_bar
from merprep.store import ClipStore, StoreWriter, store_lock
from merprep.store.codec import EncodedClip
from merprep.store.staging import ClipStaging, staging_dir
from merprep.workers import single_threaded_worker

log = logging.getLogger(__name__)


def refuse_existing_store(config: ExtractConfig) -> None:
    """A store already at ``out`` is replaced only when asked (``overwrite``), or when
    ``resume`` continues an interrupted run of this store (its staging folder exists): a new
    extraction would drop the store's later stages (crop-au, flow: minutes to hours of work)."""
    out = config.out
    if not out.exists() or config.overwrite:
        return
    if config.resume and staging_dir(out).is_dir():
        return
    try:
        with ClipStore(out) as store:
            what = f"a store of {len(store)} clips"
            names = sorted(store.stages)
    except MerprepError:
        what, names = "a file that is not a readable clip store", []
    lost = f" and its stages {', '.join(names)}" if names else ""
    raise MerprepError(
        f"already exists ({what}); extracting again would replace it{lost}: pass --overwrite "
        "to do that, or choose another --out",
        file=out,
    )


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
        return (
            f"wrote {self.path}: {self.n_clips} clips, {self.n_frames} frames, "
            f"{len(self.skipped)} skipped, {self.seconds:.1f} s "
            f"({self.n_frames / max(self.seconds, 1e-9):.1f} frames/s), "
            f"fingerprint {self.fingerprint[:12]}"
        )


def extract(
    config: ExtractConfig, *, command: str = "", progress: bool | None = None
) -> ExtractResult:
    """Run plan -> process -> write for ``config`` (see :mod:`merprep.extract`).

    Clips are processed in clip-id order and merged into the store in that order. The store is
    a temporary file until the end: a run that fails (or is killed) leaves no store, only the
    staged clips for ``resume``.
    """
    start = time.perf_counter()
    with store_lock(config.out):
        refuse_existing_store(config)
        tasks, problems = plan_extraction(config)
        planned = time.perf_counter()
        if problems and not config.skip_invalid:
            raise ValidationFailed(
                problems=problems, what=f"{config.dataset} dataset at {config.root}"
            )
        if not tasks:
            raise MerprepError("no clips to extract", file=config.root)
        params = config.output_params()
        staging = ClipStaging(config.out, params, resume=config.resume)
        done = set(staging.done())
        tasks = sorted(tasks, key=lambda t: t.record.clip_id)
        todo = [t for t in tasks if t.record.clip_id not in done]
        resumed = len(tasks) - len(todo)

        provenance = {
            "datasets": [config.dataset]
            if config.dataset != "manifest"
            else sorted({t.record.dataset for t in tasks}),
            # the name library calls have always been recorded under (stores stay identical)
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
                raise ValidationFailed(
                    problems=failures,
                    what="clips (nothing was written; fix them or pass --skip-invalid)",
                )
            merge.flush()
            if writer.n_clips == 0:
                raise MerprepError("every clip failed; no store written", file=config.root)
        staging.remove()
    end = time.perf_counter()
    phases = {"plan": planned - start, "process": processed - planned, "write": end - processed}
    log.info("extract phases: %s", ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    return ExtractResult(
        config.out,
        writer.n_clips,
        merge.n_frames,
        merge.skipped,
        writer.fingerprint or "",
        end - start,
        resumed,
        phases,
    )


class _OrderedMerge:
    """Moves finished clips from the staging folder into the store, in clip-id order, as soon as
    every earlier clip is finished (so the file's layout does not depend on worker timing)."""

    def __init__(
        self, writer: StoreWriter, staging: ClipStaging, order: list[str], finished: set[str]
    ):
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
        while (
            not self.stopped
            and self.next < len(self.order)
            and self.order[self.next] in self.finished
        ):
            clip_id = self.order[self.next]
            item = self.staging.load(clip_id)
            if isinstance(item, EncodedClip):
                self.writer.add_encoded(item)
                self.n_frames += item.frames_shape[0]
            else:
                fail = item["failure"]
                self.skip(clip_id, fail["reason"], fail["file"], fail["row"])
            self.next += 1


def _run_tasks(
    tasks: list[ClipTask],
    config: ExtractConfig,
    staging: ClipStaging,
    progress: bool | None,
    merge: _OrderedMerge,
) -> list[Problem]:
    """Process ``tasks`` (in parallel when workers > 1), handing each finished clip to
    ``merge``; return per-clip failures."""
    failures: list[Problem] = []
    bar = progress_bar(len(tasks), "extract", progress)
    frames_done, t0 = 0, time.perf_counter()

    def record(task: ClipTask, n_frames: int, reason: str | None) -> None:
        nonlocal frames_done
        failure = None
        if reason is not None:
            failure = Problem(
                reason,
                file=task.record.annotation_file,
                row=task.record.annotation_row,
                clip_id=task.record.clip_id,
            )
            failures.append(failure)
        frames_done += n_frames
        bar.update(1)
        bar.set_postfix(frames_s=f"{frames_done / max(time.perf_counter() - t0, 1e-9):.0f}")
        merge.done(task.record.clip_id, failure, config.skip_invalid)

    workers = min(config.n_workers, len(tasks))
    try:
        if workers == 1:  # inline: no process to start, no pickling
            backend = get_backend(config.landmarks)
            for task in tasks:
                record(task, *_stage_clip(task, config, backend, staging))
        elif workers > 1:
            items = ((task, config, str(staging.dir)) for task in tasks)
            # finished clips come back in completion order (ties in clip-id order); the merge
            # puts them in clip-id order
            for (task, _, _), outcome in map_in_workers(
                _run_in_worker,
                items,
                workers=workers,
                initializer=_init_worker,
                initargs=(config.landmarks,),
                label=lambda args: args[0].record.clip_id,
            ):
                record(task, *outcome)
    finally:
        bar.close()
    return failures


def _stage_clip(
    task: ClipTask, config: ExtractConfig, backend: LandmarkBackend, staging: ClipStaging
) -> tuple[int, str | None]:
    """Process one clip and stage it; returns (n_frames, failure reason or None)."""
    try:
        record, arrays = process_clip(task, config, backend)
    except MerprepError as exc:
        return 0, str(exc)
    staging.put_clip(
        EncodedClip.encode(
            record, arrays[stages.FRAMES], arrays[stages.LANDMARKS], config.frame_compression
        )
    )
    return record["n_frames"], None


# -- in the worker processes -------------------------------------------------------------------


@lru_cache(maxsize=1)
def _worker_backend(landmarks: str) -> LandmarkBackend:
    """The worker's landmark backend, loaded once per worker process (dlib's predictor is
    100 MB); only ever called in spawned workers, so the parent holds no model after a run."""
    return get_backend(landmarks)


def _init_worker(landmarks: str) -> None:
    single_threaded_worker()
    _worker_backend(landmarks)


def _run_in_worker(
    task: ClipTask, config: ExtractConfig, staging_dir: str
) -> tuple[int, str | None]:
    return _stage_clip(
        task, config, _worker_backend(config.landmarks), ClipStaging.attach(staging_dir)
    )
