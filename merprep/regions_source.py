"""AU crops cut from the dataset's own frames at source resolution, with landmarks found on
every kept frame (``merprep crop-au --frames-from source``).

This is what the dual-branch extension does (EXT ``Dual-Branch 3DCNN+AU.py:170-196``: dlib on
every selected full-resolution frame, the region cropped there and resized with INTER_AREA; a
frame without a face keeps the previous frame's landmarks), where the default stage crops the
stored face frames with the onset landmarks (docs/references.md#audit-6).

Finding the frames: the store records the dataset (``params.dataset``, its options and
annotation file), the folder extraction read (``params.root``) and each clip's ``source``
relative to the dataset's top folder; the dataset's adapter resolves them again, from
``root`` (where the dataset is now; default the recorded one). Every clip is resolved before
any work; a missing folder, video or frame stops the stage naming each, and a store of
interpolated frames (``--sampling tim``) is refused (its frames exist in no source).

Boxes are in source pixels; a clip whose AUs match no rule gets the box of all 68 landmarks
(the reference's fallback: the tight face box), not the whole source frame.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merprep.au_rules import FACE, N_POINTS, Rule, RuleTable
from merprep.datasets import get_adapter
from merprep.datasets.base import ClipRecord, FrameSource
from merprep.errors import MerprepError, Problem, ValidationFailed
from merprep.faces import get_backend
from merprep.faces.base import FaceNotFound, LandmarkBackend
from merprep.frames.decode import read_frames
from merprep.parallel import map_clips, worker_count
from merprep.regions import STAGE, CropConfig, CropResult, crop_clip
from merprep.store import ClipStore, modify_store, store_lock
from merprep.workers import single_threaded_worker

log = logging.getLogger(__name__)


def resolve_sources(store: ClipStore, root: Path | str | None = None) -> dict[str, FrameSource]:
    """Each clip's frames on disk, found again through the dataset's adapter; raises naming
    every clip whose source is not there (or the store when it cannot have one)."""
    params = store.attrs.get("params") or {}
    where = Path(root) if root is not None else Path(str(params.get("root", "")))
    if not params.get("dataset") or not where.is_dir():
        raise MerprepError(
            f"crop-au --frames-from source reads the dataset's own frames, but {where} (the "
            "folder this store was extracted from) is not there; pass --root where the dataset "
            "is now",
            file=store.path,
        )
    adapter = get_adapter(str(params["dataset"]))(
        where, params.get("annotations"), **dict(params.get("adapter_options") or {})
    )
    problems: list[Problem] = []
    sources: dict[str, FrameSource] = {}
    for record in store.records():
        numbers = record.get("frame_numbers") or []
        if any(float(n) != int(n) for n in numbers):
            raise MerprepError(
                f"crop-au --frames-from source needs stored frames that are source frames; "
                f"this store's sampling ({record.get('sampling')}) interpolates frames that "
                "exist in no source: crop the stored frames (--frames-from store)",
                file=store.path,
            )
        try:
            source = adapter.frame_source(ClipRecord.from_dict(record))
        except MerprepError as exc:
            problems.append(Problem(str(exc), clip_id=record["clip_id"]))
            continue
        missing = sorted(
            {int(n) for n in numbers} - set(source.available) if source.frames is not None else []
        )
        if missing:
            problems.append(
                Problem(f"frames {missing[:5]} missing in {source.path}", clip_id=record["clip_id"])
            )
            continue
        sources[record["clip_id"]] = source
    if problems:
        raise ValidationFailed(
            problems=problems, what=f"source frames of {store.path} under {where}"
        )
    return sources


@lru_cache(maxsize=1)
def _backend(name: str) -> LandmarkBackend:
    """One landmark backend per process (dlib's model is 100 MB)."""
    return get_backend(name)


def _init_worker(name: str) -> None:
    single_threaded_worker()
    _backend(name)


def source_config(config: CropConfig) -> CropConfig:
    """The config with the reference's fallback region (all 68 points) instead of the frame."""
    face = Rule(FACE, (), tuple(range(N_POINTS)))
    rules = RuleTable(tuple(r for r in config.rules.rules if r.name != FACE) + (face,), FACE)
    return CropConfig(
        config.codes, config.size, config.margin, config.mode, rules, config.rules_file
    )


def crop_from_source(
    record: dict[str, Any],
    source: FrameSource,
    onset_landmarks: np.ndarray,
    config: CropConfig,
    backend_name: str,
    color: str,
) -> tuple[str, tuple[dict[str, np.ndarray], dict[str, Any]]]:
    """One clip: decode each kept frame at full size, find its landmarks (the previous
    frame's, or at first the onset's, when no face is found), crop its region there."""
    backend = _backend(backend_name)
    numbers = [int(n) for n in record["frame_numbers"]]
    state: dict[str, Any] = {"landmarks": onset_landmarks, "lost": 0, "size": [0, 0]}
    tracked = {**record, "landmarks_from": "tracked"}

    def crop(number: int, image: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Landmarks and crop of one full-size frame (only the crop is kept in memory)."""
        try:
            state["landmarks"] = backend.landmarks(image)
        except FaceNotFound:
            state["lost"] += 1
        state["size"] = [int(image.shape[1]), int(image.shape[0])]
        frame = image if color == "rgb" else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
        return crop_clip(frame[None], state["landmarks"][None], tracked, config)

    per_frame = read_frames(source.frames, source.video, numbers, "rgb", 1, transform=crop)
    arrays = {k: np.concatenate([a[k] for a, _ in per_frame]) for k in per_frame[0][0]}
    info = dict(per_frame[0][1])
    info.update(
        fallback=any(i["fallback"] for _, i in per_frame),
        frames_from="source",
        source_frame_size=state["size"],
        landmarks_lost_frames=state["lost"],
    )
    return record["clip_id"], (arrays, info)


def run_crop_au_source(
    path: Path | str,
    config: CropConfig,
    *,
    root: Path | str | None = None,
    workers: int = 0,
    command: str = "",
    progress: bool | None = None,
) -> CropResult:
    """Add the ``crop-au`` stage to the store at ``path`` from the dataset's own frames."""
    path = Path(path)
    result = CropResult(path)
    config = source_config(config)
    with store_lock(path, must_exist=True), ClipStore(path) as store:
        sources = resolve_sources(store, root)  # every clip, before any work
        backend, color = str(store.attrs["landmark_backend"]), str(store.attrs["color"])
        params = {
            **config.stage_params(),
            "frames_from": "source",
            "root": str(Path(root or store.attrs["params"]["root"]).resolve()),
            "landmarks": f"{backend} on every kept frame at source resolution (a frame without "
            "a face keeps the previous frame's)",
            "box": "integer pixels (x0, y0, x1, y1), end-exclusive, SOURCE pixel coordinates",
            "fallback_region": "all 68 landmarks (the face box)",
        }
        ids = store.clip_ids

        def items():
            for cid in ids:
                record = store.record(cid)
                onset = _to_source(store.landmarks(cid)[0], record["transform"])
                yield record, sources[cid], onset, config, backend, color

        with modify_store(path, STAGE, command or "merprep.regions_source", params) as writer:
            for _, (cid, (arrays, info)) in map_clips(
                crop_from_source,
                items(),
                workers=worker_count(workers),
                total=len(ids),
                desc=STAGE,
                progress=progress,
                initializer=_init_worker,
                initargs=(backend,),
            ):
                for name, arr in arrays.items():
                    writer.write(cid, name, arr)
                writer.set_clip_info(cid, info)
                result.n_clips += 1
                result.per_rule[info["rule"]] += 1
                if info["fallback"]:
                    result.fallbacks[info.get("reason", "fallback")] += 1
    log.info("crop-au (source frames): %d clips, %s", result.n_clips, dict(result.per_rule))
    return result


def _to_source(points: np.ndarray, transform: list[list[float]]) -> np.ndarray:
    """Store-pixel landmarks back to source pixels (the inverse of the crop transform)."""
    inverse = cv2.invertAffineTransform(np.asarray(transform, np.float64))
    pts = np.asarray(points, np.float64)
    return (pts @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)
