"""UF1, UAR and accuracy as MEGC2019 defines them, on predictions pooled over all folds.

Per class c: F1_c = 2TP / (2TP + FP + FN) and recall_c = TP / N_c. UF1 averages F1 over the
classes that occur in the truth or the predictions (a class never seen and never predicted has
no F1); UAR averages recall over the classes that occur in the truth. For the pooled scores
these are all task classes; for one subject, the classes that subject shows. These equal
scikit-learn's ``f1_score(average="macro")`` and ``balanced_accuracy_score`` (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: labels as a list or an integer array
Labels = Sequence[int] | np.ndarray[Any, np.dtype[np.integer[Any]]]


def confusion_matrix(
    y_true: Labels, y_pred: Labels, n_classes: int
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Counts with true classes on rows and predicted classes on columns."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    return cm


def scores(y_true: Labels, y_pred: Labels, n_classes: int) -> dict[str, Any]:
    """{"uf1", "uar", "acc", "n"}; values are None when there are no samples."""
    truth = np.asarray(y_true, dtype=int)
    pred = np.asarray(y_pred, dtype=int)
    n = len(truth)
    if n == 0:
        return {"uf1": None, "uar": None, "acc": None, "n": 0}
    cm = confusion_matrix(truth, pred, n_classes)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    seen = (support + predicted) > 0
    f1 = 2 * tp[seen] / (support[seen] + predicted[seen])
    has_truth = support > 0
    recall = tp[has_truth] / support[has_truth]
    return {
        "uf1": float(f1.mean()),
        "uar": float(recall.mean()),
        "acc": float(tp.sum() / n),
        "n": n,
    }


def sliced_scores(
    y_true: Labels, y_pred: Labels, groups: Sequence[str], n_classes: int
) -> dict[str, dict[str, Any]]:
    """:func:`scores` on each slice of the SAME pooled predictions (per dataset, per subject),
    keyed by group in sorted order."""
    truth = np.asarray(y_true, dtype=int)
    pred = np.asarray(y_pred, dtype=int)
    by = np.asarray(groups, dtype=object)
    return {
        str(g): scores(truth[by == g], pred[by == g], n_classes)
        for g in sorted({str(x) for x in by.tolist()})
    }
