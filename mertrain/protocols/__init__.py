"""Protocols: tasks (emotion -> class maps) and splits (loso, megc2019, holdout, kfold).

``build_splits(records, protocol, task, **options)`` is the one entry point: a pure function of
the stores' clip records, so every model gets byte-identical splits (see docs/protocols.md).
"""

from mertrain.protocols.splits import (
    PROTOCOLS,
    build_splits,
    check_against,
    check_classes,
    check_folds,
    inner_validation_subjects,
    labelled_samples,
    make_splits,
    parse_fold_selection,
)
from mertrain.protocols.tasks import TASKS, Task, get_task
from mertrain.protocols.types import Fold, ProtocolError, Sample, Splits

__all__ = [
    "PROTOCOLS",
    "TASKS",
    "Fold",
    "ProtocolError",
    "Sample",
    "Splits",
    "Task",
    "build_splits",
    "check_against",
    "check_classes",
    "check_folds",
    "get_task",
    "inner_validation_subjects",
    "labelled_samples",
    "make_splits",
    "parse_fold_selection",
]
