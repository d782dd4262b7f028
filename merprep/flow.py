"""Optical flow, optical strain and apex spotting on stored face clips (``merprep flow``).

Flow is estimated on grayscale face frames at the store's resolution (TV-L1 from opencv-contrib
with OpenCV's or the IPOL program's parameters, :mod:`merprep.flow_solvers`, or Farneback as
the fast alternative), from the onset (the first stored frame) to the apex, or
to every stored frame. The (u, v, strain) maps are then resized to the output size with the flow
values rescaled so their unit is *output* pixels. Strain is computed before resizing: it is a
ratio of lengths, so it does not change with scale. See docs/flow.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merprep import stages
from merprep.errors import MerprepError
from merprep.flow_solvers import (  # noqa: F401  (re-exported: the flow library's names)
    FARNEBACK_PARAMS,
    METHODS,
    TVL1_PRESETS,
    FlowEstimator,
    compute_flow,
    to_gray,
    tvl1_params,
)
from merprep.frames.sampling import require_stored_onset
from merprep.parallel import map_clips, worker_count
from merprep.store import ClipStore, modify_store, store_lock
from merprep.workers import single_threaded_worker

log = logging.getLogger(__name__)

STAGE = stages.FLOW.name
PAIRS = ("onset-apex", "sequence")
APEX_CHOICES = ("annotated", "spot", "middle")
NORMALISATIONS = ("none", "clip")
#: bounds of ``size``; the CLI's range is the same (a test keeps them equal)
SIZE_RANGE = (4, 1024)

# ----------------------------------------------------------------------------------------------
# Flow and strain of one pair
# ----------------------------------------------------------------------------------------------


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Optical strain magnitude (H, W) of a flow field, dimensionless.

    With central differences (``np.gradient``, one-sided at the border):
    e_xx = du/dx, e_yy = dv/dy, e_xy = e_yx = (du/dy + dv/dx) / 2, and
    |e| = sqrt(e_xx^2 + e_yy^2 + e_xy^2 + e_yx^2) = sqrt(e_xx^2 + e_yy^2 + 2 e_xy^2),
    the Frobenius norm of the infinitesimal strain tensor (the usual MER definition).
    """
    u = flow[:, :, 0].astype(np.float64)
    v = flow[:, :, 1].astype(np.float64)
    du_dy, du_dx = np.gradient(u)
    dv_dy, dv_dx = np.gradient(v)
    e_xy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx**2 + dv_dy**2 + 2.0 * e_xy**2).astype(np.float32)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    interp = cv2.INTER_AREA if size <= min(h, w) else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def flow_features(flow: np.ndarray, size: int) -> np.ndarray:
    """float32 (size, size, 3) = (u, v, strain) at the output size.

    u is multiplied by size/W and v by size/H so the values are displacements in output pixels;
    strain is computed at full resolution and resized as is (it is scale-free).
    """
    h, w = flow.shape[:2]
    strain = optical_strain(flow)
    out = np.empty((size, size, 3), np.float32)
    out[:, :, :2] = _resize(flow, size)
    out[:, :, 0] *= size / w
    out[:, :, 1] *= size / h
    out[:, :, 2] = _resize(strain, size)
    return out


def normalise(features: np.ndarray, how: str) -> tuple[np.ndarray, dict[str, float]]:
    """``none``: as computed. ``clip``: u, v divided by the largest flow magnitude and strain by
    its maximum, over the array given (so flow lies in [-1, 1] and strain in [0, 1]); the
    divisors are returned for the clip's stage info."""
    if how == "none":
        return features, {}
    if how != "clip":
        raise MerprepError(
            f"unknown normalisation {how!r}; choose one of {', '.join(NORMALISATIONS)}"
        )
    out = features.astype(np.float32, copy=True)
    flow_max = float(np.hypot(out[..., 0], out[..., 1]).max())
    strain_max = float(out[..., 2].max())
    if flow_max > 0:
        out[..., :2] /= flow_max
    if strain_max > 0:
        out[..., 2] /= strain_max
    return out, {"flow_scale": flow_max, "strain_scale": strain_max}


# ----------------------------------------------------------------------------------------------
# Apex choice
# ----------------------------------------------------------------------------------------------


def face_mask(landmarks: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W): inside the convex hull of the 68 landmarks (eyebrows to chin), or the
    whole frame where there are no landmarks."""
    h, w = shape
    mask = np.ones((h, w), bool)
    if landmarks is None:
        return mask
    pts = np.asarray(landmarks, np.float32).reshape(-1, 2)
    if not np.isfinite(pts).all():
        return mask
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    img = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(img, hull, 1)
    return img.astype(bool) if img.any() else mask


def motion_score(flow: np.ndarray, mask: np.ndarray) -> float:
    """Mean flow magnitude inside the face after removing the face's median flow.

    Subtracting the median cancels a global head shift (which moves every pixel alike), so what
    is left is the local, expression-driven motion.
    """
    vec = flow[mask].astype(np.float64)
    if vec.size == 0:
        return 0.0
    residual = vec - np.median(vec, axis=0)
    return float(np.hypot(residual[:, 0], residual[:, 1]).mean())


def nearest_index(frame_numbers: Sequence[float], number: float, *, skip_first: bool = True) -> int:
    """Stored frame whose source number is closest to ``number`` (earliest on ties). With
    ``skip_first`` the onset (index 0) is never chosen when there are other frames: an apex is
    after the onset by definition."""
    nums = np.asarray(frame_numbers, np.float64)
    start = 1 if skip_first and len(nums) > 1 else 0
    return start + int(np.argmin(np.abs(nums[start:] - float(number))))


# ----------------------------------------------------------------------------------------------
# One clip
# ----------------------------------------------------------------------------------------------


@dataclass
class FlowConfig:
    """Parameters of a flow stage; recorded in the store as the stage's params."""

    method: str = "tvl1"
    #: TV-L1 parameter set: "opencv" (its defaults) or "ipol" (the IPOL program's)
    tvl1: str = "opencv"
    pair: str = "onset-apex"
    size: int = 28
    apex: str = "annotated"
    normalize: str = "none"
    workers: int = 0  # 0: one per available CPU (merprep.parallel.worker_count)

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("method", self.method, METHODS),
            ("tvl1", self.tvl1, TVL1_PRESETS),
            ("pair", self.pair, PAIRS),
            ("apex", self.apex, APEX_CHOICES),
            ("normalize", self.normalize, NORMALISATIONS),
        ):
            if value not in allowed:
                raise MerprepError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        lo, hi = SIZE_RANGE
        if not lo <= self.size <= hi:
            raise MerprepError(f"size must be between {lo} and {hi}, got {self.size}")
        if self.workers < 0:
            raise MerprepError(
                f"workers must be >= 0 (0 = one per available CPU), got {self.workers}"
            )

    @property
    def n_workers(self) -> int:
        """Worker processes to start: ``workers``, or (0) one per CPU this process may use."""
        return worker_count(self.workers)

    def stage_params(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("workers")
        d.update(
            channels=["u", "v", "strain"],
            flow_units="output pixels (displacement at the store resolution x size / store size)",
            strain="sqrt(e_xx^2 + e_yy^2 + 2 e_xy^2), e_xy = (du/dy + dv/dx) / 2, central "
            "differences at the store resolution",
            onset="first stored frame",
            spot_score="mean |flow - median flow| inside the landmark hull, onset to each frame",
        )
        if self.method == "farneback":
            d["farneback_params"] = list(FARNEBACK_PARAMS)
            d.pop("tvl1")
        else:
            d["tvl1_params"] = tvl1_params(self.tvl1)
        return d


def process_clip(
    frames: np.ndarray,
    landmarks: np.ndarray | None,
    record: dict[str, Any],
    config: FlowConfig,
    estimator: FlowEstimator | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Flow arrays and stage info of one clip (pure: no store access, runs in workers)."""
    estimator = estimator or FlowEstimator(config.method, config.tvl1)
    t = len(frames)
    numbers = record.get("frame_numbers") or list(range(t))
    flows: dict[int, np.ndarray] = {0: np.zeros(frames.shape[1:3] + (2,), np.float32)}

    def flow_to(i: int) -> np.ndarray:
        if i not in flows:
            flows[i] = estimator(frames[0], frames[i])
        return flows[i]

    info: dict[str, Any] = {
        "onset_index": 0,
        "onset_frame": numbers[0],
        "apex_requested": config.apex,
    }
    source = config.apex
    if source == "annotated":
        if record.get("apex") is None:
            info["note"] = "apex not annotated; spotted instead"  # logged by run_flow
            source = "spot"
        else:
            apex = nearest_index(numbers, record["apex"])
    if source == "middle":
        apex = t // 2
    if source == "spot":
        lm = None if landmarks is None or len(landmarks) == 0 else landmarks[0]
        mask = face_mask(lm, (int(frames.shape[1]), int(frames.shape[2])))
        scores = [motion_score(flow_to(i), mask) for i in range(t)]
        apex = int(np.argmax(scores[1:]) + 1) if t > 1 else 0
        info["motion_scores"] = [round(s, 5) for s in scores]
    info.update(apex_index=apex, apex_frame=numbers[apex], apex_source=source)

    arrays: dict[str, np.ndarray] = {}
    onset_apex, scale = normalise(flow_features(flow_to(apex), config.size), config.normalize)
    arrays[stages.FLOW_ONSET_APEX] = onset_apex
    if scale:
        info["onset_apex_scale"] = scale
    if config.pair == "sequence":
        seq = np.stack([flow_features(flow_to(i), config.size) for i in range(t)])
        seq, scale = normalise(seq, config.normalize)
        arrays[stages.FLOW_SEQUENCE] = seq
        if scale:
            info["sequence_scale"] = scale
    return arrays, info


def _flow_in_worker(frames, landmarks, record, config):
    return record["clip_id"], process_clip(frames, landmarks, record, config)


# ----------------------------------------------------------------------------------------------
# The stage
# ----------------------------------------------------------------------------------------------


@dataclass
class FlowResult:
    path: Path
    n_clips: int
    apex_sources: dict[str, int] = field(default_factory=dict)
    notes: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        sources = ", ".join(f"{k}: {v}" for k, v in sorted(self.apex_sources.items()))
        line = (
            f"flow written to {self.path}: {self.n_clips} clips in {self.seconds:.1f} s "
            f"(apex {sources})"
        )
        if self.notes:
            line += f"; {self.notes} clip(s) had no annotated apex and were spotted"
        return line


def run_flow(
    path: Path | str, config: FlowConfig, *, command: str = "", progress: bool | None = None
) -> FlowResult:
    """Add the ``flow`` stage to the store at ``path`` (replacing a previous one).

    Flow is computed in ``config.n_workers`` spawned processes (inline with one) and written
    here, in completion order; at most twice as many clips as workers are in memory at once.
    """
    path = Path(path)
    start = time.perf_counter()
    result = FlowResult(path, 0)
    with store_lock(path, must_exist=True), ClipStore(path) as store:
        # flow is measured from stored frame 0: refuse stores whose sampling dropped the onset
        require_stored_onset(store.records(), "merprep flow", store=str(path))
        ids = store.clip_ids

        def items():
            for cid in ids:
                yield store.frames(cid), store.landmarks(cid), store.record(cid), config

        params = config.stage_params()
        with modify_store(path, STAGE, command or "merprep.flow.run_flow", params) as writer:
            for _, (cid, (arrays, info)) in map_clips(
                _flow_in_worker,
                items(),
                workers=config.n_workers,
                total=len(ids),
                desc=STAGE,
                progress=progress,
                initializer=single_threaded_worker,
                label=lambda args: str(args[2]["clip_id"]),
            ):
                for name, arr in arrays.items():
                    writer.write(cid, name, arr)
                writer.set_clip_info(cid, info)
                if "note" in info:
                    log.info("%s: %s", cid, info["note"])
                result.n_clips += 1
                src = info["apex_source"]
                result.apex_sources[src] = result.apex_sources.get(src, 0) + 1
                result.notes += "note" in info
    result.seconds = time.perf_counter() - start
    return result
