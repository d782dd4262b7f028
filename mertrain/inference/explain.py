"""``mertrain explain``: which facial region drove a model's decision on one clip, as an
occlusion map drawn over the clip's frames (a montage like ``merprep show``'s).

Occlusion (Zeiler & Fergus 2014), chosen over Grad-CAM because it needs nothing of the model
but its predictions, so it explains every registered model the same way (the 2D-CNN's vote and
the scikit-learn SVM included). A square patch slides over the clip's input (the frames the
model reads, after resampling); inside it, the motion is removed: every frame takes the onset
frame's pixels there (a flow stack's u, v and strain are set to 0). The map is the drop in the
explained class's probability, averaged over the patches covering each pixel: red where
removing the motion lowered it (the region supported the class), blue where it raised it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from merprep.draw import (
    BACKGROUND,
    diverging,
    enlarge,
    make_tile,
    put_text,
    save_montage,
    wrap_text,
)
from merprep.errors import MerprepError
from merprep.show import choose_frames
from mertrain.data import StoreCollection, load_arrays
from mertrain.inference.model import FoldEnsemble, TrainedModel

#: occluded copies predicted per call
BATCH = 64
PAD, LABEL_H, LINE_H = 4, 18, 20


def _positions(size: int, patch: int, stride: int) -> list[int]:
    last = max(0, size - patch)
    return sorted(set(range(0, last + 1, stride)) | {last})


def occlusion_map(
    model: TrainedModel | FoldEnsemble,
    x: dict[str, np.ndarray],
    name: str,
    target: int,
    *,
    patch: int,
    stride: int,
    progress: bool | None = None,
) -> tuple[np.ndarray, float]:
    """(H, W) drop of class ``target``'s probability when the motion under each patch of input
    ``name`` is removed, and the unoccluded probability. ``x``: one clip's inputs (batch of 1)
    at the model's shapes."""
    base = float(model.predict_arrays(x)[0, target])
    clip = x[name][0]
    is_clip = clip.ndim == 4
    h, w = clip.shape[1:3] if is_clip else clip.shape[:2]
    p = max(1, min(patch, h, w))
    spots = [(r, c) for r in _positions(h, p, stride) for c in _positions(w, p, stride)]
    heat = np.zeros((h, w))
    count = np.zeros((h, w))
    bar = tqdm(total=len(spots), unit="patch", desc="occlusion", disable=progress is False)
    with bar:
        for start in range(0, len(spots), BATCH):
            chunk = spots[start : start + BATCH]
            batch = np.repeat(clip[None], len(chunk), axis=0)
            for i, (r, c) in enumerate(chunk):
                if is_clip:
                    batch[i, :, r : r + p, c : c + p] = clip[0, r : r + p, c : c + p]
                else:
                    batch[i, r : r + p, c : c + p] = 0
            inputs = {k: np.repeat(v, len(chunk), axis=0) for k, v in x.items() if k != name}
            proba = model.predict_arrays({**inputs, name: batch})[:, target]
            for (r, c), q in zip(chunk, proba):
                heat[r : r + p, c : c + p] += base - float(q)
                count[r : r + p, c : c + p] += 1
            bar.update(len(chunk))
    return heat / np.maximum(count, 1), base


def _tiles(clip: np.ndarray, heat: np.ndarray, frames: int, scale: float) -> list[np.ndarray]:
    """Frames (or the flow's magnitude) with the heat blended over them, then the heat alone."""
    reach = max(float(np.abs(heat).max()), 1e-9)
    colour = diverging(heat, reach)
    if clip.ndim == 4:
        images = [clip[i] for i in choose_frames(len(clip), frames)]
    else:
        mag = np.hypot(clip[..., 0], clip[..., 1])
        top = max(float(mag.max()), 1e-9)
        images = [np.clip(mag / top * 255, 0, 255).astype(np.uint8)[..., None]]
    h, w = heat.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    over = enlarge(colour, size).astype(np.float32)
    # the colour covers the frame in proportion to the effect (0 where nothing changed)
    alpha = enlarge((0.7 * np.abs(heat) / reach).astype(np.float32), size)[..., None]
    tiles = []
    for img in images:
        base = make_tile(img, size[0], size[1]).astype(np.float32)
        tiles.append(((1 - alpha) * base + alpha * over).astype(np.uint8))
    tiles.append(enlarge(colour, size))
    return tiles


def _compose(lines: list[str], tiles: list[np.ndarray], labels: list[str]) -> np.ndarray:
    columns = min(5, len(tiles))
    th, tw = tiles[0].shape[:2]
    width = columns * (tw + PAD) + PAD
    text: list[str] = []
    for line in lines:
        text += wrap_text(line, max(width, 480) - 2 * PAD)
    width = max(width, 480)
    top = PAD + len(text) * LINE_H
    height = top + math.ceil(len(tiles) / columns) * (th + LABEL_H + PAD)
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    for i, line in enumerate(text):
        put_text(canvas, line, (PAD, PAD + (i + 1) * LINE_H - 6), 0.5)
    for k, (tile, label) in enumerate(zip(tiles, labels)):
        r, c = divmod(k, columns)
        x0, y0 = PAD + c * (tw + PAD), top + r * (th + LABEL_H + PAD)
        canvas[y0 : y0 + th, x0 : x0 + tw] = tile
        put_text(canvas, label, (x0 + 2, y0 + th + LABEL_H - 5), 0.42)
    return canvas


def explain(
    model: TrainedModel | FoldEnsemble,
    store_path: Path | str,
    clip_id: str,
    out: Path | str,
    *,
    target: str | None = None,
    patch: int | None = None,
    stride: int | None = None,
    frames: int = 5,
    scale: float | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Write the occlusion montage of ``clip_id`` for class ``target`` (default: the predicted
    one) to ``out`` (PNG); returns what it shows. ``patch``/``stride`` default to 1/8 and 1/16
    of the input size; ``scale`` to tiles of about 160 px."""
    if Path(out).suffix.lower() != ".png":
        raise MerprepError("the picture is written as PNG: give a .png path", file=out)
    specs = model.input_specs()
    name = next((s.name for s in specs if s.source in ("face", "flow")), specs[0].name)
    with StoreCollection([store_path]) as collection:
        model.check_collection(collection)
        if clip_id not in set(collection.stores[0].clip_ids):
            raise MerprepError(
                f"no clip {clip_id!r} in the store (see merprep show --list)", file=store_path
            )
        record = collection.stores[0].record(clip_id)
        x = load_arrays(
            collection, [clip_id], model.shapes(), {s.name: s.source for s in specs}, False
        )
    proba = model.predict_arrays(x)[0]
    predicted = int(np.argmax(proba))
    if target is not None and target not in model.classes:
        raise MerprepError(f"class {target!r} is not one of {', '.join(model.classes)}")
    k = predicted if target is None else model.classes.index(target)
    size = model.shapes()[name][-2]
    patch = patch or max(2, size // 8)
    stride = stride or max(1, patch // 2)
    heat, base = occlusion_map(model, x, name, k, patch=patch, stride=stride, progress=progress)
    scale = scale or max(1.0, 160 / size)
    tiles = _tiles(x[name][0], heat, frames, scale)
    clip = x[name][0]
    if clip.ndim == 4:
        labels = [f"input frame {i}" for i in choose_frames(len(clip), frames)]
    else:
        labels = ["flow magnitude"]
    labels.append(f"map (+-{float(np.abs(heat).max()):.3f})")
    lines = [
        f"{clip_id}  emotion {record.get('emotion') or '-'}",
        f"explains class {model.classes[k]!r} (p {base:.3f}); predicted {model.classes[predicted]!r}"
        f" by {model.describe}",
        f"occlusion of input {name!r}: patch {patch} px, stride {stride} px; red = removing the "
        f"motion there lowers p({model.classes[k]}), blue = raises it",
    ]
    save_montage(_compose(lines, tiles, labels), out)
    return {
        "clip_id": clip_id,
        "explained_class": model.classes[k],
        "probability": base,
        "predicted_class": model.classes[predicted],
        "input": name,
        "patch": patch,
        "stride": stride,
        "heat": heat,
        "out": str(out),
    }
