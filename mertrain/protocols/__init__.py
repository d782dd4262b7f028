"""Protocols: tasks (emotion -> class maps) and splits (loso, megc2019, holdout, kfold).

``build_splits(records, protocol, task, **options)`` is the one entry point: a pure function of
the stores' clip records, so every model gets byte-identical splits (see docs/protocols.md).
"""

from mertrain.protocols.splits import (PROTOCOLS, Fold, ProtocolError, Sample, Splits,
                                       build_splits, check_against, check_classes, check_folds,
                                       inner_validation_subjects, labelled_samples, make_splits,
                                       parse_fold_selection)
from mertrain.protocols.tasks import TASKS, Task, get_task

__all__ = ["PROTOCOLS", "Fold", "ProtocolError", "Sample", "Splits", "build_splits",
           "check_against", "check_classes", "check_folds", "inner_validation_subjects",
           "labelled_samples", "make_splits", "parse_fold_selection", "TASKS", "Task", "get_task"]
