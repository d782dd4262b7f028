"""From clip stores to model inputs: the only place mertrain reads stores (via ClipStore).

Clips are read once into uint8 arrays at the size the model asks for (temporal resampling and
spatial resizing when the store differs), then normalised per fold. Statistics used for
normalisation come from the fold's training clips only.

Input modes (``--input``):

- ``onset-diff`` (default): each frame minus the clip's first (onset) frame, times ``gain``
  (default 10), in [−gain, gain]. Micro-expressions move a few pixels; subtracting the onset
  removes identity and lighting, which otherwise dominate and the model learns faces instead of
  motion (measured in the model-zoo issue: UF1 0.92 vs 0.44 on the same sample).
- ``raw``: frames scaled to [0, 1] minus the training clips' per-channel mean (the published
  recipe).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from merprep.errors import StoreError
from merprep.stages import SOURCES, missing_source_advice
from merprep.store import ClipStore
from mertrain.config import INPUT_MODES
from mertrain.resampling import fit_clip, fit_image, flow_units

__all__ = [
    "SOURCE_ARRAYS",
    "ClipArrays",
    "Normaliser",
    "StoreCollection",
    "fit_clip",
    "fit_image",
    "load_arrays",
]

log = logging.getLogger(__name__)

#: store array read for each InputSpec source (merprep's stage table)
SOURCE_ARRAYS = {name: src.array for name, src in SOURCES.items()}


class StoreCollection:
    """One or more clip stores read together (e.g. SMIC + CASME II + SAMM for MEGC2019).

    Opening checks what can be checked without reading arrays: every store opens as a merprep
    store of a supported schema, none is empty, no clip is in two stores. Stores of different
    colour modes (a gray SAMM store beside RGB CASME II ones) are read together: every clip is
    converted to the channels the model reads, and the run says so per store
    (:mod:`mertrain.resampling`).
    """

    def __init__(self, paths: Sequence[Path | str]):
        if not paths:
            raise StoreError("no clip store given")
        self.stores: list[ClipStore] = []
        self._where: dict[str, ClipStore] = {}
        try:
            for p in paths:
                self.stores.append(ClipStore(p))
            for store in self.stores:
                if len(store) == 0:
                    raise StoreError("the store holds no clips", file=store.path)
                for cid in store.clip_ids:
                    if cid in self._where:
                        raise StoreError(
                            f"clip {cid!r} is in two stores "
                            f"({self._where[cid].path} and {store.path})"
                        )
                    self._where[cid] = store
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for s in self.stores:
            s.close()

    def __enter__(self) -> StoreCollection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def channels(self) -> list[int]:
        """Each store's channels (1 gray, 3 RGB), in store order."""
        return [int(s.attrs.get("channels", 3)) for s in self.stores]

    def records(self) -> list[dict[str, Any]]:
        return [r for s in self.stores for r in s.records()]

    def read(self, clip_id: str, array: str) -> np.ndarray:
        return self._where[clip_id].array(clip_id, array)

    def store_of(self, clip_id: str) -> ClipStore:
        return self._where[clip_id]

    def flow_units(self, clip_id: str) -> str:
        """The units of the clip's flow stack (``mertrain.resampling.flow_units``)."""
        return flow_units((self._where[clip_id].stages.get("flow") or {}).get("params"))

    def describe(self, sources: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Each store's path, schema version and content fingerprint (cited in results.json),
        and, for the later stages whose arrays ``sources`` read, their fingerprints and
        parameters: a run's identity covers every array its model reads."""
        stages = sorted({SOURCES[s].stage for s in sources} - {"extract"})
        out = []
        for s in self.stores:
            entry: dict[str, Any] = {
                "path": str(s.path.resolve()),
                "schema_version": s.schema_version,
                "fingerprint": s.fingerprint,
                "n_clips": len(s),
            }
            read = {
                name: {
                    "fingerprint": s.stages[name].get("fingerprint"),
                    "params": s.stages[name].get("params"),
                }
                for name in stages
                if name in s.stages
            }
            if read:
                entry["stages_read"] = read
            out.append(entry)
        return out

    def require(self, sources: Iterable[str], model: str) -> None:
        """Refuse early when a store lacks what the model reads, naming what to run."""
        for name in sources:
            source = SOURCES[name]
            for s in self.stores:
                if not s.has_array(source.array):
                    advice = missing_source_advice(source, s.stages, str(s.path))
                    raise StoreError(
                        f"model {model!r} reads {name!r} clips ({source.array}), "
                        f"which this store does not have; {advice}",
                        file=s.path,
                    )


def load_arrays(
    collection: StoreCollection,
    clip_ids: Sequence[str],
    shapes: Mapping[str, Sequence[int]],
    sources: Mapping[str, str],
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """Read every clip once for each model input: name -> array (N, *shape) (uint8 for clips;
    flow stacks resized with u, v scaled, see :mod:`mertrain.resampling`)."""
    out: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        array = SOURCE_ARRAYS[sources[name]]
        is_flow = sources[name] == "flow"
        items = []
        for cid in tqdm(
            clip_ids,
            desc=f"read {name}",
            unit="clip",
            leave=False,
            disable=None if progress is None else not progress,
        ):
            flow = collection.flow_units(cid) if is_flow else None
            items.append(fit_clip(collection.read(cid, array), shape, flow))
        out[name] = np.stack(items)
    return out


@dataclass
class ClipArrays:
    """Every clip a run uses, read once: model inputs (N, ...) and labels in ``clip_ids``
    order, plus each clip's dataset and subject. Folds select rows; nothing here is fitted."""

    clip_ids: list[str]
    inputs: dict[str, np.ndarray]
    labels: np.ndarray
    datasets: list[str]
    subjects: list[str]
    _row: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        self._row = {cid: i for i, cid in enumerate(self.clip_ids)}
        n = len(self.clip_ids)
        if any(len(v) != n for v in self.inputs.values()) or len(self.labels) != n:
            raise ValueError("ClipArrays: inputs and labels must have one row per clip id")

    def rows(self, clip_ids: Iterable[str]) -> np.ndarray:
        return np.array([self._row[c] for c in clip_ids], dtype=np.int64)

    def take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[rows] for k, v in self.inputs.items()}


@dataclass
class Normaliser:
    """Input normalisation fitted on a fold's training clips only."""

    mode: str = "onset-diff"
    gain: float = 10.0
    mean: np.ndarray | None = None

    def __post_init__(self):
        if self.mode not in INPUT_MODES:
            raise ValueError(
                f"unknown input mode {self.mode!r}; choose one of {', '.join(INPUT_MODES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (a model folder's preprocessing.json): mode, gain, mean (float32 values
        written in full, so the loaded normaliser gives the same inputs bit for bit)."""
        mean = None if self.mean is None else [float(v) for v in np.ravel(self.mean)]
        return {"mode": self.mode, "gain": float(self.gain), "mean": mean}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Normaliser:
        mean = d.get("mean")
        return cls(
            str(d["mode"]),
            float(d["gain"]),
            None if mean is None else np.asarray(mean, np.float32),
        )

    def fit(self, x_train: np.ndarray) -> Normaliser:
        if self.mode == "raw" and x_train.dtype == np.uint8:
            axes = tuple(range(x_train.ndim - 1))
            self.mean = (x_train.astype(np.float64) / 255.0).mean(axis=axes).astype(np.float32)
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.dtype != np.uint8:  # flow stacks are already float and normalised by merprep
            return x.astype(np.float32)
        xf = x.astype(np.float32) / 255.0
        if self.mode == "onset-diff" and x.ndim == 5:
            return (xf - xf[:, :1]) * self.gain
        if self.mode == "raw" or x.ndim != 5:
            mean = self.mean if self.mean is not None else 0.0
            return xf - mean
        raise AssertionError(self.mode)
