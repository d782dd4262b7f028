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

import cv2
import numpy as np

from merprep import stages
from merprep.errors import MerprepError
from merprep.store import ClipStore

log = logging.getLogger(__name__)

#: Tiles per montage row.
COLUMNS = 5
PAD = 4  # px between tiles and around the montage
LABEL_H = 18  # px of the frame-number line under each tile
LINE_H = 20  # px per title line
FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)

#: 68-point groups drawn as polylines: (points, closed, RGB colour).
LANDMARK_GROUPS = (
    (range(17), False, (255, 255, 255)),  # jaw
    (range(17, 22), False, (255, 220, 0)),  # brows
    (range(22, 27), False, (255, 220, 0)),
    (range(27, 31), False, (0, 230, 255)),  # nose bridge
    (range(31, 36), False, (0, 230, 255)),  # nostrils
    (range(36, 42), True, (0, 255, 0)),  # eyes
    (range(42, 48), True, (0, 255, 0)),
    (range(48, 60), True, (255, 80, 255)),  # outer lips
    (range(60, 68), True, (255, 80, 255)),  # inner lips
)

#: AU region box colours (RGB), chosen to stand apart from the landmark colours.
BOX_COLOURS = (
    (255, 64, 64),
    (64, 140, 255),
    (255, 150, 0),
    (170, 90, 255),
    (0, 190, 140),
    (255, 255, 120),
    (140, 70, 20),
    (255, 160, 200),
)

_SHIFT = 4  # cv2 drawing with 4 fractional bits: landmarks are drawn at sub-pixel positions


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


def render_montage(
    store_path: Path | str,
    clip_id: str | None = None,
    *,
    frames: int = 10,
    scale: float = 2.0,
    landmarks: bool = True,
    boxes: bool = True,
    layer: str = stages.FRAMES,
) -> np.ndarray:
    """The montage of one clip (the first when ``clip_id`` is None) as uint8 RGB (H, W, 3).

    Layout: a title, then rows of :data:`COLUMNS` tiles of round(frame size x ``scale``) px with
    :data:`PAD` px between them and a :data:`LABEL_H` px label line under each. ``layer`` is one
    of :data:`LAYERS` (see the module docstring); landmarks and AU boxes are drawn on ``frames``
    and ``magnified`` only, whose pixels share the face frames' coordinates.
    """
    if frames < 1:
        raise ValueError("frames must be at least 1")
    if scale <= 0:
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
        columns = COLUMNS
        if stage is stages.CROP_AU:
            pixels, names = _au_clips(store, clip_id)
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
    chosen = choose_frames(len(pixels), frames)
    h, w = pixels.shape[1:3]
    sx, sy = max(1, round(w * scale)) / w, max(1, round(h * scale)) / h
    tiles, labels = [], []
    for idx in chosen:
        tile = _tile(pixels[idx], max(1, round(w * scale)), max(1, round(h * scale)))
        if points is not None and idx < len(points):
            _draw_landmarks(tile, points[idx], sx, sy)
        taken: list[tuple[int, int, int, int]] = []  # label rectangles already drawn
        for j, (region, bx) in enumerate(regions.items()):
            box = bx if bx.ndim == 1 else bx[min(idx, len(bx) - 1)]
            _draw_box(tile, box, sx, sy, BOX_COLOURS[j % len(BOX_COLOURS)], region, taken)
        tiles.append(tile)
        labels.append(f"frame {numbers[idx]:g}" if idx < len(numbers) else f"#{idx}")
    return _compose(_title(record), notes, [(tiles, labels)], columns)


def _compose(
    title: str,
    notes: list[str],
    rows: list[tuple[list[np.ndarray], list[str]]],
    columns: int = COLUMNS,
) -> np.ndarray:
    """Title lines, then each group of tiles in rows of at most ``columns``, each tile with its
    label underneath. Tiles of a group share one size."""
    widest = max(min(columns, len(tiles)) * (tiles[0].shape[1] + PAD) + PAD for tiles, _ in rows)
    lines = _wrap(title, widest - 2 * PAD)
    for note in notes:
        lines += _wrap(note, widest - 2 * PAD)
    top = PAD + len(lines) * LINE_H
    height = top + sum(
        math.ceil(len(tiles) / columns) * (tiles[0].shape[0] + LABEL_H + PAD) for tiles, _ in rows
    )
    canvas = np.full((height, widest, 3), BACKGROUND, np.uint8)
    for i, line in enumerate(lines):
        _text(canvas, line, (PAD, PAD + (i + 1) * LINE_H - 6), 0.5)
    y = top
    for tiles, labels in rows:
        tile_h, tile_w = tiles[0].shape[:2]
        for k, (tile, label) in enumerate(zip(tiles, labels)):
            r, c = divmod(k, columns)
            x0, y0 = PAD + c * (tile_w + PAD), y + r * (tile_h + LABEL_H + PAD)
            canvas[y0 : y0 + tile_h, x0 : x0 + tile_w] = tile
            _text(canvas, label, (x0 + 2, y0 + tile_h + LABEL_H - 5), 0.42)
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
    store: ClipStore, clip_id: str, record: dict, frames: int, scale: float
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
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    u, v, strain = flow[..., 0], flow[..., 1], flow[..., 2]
    reach = max(float(np.abs(flow[..., :2]).max()), 1e-6)  # one scale for u and v
    tiles = [
        _enlarge(_diverging(u, reach), size),
        _enlarge(_diverging(v, reach), size),
        _enlarge(_sequential(strain), size),
        _enlarge(flow_colour(u, v, reach), size),
        _enlarge(colour_wheel(min(h, w)), size),
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
                    _enlarge(flow_colour(sequence[i, ..., 0], sequence[i, ..., 1], top), size)
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


def flow_colour(u: np.ndarray, v: np.ndarray, reach: float) -> np.ndarray:
    """RGB image of a flow field: hue = direction (as on :func:`colour_wheel`), brightness =
    magnitude / ``reach`` (clipped to 1)."""
    magnitude, angle = cv2.cartToPolar(
        u.astype(np.float32), v.astype(np.float32), angleInDegrees=True
    )
    hsv = np.zeros(u.shape + (3,), np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)  # OpenCV hue is 0-179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude / reach * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def colour_wheel(size: int) -> np.ndarray:
    """The key of :func:`flow_colour`: each pixel coloured as the flow pointing from the centre
    to it (right = red; image y points down)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = (size - 1) / 2
    u, v = xs - centre, ys - centre
    wheel = flow_colour(u, v, max(centre, 1e-6))
    wheel[np.hypot(u, v) > centre] = BACKGROUND
    return wheel


def _diverging(x: np.ndarray, reach: float) -> np.ndarray:
    """Blue (-reach) through white (0) to red (+reach), RGB uint8."""
    t = np.clip(x / reach, -1, 1)[..., None]
    white, red, blue = (
        np.array([255, 255, 255.0]),
        np.array([200, 30, 30.0]),
        np.array([30, 60, 200.0]),
    )
    out = np.where(t >= 0, white + t * (red - white), white - t * (blue - white))
    return out.astype(np.uint8)


def _sequential(x: np.ndarray) -> np.ndarray:
    top = float(x.max())
    scaled = (
        np.zeros(x.shape, np.uint8) if top <= 0 else np.clip(x / top * 255, 0, 255).astype(np.uint8)
    )
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def _enlarge(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(cv2.resize(img, size, interpolation=cv2.INTER_NEAREST))


def save_montage(image: np.ndarray, out: Path | str) -> Path:
    """Write an RGB montage as PNG (or any format OpenCV knows from the suffix)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise MerprepError(
            "could not write the image (unknown suffix or unwritable folder)", file=out
        )
    return out


# -- drawing helpers ---------------------------------------------------------------------------


def _title(record: dict) -> str:
    aus = record.get("aus") or "-"
    extra = ""
    if record.get("landmark_drift_px") is not None:
        extra = f"   landmark drift {record['landmark_drift_px']:.2f} px"
    return (
        f"{record.get('clip_id', '?')}   emotion: {record.get('emotion', '?')}   "
        f"AUs: {aus}   landmarks: {record.get('landmarks_from', '?')}{extra}"
    )


def _wrap(text: str, width_px: int, font_scale: float = 0.5) -> list[str]:
    """Greedy word wrap to ``width_px`` in the title font."""
    lines: list[str] = []
    for word in text.split(" "):
        trial = word if not lines else lines[-1] + " " + word
        if lines and cv2.getTextSize(trial, FONT, font_scale, 1)[0][0] <= width_px:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines or [""]


def _text(
    img: np.ndarray,
    text: str,
    org: tuple[int, int],
    font_scale: float,
    colour: tuple[int, int, int] = TEXT,
) -> None:
    cv2.putText(img, text, org, FONT, font_scale, colour, 1, cv2.LINE_AA)


def _tile(frame: np.ndarray, tile_w: int, tile_h: int) -> np.ndarray:
    img = frame[:, :, 0] if frame.ndim == 3 and frame.shape[2] == 1 else frame
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(cv2.resize(img, (tile_w, tile_h), interpolation=cv2.INTER_NEAREST))


def _to_tile(xy: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Store pixel coordinates (pixel centres at integers) -> fixed-point tile coordinates."""
    pts = np.column_stack([(xy[:, 0] + 0.5) * sx - 0.5, (xy[:, 1] + 0.5) * sy - 0.5])
    return np.round(pts * (1 << _SHIFT)).astype(np.int32)


def _draw_landmarks(tile: np.ndarray, points: np.ndarray, sx: float, sy: float) -> None:
    if not np.isfinite(points).all():
        return
    pts = _to_tile(np.asarray(points, np.float64), sx, sy)
    radius = max(1, round(min(sx, sy) * 0.6)) << _SHIFT
    for idx, closed, colour in LANDMARK_GROUPS:
        group = pts[list(idx)]
        cv2.polylines(tile, [group], closed, colour, 1, cv2.LINE_AA, _SHIFT)
        for p in group:
            cv2.circle(tile, tuple(int(v) for v in p), radius, colour, -1, cv2.LINE_AA, _SHIFT)


def _draw_box(
    tile: np.ndarray,
    box: np.ndarray,
    sx: float,
    sy: float,
    colour: tuple[int, int, int],
    name: str,
    taken: list[tuple[int, int, int, int]],
) -> None:
    """The box, and its name on a filled tag at the top-left corner; a tag that would cover an
    earlier one (regions often share a corner) moves right, then down."""
    if not np.isfinite(box).all():
        return
    x0, y0, x1, y1 = box
    p0 = (round(x0 * sx), round(y0 * sy))
    p1 = (round(x1 * sx) - 1, round(y1 * sy) - 1)
    cv2.rectangle(tile, p0, p1, colour, 2)
    (tw, th), _ = cv2.getTextSize(name, FONT, 0.4, 1)
    tag_w, tag_h = tw + 4, th + 5
    x, y = p0[0], max(0, p0[1] - tag_h)
    for _ in range(20):
        hit = next(
            (t for t in taken if x < t[2] and t[0] < x + tag_w and y < t[3] and t[1] < y + tag_h),
            None,
        )
        if hit is None:
            break
        x = hit[2] + 1
        if x + tag_w > tile.shape[1]:
            x, y = p0[0], hit[3] + 1
    taken.append((x, y, x + tag_w, y + tag_h))
    cv2.rectangle(tile, (x, y), (x + tag_w - 1, y + tag_h - 1), colour, -1)
    _text(tile, name, (x + 2, y + th + 2), 0.4, (0, 0, 0))
