"""Action-unit regions: which part of the face an AU moves, as a box on 68-point landmarks.

The default rule table reproduces the AU-crop branch of the reference model (docs/au-regions.md,
docs/references.md#model-b): the clip's annotated AU codes pick the first matching rule; its box
is the min/max of the rule's landmark points; clips that match no rule use the whole face
frame. Rules are written in the iBUG 68-point scheme (0-based) so every landmark backend can use
them.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merprep import stages
from merprep.au_rules import (
    DEFAULT_RULES,
    FACE,
    N_POINTS,
    Rule,
    RulesError,
    RuleTable,
    load_rules,
    parse_rules,
)
from merprep.errors import MerprepError
from merprep.parallel import map_clips
from merprep.store import ClipStore, modify_store, store_lock

__all__ = [
    "ALL_REGIONS",
    "BUILTIN_POINTS",
    "DEFAULT_CODES",
    "DEFAULT_RULES",
    "FACE",
    "MARGIN_RANGE",
    "MODES",
    "N_POINTS",
    "SIZE_RANGE",
    "STAGE",
    "Choice",
    "CropConfig",
    "CropResult",
    "Rule",
    "RuleTable",
    "RulesError",
    "annotated_codes",
    "choose",
    "crop_clip",
    "crop_resize",
    "load_rules",
    "parse_rules",
    "points_box",
    "region_boxes",
    "run_crop_au",
    "union_box",
]

log = logging.getLogger(__name__)

STAGE = stages.CROP_AU.name
MODES = ("rule", "union", "all")
#: AU codes the reference considers (the default of ``--codes``).
DEFAULT_CODES = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 43)
#: bounds of ``size`` and ``margin``; the CLI's ranges are the same (a test keeps them equal)
SIZE_RANGE = (8, 1024)
MARGIN_RANGE = (0.0, 2.0)
#: Regions written by ``--mode all``, in this order. Points come from the rule table when it has
#: a rule of that name; ``nose`` (no reference rule) is the nasal bridge and wings: bridge top 27,
#: inner eye corners 39/42 (the width where AU9 wrinkles the bridge), wings 31/35, base 33.
ALL_REGIONS = ("eyebrows", "eyes", "nose", "mouth", "cheeks")
BUILTIN_POINTS = {
    "eyebrows": (17, 19, 24, 26),
    "eyes": (19, 24, 15, 1),
    "nose": (27, 31, 33, 35, 39, 42),
    "mouth": (3, 5, 11, 13),
    "cheeks": (1, 29, 15, 3, 13),
}


# ----------------------------------------------------------------------------------------------
# Choosing a region
# ----------------------------------------------------------------------------------------------


@dataclass
class Choice:
    """The region(s) picked for a clip and why."""

    rules: list[Rule]  # empty: whole face
    annotated: list[int]
    considered: list[int]
    fallback: bool
    reason: str | None = None

    @property
    def name(self) -> str:
        return "+".join(r.name for r in self.rules) if self.rules else FACE


def annotated_codes(record: dict[str, Any]) -> list[int]:
    """Sorted distinct AU numbers of a store record (sides and intensities ignored)."""
    return sorted({int(c["code"]) for c in record.get("au_codes") or []})


def choose(
    codes: Iterable[int],
    table: RuleTable,
    considered: Iterable[int] = DEFAULT_CODES,
    mode: str = "rule",
) -> Choice:
    """First matching rule (``rule``) or every matching rule (``union``) for ``codes``; a rule
    matches when it lists one of the clip's codes that are in ``considered``."""
    annotated = sorted({int(c) for c in codes})
    allowed = set(considered)
    use = [c for c in annotated if c in allowed]
    matched = [r for r in table.rules if set(r.codes) & set(use)]
    if mode == "rule":
        matched = matched[:1]
    if matched:
        return Choice(matched, annotated, use, False)
    if not annotated:
        reason = "no AU annotation"
    elif not use:
        reason = "no annotated code in --codes"
    else:
        reason = "no rule lists the annotated codes"
    fb = table.get(table.fallback)
    return Choice([fb] if fb else [], annotated, use, True, reason)


# ----------------------------------------------------------------------------------------------
# Boxes and crops
# ----------------------------------------------------------------------------------------------


def points_box(
    landmarks: np.ndarray, points: Sequence[int], margin: float, frame_size: tuple[int, int]
) -> np.ndarray | None:
    """Integer pixel box (x0, y0, x1, y1), end-exclusive, of ``points`` grown by ``margin`` x
    the box's width/height on each side and clamped inside the (width, height) frame; the pixel
    holding each point is inside. None when the points are missing (NaN) or the box is empty."""
    pts = np.asarray(landmarks, np.float64)[list(points)]
    if not np.isfinite(pts).all():
        return None
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    w, h = frame_size
    box = np.array(
        [
            math.floor(x0 - dx),
            math.floor(y0 - dy),
            math.floor(x1 + dx) + 1,
            math.floor(y1 + dy) + 1,
        ],
        np.float64,
    )
    box[[0, 2]] = np.clip(box[[0, 2]], 0, w)
    box[[1, 3]] = np.clip(box[[1, 3]], 0, h)
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    return box


def union_box(boxes: Sequence[np.ndarray]) -> np.ndarray:
    b = np.stack(boxes)
    return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])


def crop_resize(frame: np.ndarray, box: Sequence[float], size: int) -> np.ndarray:
    """Crop ``frame`` to ``box`` and resize to size x size, stretching non-square boxes (as the
    reference does with cv2.resize); area interpolation when shrinking, linear when enlarging."""
    x0, y0, x1, y1 = (int(v) for v in box)
    crop = frame[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if size <= min(crop.shape[:2]) else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interp)
    return out.reshape(size, size, *frame.shape[2:])


@dataclass
class CropConfig:
    """Parameters of a crop-au stage; recorded in the store as the stage's params."""

    codes: tuple[int, ...] = DEFAULT_CODES
    size: int = 128
    margin: float = 0.0
    mode: str = "rule"
    rules: RuleTable = DEFAULT_RULES
    rules_file: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise MerprepError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        lo, hi = SIZE_RANGE
        if not lo <= self.size <= hi:
            raise MerprepError(f"size must be between {lo} and {hi}, got {self.size}")
        lo_m, hi_m = MARGIN_RANGE
        if not lo_m <= self.margin <= hi_m:
            raise MerprepError(f"margin must be between {lo_m:g} and {hi_m:g}, got {self.margin}")
        if not self.codes:
            raise MerprepError("codes must list at least one AU number")
        self.codes = tuple(sorted({int(c) for c in self.codes}))
        # codes no table knows (the reference table or the given one): e.g. AU 99
        covered = {c for table in (DEFAULT_RULES, self.rules) for r in table.rules for c in r.codes}
        unknown = [c for c in self.codes if c not in covered]
        if unknown:  # e.g. AU 99, which no table (and no FACS manual) has
            raise MerprepError(
                f"codes: AU {', '.join(map(str, unknown))} ha{'s' if len(unknown) == 1 else 've'} "
                f"no region in the rule table (AUs with a region: "
                f"{', '.join(map(str, sorted(covered)))}); add a rule for it in a rules file, "
                "or leave it out"
            )

    def region_points(self) -> dict[str, tuple[tuple[int, ...], float]]:
        """``--mode all``: region name -> (points, margin), rule table overriding built-ins."""
        out = {}
        for name in ALL_REGIONS:
            rule = self.rules.get(name)
            if rule is not None:
                out[name] = (rule.points, self.margin if rule.margin is None else rule.margin)
            else:
                out[name] = (BUILTIN_POINTS[name], self.margin)
        return out

    def stage_params(self) -> dict[str, Any]:
        params = {
            "mode": self.mode,
            "codes": list(self.codes),
            "size": self.size,
            "margin": self.margin,
            "rules_file": self.rules_file,
            "rule_table": self.rules.to_dict(),
            "box": "integer pixels (x0, y0, x1, y1), end-exclusive, store pixel coordinates; "
            "min/max of the points plus margin x box size per side, clamped to the frame",
            "resize": "stretch to size x size (no padding), INTER_AREA shrinking / "
            "INTER_LINEAR enlarging",
            "fallback_region": "whole face frame",
            "frames_from": "store",
        }
        if self.mode == "all":
            params["regions"] = {
                k: {"points": list(p), "margin": m} for k, (p, m) in self.region_points().items()
            }
        return params


def _frame_landmarks(landmarks: np.ndarray, per_frame: bool, t: int) -> list[np.ndarray]:
    """Per-frame landmarks for tracked stores, the onset ones repeated otherwise."""
    if per_frame and len(landmarks) == t:
        return [landmarks[i] for i in range(t)]
    return [landmarks[0]] * t


def region_boxes(
    landmarks: Sequence[np.ndarray],
    rules: Sequence[tuple[Sequence[int], float]],
    frame_size: tuple[int, int],
) -> tuple[np.ndarray, bool]:
    """(T, 4) boxes: the union of the given (points, margin) boxes per frame; the whole frame
    where the landmarks give no box. Returns (boxes, whether any frame fell back)."""
    w, h = frame_size
    whole = np.array([0, 0, w, h], np.float64)
    out, fell_back = [], False
    for lm in landmarks:
        found = [points_box(lm, pts, m, frame_size) for pts, m in rules]
        boxes = [b for b in found if b is not None]
        if not boxes:
            fell_back = True
            out.append(whole)
        else:
            out.append(union_box(boxes))
    return np.asarray(out, np.float32), fell_back


def crop_clip(
    frames: np.ndarray, landmarks: np.ndarray, record: dict[str, Any], config: CropConfig
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """AU-region arrays and stage info of one clip (pure: no store access)."""
    t, h, w = frames.shape[:3]
    per_frame = record.get("landmarks_from") == "tracked"
    lms = _frame_landmarks(landmarks, per_frame, t)
    codes = annotated_codes(record)
    arrays: dict[str, np.ndarray] = {}

    def crops(boxes: np.ndarray) -> np.ndarray:
        return np.stack([crop_resize(frames[i], boxes[i], config.size) for i in range(t)])

    if config.mode == "all":
        regions = config.region_points()
        missing = []
        for name, (pts, margin) in regions.items():
            boxes, fell_back = region_boxes(lms, [(pts, margin)], (w, h))
            if fell_back:
                missing.append(name)
            arrays[stages.au_region_frames(name)] = crops(boxes)
            arrays[stages.au_region_boxes(name)] = boxes
        considered = [c for c in codes if c in set(config.codes)]
        info = {
            "rule": "all",
            "regions": list(regions),
            "codes": considered,
            "annotated_codes": codes,
            "fallback": bool(missing),
        }
        if missing:
            info["reason"] = "no landmarks; whole face used for " + ", ".join(missing)
        return arrays, info

    choice = choose(codes, config.rules, config.codes, config.mode)
    spec = [(r.points, config.margin if r.margin is None else r.margin) for r in choice.rules]
    boxes, fell_back = region_boxes(lms, spec, (w, h))
    info = {
        "rule": choice.name,
        "codes": choice.considered,
        "annotated_codes": codes,
        "fallback": choice.fallback or fell_back,
        "landmarks_per_frame": per_frame,
    }
    if choice.fallback:
        info["reason"] = choice.reason
    if fell_back and spec:
        info["reason"] = "no usable landmarks; whole face used"
        info["rule"] = FACE
    arrays[stages.AU_FRAMES] = crops(boxes)
    arrays[stages.AU_BOXES] = boxes
    return arrays, info


# ----------------------------------------------------------------------------------------------
# The stage
# ----------------------------------------------------------------------------------------------


@dataclass
class CropResult:
    path: Path
    n_clips: int = 0
    per_rule: Counter = field(default_factory=Counter)
    fallbacks: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        lines = [f"AU regions written to {self.path}: {self.n_clips} clips"]
        lines += [f"  {name:<12} {n}" for name, n in sorted(self.per_rule.items())]
        n_fb = sum(self.fallbacks.values())
        lines.append(
            f"  fallbacks    {n_fb}"
            + (
                " (" + ", ".join(f"{k}: {v}" for k, v in sorted(self.fallbacks.items())) + ")"
                if n_fb
                else ""
            )
        )
        return "\n".join(lines)


def run_crop_au(
    path: Path | str, config: CropConfig, *, command: str = "", progress: bool | None = None
) -> CropResult:
    """Add the ``crop-au`` stage to the store at ``path`` (replacing a previous one)."""
    path = Path(path)
    result = CropResult(path)
    with (
        store_lock(path, must_exist=True),
        ClipStore(path) as store,
        modify_store(
            path, STAGE, command or "merprep.regions.run_crop_au", config.stage_params()
        ) as writer,
    ):
        ids = store.clip_ids

        def items():
            for cid in ids:
                yield cid, store.frames(cid), store.landmarks(cid), store.record(cid), config

        # inline in this process (workers=1): cropping costs little next to reading and
        # writing the store
        for _, (cid, (arrays, info)) in map_clips(
            _crop_clip,
            items(),
            workers=1,
            total=len(ids),
            desc=STAGE,
            progress=progress,
            label=lambda args: str(args[0]),
        ):
            for name, arr in arrays.items():
                writer.write(cid, name, arr)
            writer.set_clip_info(cid, info)
            result.n_clips += 1
            result.per_rule[info["rule"]] += 1
            if info["fallback"]:
                result.fallbacks[info.get("reason", "fallback")] += 1
    log.info("crop-au: %d clips, %s", result.n_clips, dict(result.per_rule))
    return result


def _crop_clip(
    clip_id: str,
    frames: np.ndarray,
    landmarks: np.ndarray,
    record: dict[str, Any],
    config: CropConfig,
) -> tuple[str, tuple[dict[str, np.ndarray], dict[str, Any]]]:
    return clip_id, crop_clip(frames, landmarks, record, config)
