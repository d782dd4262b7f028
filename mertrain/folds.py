"""The units of a run: what its folds share, one fold's job, and one fold's outcome.

:class:`FoldOutcome` is the typed fold record: written as ``RUN_DIR/folds/NNN.json`` by
:meth:`FoldOutcome.to_record` and read back by :meth:`FoldOutcome.from_record` (checked against
the run directory's JSON Schema), so every reader of a run directory works on the same type.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mertrain.config import DataSection, ExecutionSection, RecipeSection, RuntimeSection
from mertrain.models.registry import ModelConfig
from mertrain.recipe import Recipe


def fold_seed(run_seed: int, fold_name: str) -> int:
    """A per-fold seed that depends only on the run seed and the fold's name."""
    digest = hashlib.sha256(f"{run_seed}:{fold_name}".encode()).hexdigest()
    return int(digest[:8], 16)


def fold_file_stem(index: int) -> str:
    """``007``: the name of fold 7's files (record, weights, TensorBoard logs)."""
    return f"{index:03d}"


@dataclass(frozen=True)
class FoldContext:
    """What every fold of a run shares (picklable: Ray workers receive it): the model and its
    resolved recipe, the class names, and the run's sections as they are (nothing copied)."""

    model: str
    model_config: ModelConfig
    recipe: Recipe
    classes: tuple[str, ...]
    data: DataSection
    training: RecipeSection
    runtime: RuntimeSection
    execution: ExecutionSection
    #: what each fold's saved model records beside its weights (mertrain.inference.record)
    model_record: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class FoldJob:
    """One fold: row indices into the run's :class:`~mertrain.data.ClipArrays`."""

    index: int
    name: str
    seed: int
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray  # inner-validation rows (empty unless select is inner-val)
    val_subjects: tuple[str, ...] = ()


@dataclass
class FoldOutcome:
    """A finished (or failed) fold: the test clips' probabilities and what produced them."""

    index: int
    name: str
    seed: int
    clip_ids: list[str]
    datasets: list[str]
    subjects: list[str]
    y_true: list[int]
    proba: np.ndarray
    history: dict[str, list[float]]
    seconds: float
    best_epoch: int | None = None
    val_subjects: list[str] = field(default_factory=list)
    train_subjects: list[str] = field(default_factory=list)
    #: what the fold's recipe took from its training clips (class weights, logit prior) and how
    #: it ran (effective precision, augmentation, plateau monitor)
    recipe: dict[str, Any] = field(default_factory=dict)
    #: why the fold did not finish (e.g. "loss became NaN at epoch 3"); then ``proba`` is empty
    failure: str | None = None
    #: every epoch's test probabilities (epochs x clips x classes), kept only when the run asks
    #: for an optimistic protocol (select oracle / oracle-per-subject): the as-published scores
    #: that pick test epochs are computed from them (mertrain.published)
    epoch_proba: np.ndarray | None = None

    @property
    def y_pred(self) -> list[int]:
        return [int(i) for i in np.asarray(self.proba).argmax(axis=1)]

    @property
    def stem(self) -> str:
        return fold_file_stem(self.index)

    def to_record(self) -> dict[str, Any]:
        """JSON form (floats written in full, so a resumed run reproduces results exactly)."""
        return {
            "index": self.index,
            "name": self.name,
            "seed": self.seed,
            "clip_ids": list(self.clip_ids),
            "datasets": list(self.datasets),
            "subjects": list(self.subjects),
            "y_true": [int(v) for v in self.y_true],
            "proba": [[float(p) for p in row] for row in np.asarray(self.proba, np.float64)],
            "history": {k: [float(v) for v in vals] for k, vals in self.history.items()},
            "seconds": float(self.seconds),
            "best_epoch": self.best_epoch,
            "val_subjects": list(self.val_subjects),
            "train_subjects": list(self.train_subjects),
            "recipe": json.loads(json.dumps(self.recipe, default=str)),
            **({"failure": self.failure} if self.failure else {}),
            **(
                {"epoch_proba": np.asarray(self.epoch_proba, np.float64).tolist()}
                if self.epoch_proba is not None
                else {}
            ),
        }

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> FoldOutcome:
        proba = np.asarray(d["proba"], np.float64)
        if proba.size == 0:
            proba = proba.reshape(0, 0)
        return cls(
            index=int(d["index"]),
            name=str(d["name"]),
            seed=int(d["seed"]),
            clip_ids=list(d["clip_ids"]),
            datasets=list(d["datasets"]),
            subjects=list(d["subjects"]),
            y_true=[int(v) for v in d["y_true"]],
            proba=proba,
            history={k: [float(v) for v in vals] for k, vals in d["history"].items()},
            seconds=float(d["seconds"]),
            best_epoch=d.get("best_epoch"),
            val_subjects=list(d.get("val_subjects") or []),
            train_subjects=list(d.get("train_subjects") or []),
            recipe=dict(d.get("recipe") or {}),
            failure=d.get("failure"),
            epoch_proba=(
                None if d.get("epoch_proba") is None else np.asarray(d["epoch_proba"], np.float64)
            ),
        )

    def same_predictions(self, other: FoldOutcome) -> bool:
        """Same clips and bit-identical probabilities (shards merged from one run)."""
        return list(self.clip_ids) == list(other.clip_ids) and np.array_equal(
            np.asarray(self.proba), np.asarray(other.proba)
        )
