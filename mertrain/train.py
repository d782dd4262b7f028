"""The first release's import path for training (kept for a release; import from the modules
named below instead).

- configuration: :mod:`mertrain.config` (``RunConfig``), :mod:`mertrain.recipe`
- a run: :mod:`mertrain.prepare` (checks, clips), :mod:`mertrain.runner` (``run``)
- folds: :mod:`mertrain.folds` (context, job, outcome), :mod:`mertrain.fold_inputs`,
  :mod:`mertrain.trainer` (``FoldTrainer``), :mod:`mertrain.fitting` (Keras pieces),
  :mod:`mertrain.weights`
"""

from __future__ import annotations

from mertrain.config import PRECISIONS, SELECT_MODES, RunConfig, RunError, resolve_augment
from mertrain.fitting import (
    EpochSelector,
    NonFiniteLoss,
    dtype_policy,
    make_callbacks,
    make_optimizer,
    op_determinism,
    plateau_monitor,
    reset_optimizer,
    resolve_precision,
    schedule_callbacks,
)
from mertrain.fold_inputs import AugmentedTraining, FoldInputs, augmentable_inputs, fold_inputs
from mertrain.folds import FoldContext, FoldJob, FoldOutcome, fold_file_stem, fold_seed
from mertrain.prepare import Prepared, prepare, splits_for
from mertrain.runner import RunResult, run
from mertrain.trainer import FoldTrainer, train_fold
from mertrain.weights import WeightsError, save_keras_model, write_weights

__all__ = [
    "PRECISIONS",
    "SELECT_MODES",
    "AugmentedTraining",
    "EpochSelector",
    "FoldContext",
    "FoldInputs",
    "FoldJob",
    "FoldOutcome",
    "FoldTrainer",
    "NonFiniteLoss",
    "Prepared",
    "RunConfig",
    "RunError",
    "RunResult",
    "WeightsError",
    "augmentable_inputs",
    "dtype_policy",
    "fold_file_stem",
    "fold_inputs",
    "fold_seed",
    "make_callbacks",
    "make_optimizer",
    "op_determinism",
    "plateau_monitor",
    "prepare",
    "reset_optimizer",
    "resolve_augment",
    "resolve_precision",
    "run",
    "save_keras_model",
    "schedule_callbacks",
    "splits_for",
    "train_fold",
    "write_weights",
]
