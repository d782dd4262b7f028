"""Protocols: tasks (emotion -> class maps) and splits (loso, ...)."""

from mertrain.protocols.splits import Fold, Sample, Splits, labelled_samples, make_splits
from mertrain.protocols.tasks import TASKS, Task, get_task

__all__ = ["Fold", "Sample", "Splits", "labelled_samples", "make_splits", "TASKS", "Task",
           "get_task"]
