"""``merprep show``: one clip of a store as a montage, to check crops, landmarks and AU boxes.

Each tile is one stored frame, enlarged with nearest-neighbour sampling (so store pixels stay
visible), with the clip's stored landmarks drawn on it and, when the store has AU crops
(``au/boxes`` or ``au/<region>/boxes`` from ``merprep crop-au``), the AU boxes in one colour per
region with the region's name. A title names the clip, emotion and AUs; the source frame number
is under every tile.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import cv2
import numpy as np

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
    (range(0, 17), False, (255, 255, 255)),   # jaw
    (range(17, 22), False, (255, 220, 0)),    # brows
    (range(22, 27), False, (255, 220, 0)),
    (range(27, 31), False, (0, 230, 255)),    # nose bridge
    (range(31, 36), False, (0, 230, 255)),    # nostrils
    (range(36, 42), True, (0, 255, 0)),       # eyes
    (range(42, 48), True, (0, 255, 0)),
    (range(48, 60), True, (255, 80, 255)),    # outer lips
    (range(60, 68), True, (255, 80, 255)),    # inner lips
)

#: AU region box colours (RGB), chosen to stand apart from the landmark colours.
BOX_COLOURS = ((255, 64, 64), (64, 140, 255), (255, 150, 0), (170, 90, 255), (0, 190, 140),
               (255, 255, 120), (140, 70, 20), (255, 160, 200))

_BOX_ARRAY = re.compile(r"^au/(?:(?P<region>[^/]+)/)?boxes$")
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
            match = _BOX_ARRAY.match(name)
            if not match:
                continue
            region = match.group("region")
            if region is None:
                info = store.stage_info(clip_id, stage_name) or {}
                region = str(info.get("rule") or "AU")
            try:
                boxes = np.asarray(store.array(clip_id, name), np.float64)
            except MerprepError:  # this clip has no such array
                continue
            if boxes.shape[-1:] != (4,) or boxes.ndim > 2:
                log.warning("%s: %s has shape %s, not (T, 4); not drawn", clip_id, name,
                            boxes.shape)
                continue
            out[region] = boxes
    return out


def choose_frames(n_frames: int, max_frames: int) -> list[int]:
    """All frame indices, or ``max_frames`` evenly spread ones (first and last included)."""
    if n_frames <= max_frames:
        return list(range(n_frames))
    return sorted({int(round(x)) for x in np.linspace(0, n_frames - 1, max_frames)})


def render_montage(store_path: Path | str, clip_id: str | None = None, *, frames: int = 10,
                   scale: float = 2.0, landmarks: bool = True, boxes: bool = True
                   ) -> np.ndarray:
    """The montage of one clip (the first when ``clip_id`` is None) as uint8 RGB (H, W, 3).

    Layout: a title, then rows of :data:`COLUMNS` tiles of round(frame size x ``scale``) px with
    :data:`PAD` px between them and a :data:`LABEL_H` px frame-number line under each.
    """
    if frames < 1:
        raise ValueError("frames must be at least 1")
    if scale <= 0:
        raise ValueError("scale must be positive")
    with ClipStore(store_path) as store:
        if not store.clip_ids:
            raise MerprepError("the store has no clips", file=store.path)
        clip_id = clip_id or store.clip_ids[0]
        if clip_id not in set(store.clip_ids):
            raise MerprepError(f"no clip {clip_id!r} in the store (see merprep show --list)",
                               file=store.path)
        record = store.record(clip_id)
        pixels = store.frames(clip_id)
        points = store.landmarks(clip_id) if landmarks else None
        regions = au_box_arrays(store, clip_id) if boxes else {}

    chosen = choose_frames(len(pixels), frames)
    t, h, w = pixels.shape[:3]
    tile_w, tile_h = max(1, round(w * scale)), max(1, round(h * scale))
    sx, sy = tile_w / w, tile_h / h
    cols = min(COLUMNS, len(chosen))
    rows = math.ceil(len(chosen) / cols)
    width = cols * tile_w + (cols + 1) * PAD

    title = _wrap(_title(record), width - 2 * PAD)
    if regions:
        title += _wrap("AU boxes: " + ", ".join(regions), width - 2 * PAD)
    top = PAD + len(title) * LINE_H
    height = top + rows * (tile_h + LABEL_H + PAD)
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    for i, line in enumerate(title):
        _text(canvas, line, (PAD, PAD + (i + 1) * LINE_H - 6), 0.5)

    numbers = record.get("frame_numbers", [])
    for k, idx in enumerate(chosen):
        r, c = divmod(k, cols)
        x0 = PAD + c * (tile_w + PAD)
        y0 = top + r * (tile_h + LABEL_H + PAD)
        tile = _tile(pixels[idx], tile_w, tile_h)
        if points is not None and idx < len(points):
            _draw_landmarks(tile, points[idx], sx, sy)
        taken: list[tuple[int, int, int, int]] = []  # label rectangles already drawn
        for j, (region, bx) in enumerate(regions.items()):
            box = bx if bx.ndim == 1 else bx[min(idx, len(bx) - 1)]
            _draw_box(tile, box, sx, sy, BOX_COLOURS[j % len(BOX_COLOURS)], region, taken)
        canvas[y0:y0 + tile_h, x0:x0 + tile_w] = tile
        label = f"frame {numbers[idx]:g}" if idx < len(numbers) else f"#{idx}"
        _text(canvas, label, (x0 + 2, y0 + tile_h + LABEL_H - 5), 0.42)
    return canvas


def save_montage(image: np.ndarray, out: Path | str) -> Path:
    """Write an RGB montage as PNG (or any format OpenCV knows from the suffix)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise MerprepError("could not write the image (unknown suffix or unwritable folder)",
                           file=out)
    return out


# -- drawing helpers ---------------------------------------------------------------------------

def _title(record: dict) -> str:
    aus = record.get("aus") or "-"
    extra = ""
    if record.get("landmark_drift_px") is not None:
        extra = f"   landmark drift {record['landmark_drift_px']:.2f} px"
    return (f"{record.get('clip_id', '?')}   emotion: {record.get('emotion', '?')}   "
            f"AUs: {aus}   landmarks: {record.get('landmarks_from', '?')}{extra}")


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


def _text(img: np.ndarray, text: str, org: tuple[int, int], font_scale: float,
          colour: tuple[int, int, int] = TEXT) -> None:
    cv2.putText(img, text, org, FONT, font_scale, colour, 1, cv2.LINE_AA)


def _tile(frame: np.ndarray, tile_w: int, tile_h: int) -> np.ndarray:
    img = frame[:, :, 0] if frame.ndim == 3 and frame.shape[2] == 1 else frame
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(cv2.resize(img, (tile_w, tile_h),
                                           interpolation=cv2.INTER_NEAREST))


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


def _draw_box(tile: np.ndarray, box: np.ndarray, sx: float, sy: float,
              colour: tuple[int, int, int], name: str,
              taken: list[tuple[int, int, int, int]]) -> None:
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
        hit = next((t for t in taken if x < t[2] and t[0] < x + tag_w and y < t[3]
                    and t[1] < y + tag_h), None)
        if hit is None:
            break
        x = hit[2] + 1
        if x + tag_w > tile.shape[1]:
            x, y = p0[0], hit[3] + 1
    taken.append((x, y, x + tag_w, y + tag_h))
    cv2.rectangle(tile, (x, y), (x + tag_w - 1, y + tag_h - 1), colour, -1)
    _text(tile, name, (x + 2, y + th + 2), 0.4, (0, 0, 0))
