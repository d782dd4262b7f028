"""``merprep show``: one clip of a store as a montage, to check crops, landmarks, AU boxes, AU
crops, magnification and optical flow by eye.

Layers (``--layer``):

* ``frames`` (default): each tile is one stored face frame, enlarged with nearest-neighbour
  sampling (so store pixels stay visible), with the clip's stored landmarks and, when the store
  has AU crops (``au/boxes`` or ``au/<region>/boxes`` from ``merprep crop-au``), the AU boxes in
  one colour per region with the region's name;
* ``magnified``: the same for ``magnified/frames`` (``merprep magnify``);
* ``au``: the AU-region clips themselves (``au/frames``, or every ``au/<region>/frames`` side by
  side);
* ``flow``: the onset-apex flow (``merprep flow``) as u, v (blue negative, red positive, on a
  scale symmetric about zero), optical strain (dark to bright), the flow's direction as hue and
  magnitude as brightness, and a colour-wheel key; with ``--pair sequence`` flow, a row of
  direction/magnitude tiles from the onset to each stored frame follows.

A title names the clip, emotion and AUs; the source frame number (or what a tile shows) is under
every tile.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from merprep import stages
from merprep.draw import (
    BACKGROUND,
    BOX_COLOURS,
    TEXT,
    check_image_path,
    colour_wheel,
    diverging,
    draw_box,
    draw_landmarks,
    enlarge,
    flow_colour,
    make_tile,
    put_text,
    save_montage,
    sequential,
    wrap_text,
)
from merprep.errors import MerprepError
from merprep.store import ClipStore

log = logging.getLogger(__name__)

__all__ = [
    "BACKGROUND",
    "BOX_COLOURS",
    "COLUMNS",
    "PAD",
    "check_image_path",
    "colour_wheel",
    "flow_colour",
    "list_clips",
    "render_montage",
    "save_montage",
]

#: Tiles per montage row.
COLUMNS = 5
PAD = 4  # px between tiles and around the montage
LABEL_H = 18  # px of the frame-number line under each tile
LINE_H = 20  # px per title line


def list_clips(store_path: Path | str) -> list[str]:
    with ClipStore(store_path) as store:
        return list(store.clip_ids)


def au_box_arrays(store: ClipStore, clip_id: str) -> dict[str, np.ndarray]:
    """Region name -> (T, 4) boxes (x0, y0, x1, y1, store pixels) of the clip's AU crops.

    Array names come from the stages' recorded array lists; a single ``au/boxes`` is named after
    the crop-au rule recorded for the clip (or "AU").
    """
    out: dict[str, np.ndarray] = {}
    for stage_name, stage in store.stages.items():
        for name in stage.get("arrays", []):
            region = stages.au_region_of(name, "boxes")
            if name == stages.AU_BOXES:
                info = store.stage_info(clip_id, stage_name) or {}
                region = str(info.get("rule") or "AU")
            elif region is None:
                continue
            try:
                boxes = np.asarray(store.array(clip_id, name), np.float64)
            except MerprepError:  # this clip has no such array
                continue
            if boxes.shape[-1:] != (4,) or boxes.ndim > 2:
                log.warning(
                    "%s: %s has shape %s, not (T, 4); not drawn", clip_id, name, boxes.shape
                )
                continue
            out[region] = boxes
    return out


def choose_frames(n_frames: int, max_frames: int) -> list[int]:
    """All frame indices, or ``max_frames`` evenly spread ones (first and last included)."""
    if n_frames <= max_frames:
        return list(range(n_frames))
    return sorted({int(round(x)) for x in np.linspace(0, n_frames - 1, max_frames)})


#: what ``merprep show --layer`` can draw (the stage table's layers)
LAYERS = tuple(stages.LAYERS)
#: the merprep command that writes each later stage's layer (for the "run this first" message)
LAYER_COMMANDS = {
    layer: stage.command for layer, stage in stages.LAYERS.items() if stage is not stages.EXTRACT
}


#: ``scale`` None: enlarge tiles to at least this many pixels wide, so labels fit under them
MIN_TILE_PX = 128


def auto_scale(width: int) -> float:
    """The enlargement that makes a ``width``-pixel image a tile of at least
    :data:`MIN_TILE_PX` (whole multiples, so store pixels stay square; 2 at the least)."""
    return float(max(2, math.ceil(MIN_TILE_PX / max(1, width))))


def render_montage(
    store_path: Path | str,
    clip_id: str | None = None,
    *,
    frames: int = 10,
    scale: float | None = None,
    landmarks: bool = True,
    boxes: bool = True,
    layer: str = stages.FRAMES,
) -> np.ndarray:
    """The montage of one clip (the first when ``clip_id`` is None) as uint8 RGB (H, W, 3).

    Layout: a title, then rows of :data:`COLUMNS` tiles of round(frame size x ``scale``) px with
    :data:`PAD` px between them and a :data:`LABEL_H` px label line under each; ``scale`` None
    chooses it from the stored size (:func:`auto_scale`: 28 px flow maps become 140 px tiles). ``layer`` is one
    of :data:`LAYERS` (see the module docstring); landmarks and AU boxes are drawn on ``frames``
    and ``magnified`` only, whose pixels share the face frames' coordinates.
    """
    if frames < 1:
        raise ValueError("frames must be at least 1")
    if scale is not None and scale <= 0:
        raise ValueError("scale must be positive")
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    with ClipStore(store_path) as store:
        if not store.clip_ids:
            raise MerprepError("the store has no clips", file=store.path)
        clip_id = clip_id or store.clip_ids[0]
        if clip_id not in set(store.clip_ids):
            raise MerprepError(
                f"no clip {clip_id!r} in the store (see merprep show --list)", file=store.path
            )
        record = store.record(clip_id)
        stage = stages.LAYERS[layer]
        if stage is stages.FLOW:
            return _render_flow(store, clip_id, record, frames, scale)
        notes: list[str] = []
        points, regions = None, {}
        columns, per_tile = COLUMNS, 1
        if stage is stages.CROP_AU:
            pixels, names = _au_clips(store, clip_id)
            per_tile = len(names)
            notes.append("AU crops: " + ", ".join(names))
            columns = max(1, COLUMNS // len(names))  # a frame's regions already sit side by side
        else:
            pixels = (
                store.frames(clip_id)
                if stage is stages.EXTRACT
                else _stage_array(store, clip_id, stages.MAGNIFIED_FRAMES, stage)
            )
            points = store.landmarks(clip_id) if landmarks else None
            regions = au_box_arrays(store, clip_id) if boxes else {}
            if regions:
                notes.append("AU boxes: " + ", ".join(regions))
            if stage is stages.MAGNIFY:
                notes.insert(0, "magnified " + _stage_summary(store, stages.MAGNIFY.name))

    numbers = record.get("frame_numbers", [])
    marks = key_frames(numbers, record.get("onset"), record.get("apex"))
    chosen = with_key_frames(choose_frames(len(pixels), frames), marks)
    h, w = pixels.shape[1:3]
    scale = scale or auto_scale(w // per_tile)
    sx, sy = max(1, round(w * scale)) / w, max(1, round(h * scale)) / h
    tiles, labels = [], []
    if stage is stages.CROP_AU and per_tile > 1:  # the regions of a frame sit side by side
        notes.append("each tile, left to right: " + " | ".join(names))
    for idx in chosen:
        tile = make_tile(pixels[idx], max(1, round(w * scale)), max(1, round(h * scale)))
        if points is not None and idx < len(points):
            draw_landmarks(tile, points[idx], sx, sy)
        taken: list[tuple[int, int, int, int]] = []  # label rectangles already drawn
        for j, (region, bx) in enumerate(regions.items()):
            box = bx if bx.ndim == 1 else bx[min(idx, len(bx) - 1)]
            draw_box(tile, box, sx, sy, BOX_COLOURS[j % len(BOX_COLOURS)], region, taken)
        tiles.append(tile)
        label = f"frame {numbers[idx]:g}" if idx < len(numbers) else f"#{idx}"
        labels.append(f"{label} {marks[idx]}" if idx in marks else label)
    return _compose(_title(record), notes, [(tiles, labels)], columns)


#: the label colour of a tile showing the onset or the apex
KEY_COLOUR = (255, 200, 0)


def with_key_frames(chosen: list[int], marks: dict[int, str]) -> list[int]:
    """The chosen frames with each key frame (onset, apex) in place of the nearest chosen one,
    so the montage keeps its number of frames and always shows the apex."""
    out = list(chosen)
    for idx in marks:
        if idx in out or not out:
            continue
        nearest = min(range(len(out)), key=lambda i: (abs(out[i] - idx), i))
        if out[nearest] not in marks:
            out[nearest] = idx
    return sorted(set(out))


def key_frames(numbers: list[float], onset: float | None, apex: float | None) -> dict[int, str]:
    """Stored index -> "onset"/"apex" for the stored frames nearest the annotated ones (the
    onset only when stored: ``diffk`` may not keep it)."""
    marks: dict[int, str] = {}
    if not numbers:
        return marks
    values = np.asarray(numbers, float)
    if onset is not None and np.any(np.isclose(values, onset)):
        marks[int(np.argmin(np.abs(values - onset)))] = "onset"
    if apex is not None:
        i = int(np.argmin(np.abs(values - apex)))
        marks[i] = "onset+apex" if marks.get(i) == "onset" else "apex"
    return marks


def _compose(
    title: str,
    notes: list[str],
    rows: list[tuple[list[np.ndarray], list[str]]],
    columns: int = COLUMNS,
) -> np.ndarray:
    """Title lines, then each group of tiles in rows of at most ``columns``, each tile with its
    label underneath. Tiles of a group share one size."""
    widest = max(min(columns, len(tiles)) * (tiles[0].shape[1] + PAD) + PAD for tiles, _ in rows)
    lines = wrap_text(title, widest - 2 * PAD)
    for note in notes:
        lines += wrap_text(note, widest - 2 * PAD)
    top = PAD + len(lines) * LINE_H
    height = top + sum(
        math.ceil(len(tiles) / columns) * (tiles[0].shape[0] + LABEL_H + PAD) for tiles, _ in rows
    )
    canvas = np.full((height, widest, 3), BACKGROUND, np.uint8)
    for i, line in enumerate(lines):
        put_text(canvas, line, (PAD, PAD + (i + 1) * LINE_H - 6), 0.5)
    y = top
    for tiles, labels in rows:
        tile_h, tile_w = tiles[0].shape[:2]
        for k, (tile, label) in enumerate(zip(tiles, labels)):
            r, c = divmod(k, columns)
            x0, y0 = PAD + c * (tile_w + PAD), y + r * (tile_h + LABEL_H + PAD)
            canvas[y0 : y0 + tile_h, x0 : x0 + tile_w] = tile
            colour = KEY_COLOUR if label.endswith(("onset", "apex")) else TEXT
            put_text(canvas, label, (x0 + 2, y0 + tile_h + LABEL_H - 5), 0.42, colour)
        y += math.ceil(len(tiles) / columns) * (tile_h + LABEL_H + PAD)
    return canvas


def _stage_array(store: ClipStore, clip_id: str, name: str, stage: stages.Stage) -> np.ndarray:
    try:
        return store.array(clip_id, name)
    except MerprepError:
        raise MerprepError(
            f"clip {clip_id!r} has no {name} (run {stage.command} first)", file=store.path
        ) from None


#: the stage parameters worth a line in the title
SUMMARY_PARAMS = {
    stages.FLOW.name: ("method", "pair", "normalize", "size"),
    stages.MAGNIFY.name: ("alpha", "low", "high", "levels", "filter"),
}


def _stage_summary(store: ClipStore, stage: str) -> str:
    params = (store.stages.get(stage) or {}).get("params") or {}
    shown = [f"{k} {params[k]}" for k in SUMMARY_PARAMS[stage] if k in params]
    return f"({', '.join(shown)})" if shown else ""


def _au_clips(store: ClipStore, clip_id: str) -> tuple[np.ndarray, list[str]]:
    """(T, S, R*S, C) AU crops with the regions side by side, and the region names."""
    crop = stages.CROP_AU
    if any(stages.AU_FRAMES in st.get("arrays", []) for st in store.stages.values()):
        info = store.stage_info(clip_id, crop.name) or {}
        return _stage_array(store, clip_id, stages.AU_FRAMES, crop), [str(info.get("rule", "AU"))]
    regions = [
        (n, region)
        for st in store.stages.values()
        for n in st.get("arrays", [])
        if (region := stages.au_region_of(n)) is not None
    ]
    if not regions:
        _stage_array(store, clip_id, stages.AU_FRAMES, crop)  # raises: run crop-au first
    clips = [_stage_array(store, clip_id, n, crop) for n, _ in regions]
    return np.concatenate(clips, axis=2), [region for _, region in regions]


# -- flow --------------------------------------------------------------------------------------


def _render_flow(
    store: ClipStore, clip_id: str, record: dict, frames: int, scale: float | None
) -> np.ndarray:
    name = stages.FLOW.name
    flow = _stage_array(store, clip_id, stages.FLOW_ONSET_APEX, stages.FLOW).astype(np.float32)
    info = store.stage_info(clip_id, name) or {}
    sequence = (
        store.array(clip_id, stages.FLOW_SEQUENCE)
        if stages.FLOW_SEQUENCE in store.stages.get(name, {}).get("arrays", [])
        else None
    )
    h, w = flow.shape[:2]
    scale = scale or auto_scale(w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    u, v, strain = flow[..., 0], flow[..., 1], flow[..., 2]
    reach = max(float(np.abs(flow[..., :2]).max()), 1e-6)  # one scale for u and v
    tiles = [
        enlarge(diverging(u, reach), size),
        enlarge(diverging(v, reach), size),
        enlarge(sequential(strain), size),
        enlarge(flow_colour(u, v, reach), size),
        enlarge(colour_wheel(min(h, w)), size),
    ]
    labels = [
        f"u (+-{reach:.2f})",
        f"v (+-{reach:.2f})",
        f"strain (0-{float(strain.max()):.2f})",
        "direction, magnitude",
        "key",
    ]
    rows = [(tiles, labels)]
    if sequence is not None:
        numbers = record.get("frame_numbers", [])
        chosen = [i for i in choose_frames(len(sequence), frames + 1) if i > 0][:frames]
        top = max(float(np.abs(sequence[..., :2]).max()), 1e-6)
        rows.append(
            (
                [
                    enlarge(flow_colour(sequence[i, ..., 0], sequence[i, ..., 1], top), size)
                    for i in chosen
                ],
                [f"-> frame {numbers[i]:g}" if i < len(numbers) else f"-> #{i}" for i in chosen],
            )
        )
    apex = info.get("apex_frame")
    note = (
        f"flow onset frame {info.get('onset_frame', '?')} -> apex frame {apex} "
        f"({info.get('apex_source', '?')}) {_stage_summary(store, name)}"
    )
    return _compose(_title(record), [note], rows)


# -- drawing helpers ---------------------------------------------------------------------------


def _title(record: dict) -> str:
    aus = record.get("aus") or "-"
    extra = ""
    if record.get("landmark_drift_px") is not None:
        extra = f"   landmark drift {record['landmark_drift_px']:.2f} px"
    if record.get("landmark_jitter_px") is not None:
        extra += f", jitter {record['landmark_jitter_px']:.2f} px"
    return (
        f"{record.get('clip_id', '?')}   emotion: {record.get('emotion', '?')}   "
        f"AUs: {aus}   landmarks: {record.get('landmarks_from', '?')}{extra}"
    )
