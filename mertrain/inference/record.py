"""``preprocessing.json``: what a saved model needs, beside its weights, to map a stored clip to
class probabilities, and where it came from.

Written by the trainer into every model folder (``RUN_DIR/weights/NNN/``, or the folder of
``mertrain fit``) after the model file, so a folder with this record is complete. Its JSON
Schema is ``$defs/model`` of ``schemas/rundir-v1.json``. Content:

- ``model``: registered name, kind (keras / sklearn), file, the resolved architecture;
- ``task`` and ``classes`` (index order);
- ``inputs``: per model input its store ``source`` and ``array``, ``rank``, ``frames``,
  ``size``, ``channels``, ``dtype`` and the resampling it accepts;
- ``normalisation``: per input the :class:`~mertrain.data.Normaliser` fitted on the fold's
  training clips (mode, gain, and for ``raw`` the training mean);
- ``store_params``: the training stores' extraction (and later-stage) parameters
  (:mod:`mertrain.inference.storeparams`), ``store_params_varied`` where they differed;
- ``training``: the run identity (config.json ``identity_sha256``), the training stores'
  fingerprints, protocol, fold name and index, fold and run seeds, epoch selection and whether
  it was honest, the epoch whose weights these are, the training subjects, the batch size the
  run predicted with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from merprep.errors import MerprepError
from merprep.jsonutil import jsonable
from merprep.stages import SOURCES
from mertrain.config import OPTIMISTIC_SELECTS, SELECT_LABELS
from mertrain.data import Normaliser
from mertrain.models.registry import ModelConfig, ModelSpec
from mertrain.rundir_schema import load_schema

FORMAT = "mertrain-model"
FORMAT_VERSION = 1
PREPROCESSING = "preprocessing.json"
#: the model file of each kind, inside a model folder
MODEL_FILES = {"keras": "model.keras", "sklearn": "model.pkl"}


class RecordError(MerprepError):
    """A model folder whose preprocessing record is missing or not valid."""


def input_records(spec: ModelSpec, config: ModelConfig) -> dict[str, dict[str, Any]]:
    """Per model input: what it reads from a store and the shape the model takes."""
    shapes = spec.input_shapes(config)
    out = {}
    for inp in spec.required_inputs(config):
        shape = shapes[inp.name]
        source = SOURCES[inp.source]
        out[inp.name] = {
            "source": inp.source,
            "array": source.array,
            "rank": inp.rank,
            "frames": shape[0] if inp.rank == "clip" else None,
            "size": shape[-2],
            "channels": shape[-1],
            "dtype": source.dtype,
            "resample": list(inp.resample),
        }
    return out


def base_record(
    *,
    model: str,
    kind: str,
    architecture: Mapping[str, Any],
    task: str,
    classes: Sequence[str],
    inputs: Mapping[str, Mapping[str, Any]],
    store_params: Mapping[str, Any],
    store_params_varied: Mapping[str, Any],
    stores: Sequence[Mapping[str, Any]],
    run_identity_sha256: str,
    protocol: str,
    select: str,
    run_seed: int,
    batch_size: int | None,
    precision: str,
    deterministic: bool = True,
) -> dict[str, Any]:
    """Everything the folds of one run share (the trainer adds each fold's part)."""
    return jsonable(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": {
                "name": model,
                "kind": kind,
                "file": MODEL_FILES[kind],
                "architecture": dict(architecture),
            },
            "task": task,
            "classes": list(classes),
            "inputs": {k: dict(v) for k, v in inputs.items()},
            "store_params": dict(store_params),
            "store_params_varied": dict(store_params_varied),
            "training": {
                "run_identity_sha256": run_identity_sha256,
                "stores": [
                    {k: s[k] for k in ("path", "fingerprint", "n_clips", "stages_read") if k in s}
                    for s in stores
                ],
                "protocol": protocol,
                "select": SELECT_LABELS[select],
                "honest_selection": select not in OPTIMISTIC_SELECTS,
                "run_seed": run_seed,
                "batch_size": batch_size,
                "precision": precision,
                "deterministic": deterministic,
            },
        }
    )


def fold_record(
    base: Mapping[str, Any],
    *,
    fold: str,
    index: int,
    seed: int,
    norms: Mapping[str, Normaliser],
    weights_epoch: int | None,
    train_subjects: Sequence[str],
    val_subjects: Sequence[str] = (),
) -> dict[str, Any]:
    """The complete record of one fold's model (``base`` from :func:`base_record`)."""
    record = json.loads(json.dumps(base))
    record["normalisation"] = {k: norms[k].to_dict() for k in sorted(norms)}
    record["training"].update(
        fold=fold,
        fold_index=index,
        seed=seed,
        weights_epoch=weights_epoch,
        train_subjects=sorted(train_subjects),
        val_subjects=sorted(val_subjects),
    )
    problems = record_errors(record)
    if problems:  # a bug here, not a user error: the trainer built it
        raise RecordError(f"preprocessing record does not fit its schema: {problems[:3]}")
    return record


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    return jsonschema.Draft202012Validator(
        {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/model"}
    )


def record_errors(data: Any) -> list[str]:
    """Schema violations of a preprocessing record (empty when valid)."""
    out = []
    for err in _validator().iter_errors(data):
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{where or '(root)'}: {err.message}")
    return out


@dataclass(frozen=True)
class ModelRecord:
    """A model folder's ``preprocessing.json``, checked against its schema."""

    data: Mapping[str, Any]
    folder: Path

    @classmethod
    def load(cls, folder: Path | str) -> ModelRecord:
        folder = Path(folder)
        path = folder / PREPROCESSING
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RecordError(
                "not a model folder (no preprocessing.json beside the model)", file=folder
            ) from None
        except (OSError, ValueError) as exc:
            raise RecordError(f"unreadable ({exc.__class__.__name__}: {exc})", file=path) from None
        problems = record_errors(data)
        if problems:
            raise RecordError(f"not a valid model record: {'; '.join(problems[:3])}", file=path)
        return cls(data, folder)

    @property
    def name(self) -> str:
        return str(self.data["model"]["name"])

    @property
    def kind(self) -> str:
        return str(self.data["model"]["kind"])

    @property
    def model_file(self) -> Path:
        return self.folder / str(self.data["model"]["file"])

    @property
    def architecture(self) -> dict[str, Any]:
        return dict(self.data["model"]["architecture"])

    @property
    def task(self) -> str:
        return str(self.data["task"])

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.data["classes"])

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.data["inputs"].items()}

    @property
    def store_params(self) -> dict[str, Any]:
        return dict(self.data["store_params"])

    @property
    def store_params_varied(self) -> dict[str, Any]:
        return dict(self.data.get("store_params_varied") or {})

    @property
    def training(self) -> dict[str, Any]:
        return dict(self.data["training"])

    @property
    def fold(self) -> str:
        return str(self.data["training"]["fold"])

    @property
    def train_subjects(self) -> frozenset[str]:
        return frozenset(self.data["training"].get("train_subjects") or ())

    @property
    def batch_size(self) -> int:
        return int(self.data["training"].get("batch_size") or 16)

    def normaliser(self, name: str) -> Normaliser:
        return Normaliser.from_dict(self.data["normalisation"][name])
