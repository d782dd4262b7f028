"""Drawing primitives of the montages (``merprep show``, and anything that draws clips): tiles,
text, landmarks, boxes, and the colour scales of flow pictures (a diverging scale for u and v, a
sequential one for strain, direction as hue with its colour wheel)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from merprep.errors import MerprepError

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


def diverging(x: np.ndarray, reach: float) -> np.ndarray:
    """Blue (-reach) through white (0) to red (+reach), RGB uint8."""
    t = np.clip(x / reach, -1, 1)[..., None]
    white, red, blue = (
        np.array([255, 255, 255.0]),
        np.array([200, 30, 30.0]),
        np.array([30, 60, 200.0]),
    )
    out = np.where(t >= 0, white + t * (red - white), white - t * (blue - white))
    return out.astype(np.uint8)


def sequential(x: np.ndarray) -> np.ndarray:
    top = float(x.max())
    scaled = (
        np.zeros(x.shape, np.uint8) if top <= 0 else np.clip(x / top * 255, 0, 255).astype(np.uint8)
    )
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def enlarge(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(cv2.resize(img, size, interpolation=cv2.INTER_NEAREST))


#: picture formats by file suffix: raster ones written by OpenCV, PDF and SVG (the montage
#: embedded as an image, for papers) by matplotlib
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VECTOR_SUFFIXES = (".pdf", ".svg")
IMAGE_SUFFIXES = RASTER_SUFFIXES + VECTOR_SUFFIXES


def check_image_path(out: Path | str) -> Path:
    """Refuse, before any work, a file name whose suffix says no picture format we write."""
    out = Path(out)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        said = f"suffix {out.suffix!r}" if out.suffix else "no suffix"
        raise MerprepError(
            f"cannot tell the picture format ({said}); name the file .png, .jpg, .pdf or "
            f".svg (also: {', '.join(s for s in IMAGE_SUFFIXES if s not in ('.png', '.jpg'))})",
            file=out,
        )
    return out


def save_montage(image: np.ndarray, out: Path | str) -> Path:
    """Write an RGB montage; the format follows the suffix (:data:`IMAGE_SUFFIXES`)."""
    out = check_image_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in VECTOR_SUFFIXES:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        try:
            plt.imsave(out, image)
        except OSError as exc:
            raise MerprepError(f"could not write the image ({exc})", file=out) from None
        return out
    if not cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise MerprepError("could not write the image (unwritable folder?)", file=out)
    return out


def wrap_text(text: str, width_px: int, font_scale: float = 0.5) -> list[str]:
    """Greedy word wrap to ``width_px`` in the title font."""
    lines: list[str] = []
    for word in text.split(" "):
        trial = word if not lines else lines[-1] + " " + word
        if lines and cv2.getTextSize(trial, FONT, font_scale, 1)[0][0] <= width_px:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines or [""]


def put_text(
    img: np.ndarray,
    text: str,
    org: tuple[int, int],
    font_scale: float,
    colour: tuple[int, int, int] = TEXT,
) -> None:
    cv2.putText(img, text, org, FONT, font_scale, colour, 1, cv2.LINE_AA)


def make_tile(frame: np.ndarray, tile_w: int, tile_h: int) -> np.ndarray:
    img = frame[:, :, 0] if frame.ndim == 3 and frame.shape[2] == 1 else frame
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(cv2.resize(img, (tile_w, tile_h), interpolation=cv2.INTER_NEAREST))


def to_tile(xy: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Store pixel coordinates (pixel centres at integers) -> fixed-point tile coordinates."""
    pts = np.column_stack([(xy[:, 0] + 0.5) * sx - 0.5, (xy[:, 1] + 0.5) * sy - 0.5])
    return np.round(pts * (1 << _SHIFT)).astype(np.int32)


def draw_landmarks(tile: np.ndarray, points: np.ndarray, sx: float, sy: float) -> None:
    if not np.isfinite(points).all():
        return
    pts = to_tile(np.asarray(points, np.float64), sx, sy)
    radius = max(1, round(min(sx, sy) * 0.6)) << _SHIFT
    for idx, closed, colour in LANDMARK_GROUPS:
        group = pts[list(idx)]
        cv2.polylines(tile, [group], closed, colour, 1, cv2.LINE_AA, _SHIFT)
        for p in group:
            cv2.circle(tile, tuple(int(v) for v in p), radius, colour, -1, cv2.LINE_AA, _SHIFT)


def draw_box(
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
    put_text(tile, name, (x + 2, y + th + 2), 0.4, (0, 0, 0))
