"""Loading trained models and applying them (the API of :mod:`mertrain.inference`).

:class:`TrainedModel` is one model folder; :class:`FoldEnsemble` the saved folds of a run
directory, predicting the mean of their probabilities. Both read stores the way training read
them (:func:`mertrain.data.load_arrays`: the same resampling), check a store against the
training stores' parameters before reading it, and normalise with each model's recorded
statistics. TensorFlow is imported (quietly, with the trainer's settings) when a Keras model is
first used.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from merprep.errors import MerprepError
from mertrain.data import StoreCollection, load_arrays
from mertrain.inference.record import PREPROCESSING, ModelRecord
from mertrain.inference.storeparams import check_params, store_params
from mertrain.models import load_model
from mertrain.models.registry import InputSpec, get_model, predict_proba
from mertrain.resampling import fit_clip, flow_units, store_resampling

log = logging.getLogger(__name__)

#: clips read from a store at a time (bounded memory on large stores)
CHUNK = 256
_FOLD_DIR = re.compile(r"^\d{3}$")


class ModelLoadError(MerprepError):
    """A path that holds no usable trained model."""


class _Predictor:
    """What a single model and a fold ensemble share: store checks, reading, rows."""

    models: list[TrainedModel]
    describe: str

    @property
    def run_dir(self) -> Path | None:
        """The run directory the model(s) came from (its config.json and results)."""
        return self.first.run_dir_of()

    @property
    def first(self) -> TrainedModel:
        return self.models[0]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.first.record.classes

    @property
    def task(self) -> str:
        return self.first.record.task

    @property
    def name(self) -> str:
        return self.first.record.name

    @property
    def input_spec(self) -> dict[str, dict[str, Any]]:
        keys = ("source", "array", "frames", "size", "channels")
        return {k: {f: v[f] for f in keys} for k, v in self.first.record.inputs.items()}

    @property
    def store_params(self) -> dict[str, Any]:
        return self.first.record.store_params

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per input the per-sample shape the model takes."""
        out: dict[str, tuple[int, ...]] = {}
        for name, info in self.first.record.inputs.items():
            tail = (int(info["size"]), int(info["size"]), int(info["channels"]))
            out[name] = (int(info["frames"]), *tail) if info["rank"] == "clip" else tail
        return out

    def input_specs(self) -> list[InputSpec]:
        return [
            InputSpec(
                name,
                info["source"],
                info["rank"],
                frames=info["frames"] or None,
                size=info["size"],
                channels=info["channels"],
                resample=tuple(info.get("resample", ("frames", "pixels", "channels"))),
            )
            for name, info in self.first.record.inputs.items()
        ]

    def check_store(self, store_path: Path | str) -> None:
        """Refuse a store this model should not be applied to: lacking an array it reads,
        extracted (or flow computed) with other parameters than its training stores, or
        needing a resampling the model does not accept (every message names both values)."""
        with StoreCollection([store_path]) as collection:
            self.check_collection(collection)

    def check_collection(self, collection: StoreCollection) -> None:
        """:meth:`check_store` on every store of an open collection."""
        rec = self.first.record
        specs = self.input_specs()
        collection.require({s.source for s in specs}, rec.name)
        keys = [*rec.store_params, *rec.store_params_varied]
        stages_read = {k.partition(".")[0] for k in keys if "." in k}
        for store in collection.stores:
            check_params(
                rec.store_params,
                rec.store_params_varied,
                store_params(store, stages_read),
                store_path=store.path,
                model=f"{rec.name} ({self.describe})",
            )
            store_resampling(store, specs, self.shapes(), model=rec.name)

    def predict_arrays(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, n_classes) float64 probabilities of ``arrays`` (input name -> uint8 clips
        (N, T, H, W, C) as stored, or float32 flow stacks (N, H, W, 3)); clips of another
        shape are resampled as training resampled them."""
        raise NotImplementedError

    def predict_store(
        self,
        store_path: Path | str,
        clip_ids: Sequence[str] | None = None,
        *,
        progress: bool | None = None,
    ) -> list[dict[str, Any]]:
        """One row per clip (all of the store's, or ``clip_ids`` in that order): see
        :mod:`mertrain.inference`. The store is checked first (:meth:`check_store`)."""
        specs = self.input_specs()
        with StoreCollection([store_path]) as collection:
            self.check_collection(collection)
            store = collection.stores[0]
            ids = list(store.clip_ids if clip_ids is None else clip_ids)
            unknown = [c for c in ids if c not in set(store.clip_ids)]
            if unknown:
                raise MerprepError(
                    f"no clip {unknown[0]!r} in the store ({len(unknown)} unknown)",
                    file=store.path,
                )
            records = {r["clip_id"]: r for r in store.records()}
            rows: list[dict[str, Any]] = []
            bar = tqdm(
                total=len(ids),
                unit="clip",
                desc=f"predict {Path(store_path).name}",
                disable=None if progress is None else not progress,
            )
            with bar:
                for start in range(0, len(ids), CHUNK):
                    chunk = ids[start : start + CHUNK]
                    x = load_arrays(
                        collection,
                        chunk,
                        self.shapes(),
                        {s.name: s.source for s in specs},
                        progress=False,
                    )
                    proba = self.predict_arrays(x)
                    rows += [self._row(records[c], p) for c, p in zip(chunk, proba)]
                    bar.update(len(chunk))
        return rows

    def _row(self, record: Mapping[str, Any], proba: np.ndarray) -> dict[str, Any]:
        k = int(np.argmax(proba))
        subject = record["subject_id"]
        return {
            "clip_id": record["clip_id"],
            "dataset": record["dataset"],
            "subject": subject,
            "emotion": record.get("emotion", ""),
            "probabilities": [float(v) for v in proba],
            "class": self.classes[k],
            "y_pred": k,
            "predicted_by": self.describe,
            "seen_in_training": sum(subject in m.record.train_subjects for m in self.models),
        }


class TrainedModel(_Predictor):
    """One saved model folder (a run's fold, or ``mertrain fit``'s final model)."""

    def __init__(self, folder: Path | str):
        self.record = ModelRecord.load(folder)
        self.folder = Path(folder)
        try:
            self.spec = get_model(self.record.name)
        except ValueError as exc:
            raise ModelLoadError(f"{exc}", file=self.folder / PREPROCESSING) from None
        self.models = [self]
        self._model: Any = None
        what = "final model" if self.record.training["protocol"] == "all" else "fold"
        fold = "" if what == "final model" else f" {self.record.fold}"
        self.describe = f"{self.record.name} {what}{fold} ({self.folder})"

    def run_dir_of(self) -> Path | None:
        """The run directory this model was saved in (its config.json and results)."""
        if (self.folder / "config.json").is_file():
            return self.folder
        parent = self.folder.parent
        if parent.name == "weights" and (parent.parent / "config.json").is_file():
            return parent.parent
        return None

    def model(self) -> Any:
        """The Keras model (or scikit-learn estimator), loaded on first use."""
        if self._model is None:
            path = self.record.model_file
            if not path.is_file():
                raise ModelLoadError(f"missing ({PREPROCESSING} names it)", file=path)
            if self.record.kind == "sklearn":
                self._model = pickle.loads(path.read_bytes())
            else:
                from mertrain.backend import BACKEND  # quiet TensorFlow, the trainer's settings

                log.debug("loading %s (Keras backend %s)", path, BACKEND)
                self._model = load_model(path)
        return self._model

    def normalised(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The model's inputs: each array fitted to the input's shape, then normalised."""
        shapes = self.shapes()
        units = flow_units({"normalize": self.record.store_params.get("flow.normalize")})
        out = {}
        for name, info in self.record.inputs.items():
            if name not in arrays:
                raise MerprepError(f"model {self.record.name} needs input {name!r}")
            x = np.asarray(arrays[name])
            if x.dtype != np.dtype(info["dtype"]):
                raise MerprepError(
                    f"input {name!r} must be {info['dtype']} as stored "
                    f"({info['array']}), not {x.dtype}"
                )
            if x.shape[1:] != shapes[name]:
                _allowed(name, info, x.shape[1:], shapes[name], self.record.name)
                flow = units if info["source"] == "flow" else None
                x = np.stack([fit_clip(c, shapes[name], flow) for c in x])
            out[name] = self.record.normaliser(name)(x)
        return out

    def predict_arrays(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        x = self.normalised(arrays)
        n = len(next(iter(x.values())))
        if n == 0:
            return np.zeros((0, len(self.classes)))
        model = self.model()
        if self.record.kind == "sklearn":
            return np.asarray(predict_proba(model, x, self.spec), np.float64)
        from mertrain.fitting import op_determinism

        with op_determinism(bool(self.record.training.get("deterministic", True))):
            proba = predict_proba(model, x, self.spec, batch_size=self.record.batch_size)
        return np.asarray(proba, np.float64)


class FoldEnsemble(_Predictor):
    """The saved folds of a run: probabilities are the mean of the folds'."""

    def __init__(self, run_dir: Path, folds: Sequence[TrainedModel]):
        self.models = list(folds)
        first = self.models[0].record
        for m in self.models[1:]:
            if (m.record.classes, m.record.inputs) != (first.classes, first.inputs):
                raise ModelLoadError(
                    f"fold {m.record.fold} has other classes or inputs than fold {first.fold}",
                    file=m.folder,
                )
        self.describe = f"{first.name} mean of {len(self.models)} folds ({run_dir})"

    def predict_arrays(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.mean([m.predict_arrays(arrays) for m in self.models], axis=0)


def _allowed(
    name: str, info: Mapping[str, Any], have: tuple[int, ...], want: tuple[int, ...], model: str
) -> None:
    """Refuse arrays whose shape needs a resampling the input does not accept."""
    lead = 1 if len(want) == 4 else 0
    needed = {
        "frames": bool(lead) and have[:1] != want[:1],
        "pixels": have[lead : lead + 2] != want[lead : lead + 2],
        "channels": have[-1:] != want[-1:],
    }
    for kind, needs in needed.items():
        if needs and kind not in info.get("resample", (kind,)):
            raise MerprepError(
                f"model {model!r} input {name!r} takes {want} and does not resample its "
                f"{kind}; got clips of shape {have}"
            )


def load_trained(path: Path | str, fold: int | str | None = None) -> TrainedModel | FoldEnsemble:
    """A model folder (``preprocessing.json`` beside the model) or a run directory saved with
    ``--save-weights``: every saved fold as a :class:`FoldEnsemble`, or one with ``fold`` (its
    index or name)."""
    path = Path(path)
    if (path / PREPROCESSING).is_file():
        if fold is not None:
            raise ModelLoadError(
                "is one model folder; --fold applies to run directories", file=path
            )
        return TrainedModel(path)
    if not path.is_dir():
        raise ModelLoadError("no such model folder or run directory", file=path)
    weights = path / "weights"
    folders = sorted(
        p for p in weights.glob("*") if _FOLD_DIR.match(p.name) and (p / PREPROCESSING).is_file()
    )
    if not folders:
        legacy = sorted(weights.glob("*.keras")) + sorted(weights.glob("*.pkl"))
        why = (
            f"its saved models ({legacy[0].name}, ...) predate preprocessing records; "
            "train it again with --save-weights"
            if legacy
            else "no saved models (weights/NNN/ with preprocessing.json): train it with "
            "--save-weights, or give a model folder"
        )
        raise ModelLoadError(why, file=path)
    models = [TrainedModel(p) for p in folders]
    if fold is None:
        return FoldEnsemble(path, models)
    for m in models:
        if str(fold) in (str(m.record.training["fold_index"]), m.record.fold, m.folder.name):
            return m
    names = ", ".join(f"{m.record.training['fold_index']} ({m.record.fold})" for m in models)
    raise ModelLoadError(f"no saved fold {fold!r}; saved folds: {names}", file=path)


def limit_threads(workers: int) -> None:
    """At most ``workers`` CPU threads for TensorFlow's ops (0: leave its default). Call before
    the first model is used."""
    if workers <= 0:
        return
    from mertrain.backend import BACKEND

    if BACKEND != "tensorflow":
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(workers)
        tf.config.threading.set_inter_op_parallelism_threads(workers)
    except RuntimeError:  # TensorFlow already started its thread pools
        log.warning("TensorFlow is already running; --workers %d not applied", workers)
