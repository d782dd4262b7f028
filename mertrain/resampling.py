"""Fitting stored arrays to a model's input shape, and saying what that changes.

A 10x64 store fed to a 30x128 model is resampled: frames in time (the nearest of evenly spaced
positions), pixels in space (area interpolation), channels (RGB <-> gray). That is never
silent: :func:`store_resampling` describes it per store and input (logged once at run start,
written into the run's config.json under each store's ``resampled``), and a model input that
does not accept a kind of resampling (:attr:`mertrain.models.registry.InputSpec.resample`)
refuses the store, naming the store's value and the model's.

Flow stacks (u, v, strain) are resized the way ``merprep flow`` resizes them
(:func:`merprep.flow.flow_features`): area interpolation when shrinking, linear when enlarging,
and u, v multiplied by the size ratio so they stay displacements in the new pixels (unless the
store's flow is normalised per clip, which is scale-free); strain is scale-free and kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from merprep.errors import MerprepError
from merprep.stages import SOURCES
from merprep.store import ClipStore
from mertrain.models.registry import InputSpec

#: flow units: displacements in pixels (``merprep flow --normalize none``) or per-clip
#: normalised (``--normalize clip``, scale-free)
FLOW_PIXELS, FLOW_NORMALISED = "pixels", "normalised"


class ResampleError(MerprepError):
    """A store whose arrays would need a resampling the model input does not accept."""


def flow_units(stage_params: Mapping[str, Any] | None) -> str:
    """The units of a store's flow stack, from its flow stage's parameters."""
    return FLOW_NORMALISED if (stage_params or {}).get("normalize") == "clip" else FLOW_PIXELS


def fit_clip(clip: np.ndarray, shape: Sequence[int], flow: str | None = None) -> np.ndarray:
    """Resample a (T, H, W, C) clip or (H, W, C) image to ``shape``: the nearest of evenly
    spaced frame positions in time, area resizing in space, gray<->RGB conversion for channels;
    a flow stack (``flow`` = its units) as :func:`fit_flow` does."""
    target = tuple(shape)
    if flow is not None and len(target) == 3:
        return fit_flow(clip, target, flow)
    if len(target) == 4:
        t = target[0]
        if clip.shape[0] != t:
            idx = np.round(np.linspace(0, clip.shape[0] - 1, t)).astype(int)
            clip = clip[idx]
        frames = [fit_image(f, target[1:]) for f in clip]
        return np.stack(frames)
    return fit_image(clip, target)


def fit_image(img: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    import cv2

    h, w, c = shape
    if img.shape[:2] != (h, w):
        out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        img = out if out.ndim == 3 else out[:, :, None]
    if img.shape[2] != c:
        if c == 1 and img.shape[2] == 3:
            img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)[:, :, None]
        elif c == 3 and img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        else:
            raise ValueError(f"cannot convert {img.shape[2]} channels to {c}")
    return img


def fit_flow(stack: np.ndarray, shape: Sequence[int], units: str = FLOW_PIXELS) -> np.ndarray:
    """A (H, W, 3) float (u, v, strain) stack at ``shape``: area interpolation when shrinking,
    linear when enlarging; u x new W / W and v x new H / H when ``units`` is pixels."""
    import cv2

    h, w = stack.shape[:2]
    th, tw = int(shape[0]), int(shape[1])
    if (h, w) == (th, tw):
        return np.asarray(stack, np.float32)
    interp = cv2.INTER_AREA if th <= h and tw <= w else cv2.INTER_LINEAR
    out = np.asarray(cv2.resize(np.asarray(stack, np.float32), (tw, th), interpolation=interp))
    if units == FLOW_PIXELS:
        out[:, :, 0] *= tw / w
        out[:, :, 1] *= th / h
    return out


def _how(kind: str, source: str, units: str | None, model: Any) -> str:
    if kind == "frames":
        return "nearest of evenly spaced positions"
    if kind == "channels":
        return "RGB to gray" if model == 1 else "gray repeated in every channel"
    if source == "flow":
        scaled = (
            "u, v x size ratio"
            if units == FLOW_PIXELS
            else "u, v not scaled (flow normalised per clip)"
        )
        return f"area shrinking, linear enlarging; {scaled}"
    return "area interpolation"


def store_resampling(
    store: ClipStore,
    inputs: Sequence[InputSpec],
    shapes: Mapping[str, Sequence[int]],
    *,
    model: str,
    clip_ids: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """``input -> {kind: {"store", "model", "how"}}`` for what fitting ``store``'s arrays to
    the model's ``shapes`` resamples (an input needing none is left out); a kind the input
    does not accept raises :class:`ResampleError` naming both values."""
    ids = list(store.clip_ids if clip_ids is None else clip_ids)
    out: dict[str, dict[str, Any]] = {}
    for inp in inputs:
        source = SOURCES[inp.source]
        if not ids or not store.has_array(source.array):
            continue
        seen = {store.array_shape(cid, source.array) for cid in ids}
        target = tuple(shapes[inp.name])
        params = (store.stages.get(source.stage) or {}).get("params")
        units = flow_units(params) if inp.source == "flow" else None
        lead = 1 if len(target) == 4 else 0
        kinds: dict[str, tuple[Any, Any]] = {}
        if lead:
            frames = sorted({s[0] for s in seen})
            if frames != [target[0]]:
                kinds["frames"] = (frames if len(frames) > 1 else frames[0], target[0])
        pixels = sorted({tuple(s[lead : lead + 2]) for s in seen})
        if pixels != [target[lead : lead + 2]]:
            shown = ["x".join(map(str, p)) for p in pixels]
            kinds["pixels"] = (
                shown if len(shown) > 1 else shown[0],
                "x".join(map(str, target[lead : lead + 2])),
            )
        channels = sorted({s[-1] for s in seen})
        if channels != [target[-1]] and inp.source != "flow":
            kinds["channels"] = (channels if len(channels) > 1 else channels[0], target[-1])
        for kind, (have, want) in kinds.items():
            if kind not in inp.resample:
                raise ResampleError(
                    f"model {model!r} input {inp.name!r} takes {kind} {want} and does not "
                    f"resample its {kind}; this store's {source.array} has {kind} {have}: "
                    f"extract (or {source.command}) to match",
                    file=store.path,
                )
        if kinds:
            out[inp.name] = {
                kind: {
                    "store": have,
                    "model": want,
                    "how": _how(kind, inp.source, units, want),
                }
                for kind, (have, want) in kinds.items()
            }
    return out


def describe(store_path: str, plan: Mapping[str, Mapping[str, Any]]) -> str:
    """One line: ``casme2.h5 face: frames 8 -> 9, pixels 64x64 -> 32x32, channels 3 -> 1``."""
    if not plan:
        return f"{store_path}: used as stored (no resampling)"
    parts = []
    for name, kinds in plan.items():
        what = ", ".join(
            f"{kind} {_text(v['store'])} -> {v['model']} ({v['how']})" for kind, v in kinds.items()
        )
        parts.append(f"{name}: {what}")
    return f"{store_path} resampled: " + "; ".join(parts)


def _text(value: Any) -> str:
    return "/".join(map(str, value)) if isinstance(value, list) else str(value)
