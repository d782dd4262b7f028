"""What a run's predictions score under the published protocols, beside the honest numbers.

The ICIP 2024 and extended-version scores are not MEGC2019's pooled UF1/UAR. Their reference
scripts (ICIP ``ME_model.py:27-63``, EXT ``Dual-Branch 3DCNN+AU.py:32-71``, one copy per
dataset) score each held-out subject at every epoch with their own metric:

- the confusion matrix is ``tf.math.confusion_matrix(y_true, y_pred)``: sized by the largest
  label seen in the subject's truth or predictions, so absent classes count;
- recall_c = TP_c / N_c with N_c = 0 replaced by 1e-7 (recall 0); precision_c = TP_c / P_c
  with a non-finite value replaced by 1e-7; F1_c = 2 p r / (p + r + 1e-7) (so about 0 for an
  absent class); UF1 and UAR are the means over all classes of that matrix, in float32;
- UF1 = UAR = 1 whenever the subject's accuracy is 1;

then keep, per subject, the epoch with the best UF1 ON THE TEST SUBJECT (the first such epoch,
``ME_model.py:253``), its UAR at that epoch, and the best accuracy over all epochs
independently (``:257``), and average the three over subjects (``:271-277``).

:func:`published_scores` reports, for one run's fold records: the per-subject mean with that
metric on the run's own predictions (no test selection: available for every run), the
references' best-test-epoch protocol, and the best-test-accuracy-per-fold pooled protocol
(``--select oracle``); the last two need every epoch's test probabilities, which the trainer
keeps only for a run that asks for an optimistic protocol. Everything here is labelled: the
honest number of a run is its pooled UF1/UAR (:mod:`mertrain.metrics`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from mertrain.metrics import scores

#: where each protocol is defined (reference file and line, docs/references.md#audit-1-1-1)
SOURCES = {
    "per_subject_mean": "ICIP ME_model.py:27-63 (metric), 271-277 (mean over subjects)",
    "best_test_epoch_per_subject": (
        "ICIP ME_model.py:27-63, 253-260, 271-277; EXT Dual-Branch 3DCNN+AU.py:32-71"
    ),
    "best_test_acc_per_fold_pooled": "mertrain --select oracle (best TEST accuracy per fold)",
}
LABELS = {
    "per_subject_mean": "per-subject mean, reference metric",
    "best_test_epoch_per_subject": "best TEST epoch per subject, reference metric",
    "best_test_acc_per_fold_pooled": "best TEST-accuracy epoch per fold, pooled",
    "last_epoch": "last epoch",
}
NOTE = (
    "the same predictions under the published protocols (ICIP 2024 / extended version; "
    "--select oracle), not MEGC2019's pooled score: the reference metric sets UF1 = UAR = 1 "
    "for every fully-correct subject, and OPTIMISTIC rows chose epochs on the TEST subjects; "
    "compare papers with these, models with the pooled UF1/UAR"
)
NOT_KEPT = (
    "not available: needs every epoch's test predictions, kept only with --select "
    "oracle-per-subject (or oracle)"
)
_EPS = np.float32(1e-7)


class FoldLike(Protocol):
    """What a fold record offers here (:class:`mertrain.folds.FoldOutcome`)."""

    y_true: list[int]
    proba: np.ndarray
    subjects: list[str]
    epoch_proba: np.ndarray | None


def reference_subject_scores(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """One subject at one epoch, exactly as the reference callback computes it (module
    docstring): {"uf1", "uar", "acc"}."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if len(t) == 0:
        raise ValueError("a subject without clips has no score")
    k = int(max(t.max(), p.max())) + 1
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    acc = float(np.trace(cm) / cm.sum())
    if acc == 1.0:
        return {"uf1": 1.0, "uar": 1.0, "acc": 1.0}
    tp = np.diag(cm).astype(np.float32)
    actual = cm.sum(axis=1)
    recall = tp / np.where(actual == 0, _EPS, actual.astype(np.float32))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / cm.sum(axis=0).astype(np.float32)
    precision = np.where(np.isfinite(precision), precision, _EPS).astype(np.float32)
    f1 = np.float32(2) * (precision * recall) / (precision + recall + _EPS)
    return {"uf1": float(f1.mean()), "uar": float(recall.mean()), "acc": acc}


def subject_curves(epoch_pred: np.ndarray, y_true: Sequence[int]) -> dict[str, np.ndarray]:
    """The reference metric at every epoch: ``epoch_pred`` (epochs, clips) -> arrays (epochs,)."""
    rows = [reference_subject_scores(y_true, pred) for pred in np.asarray(epoch_pred)]
    return {k: np.array([r[k] for r in rows]) for k in ("uf1", "uar", "acc")}


def reference_best(curves: Mapping[str, np.ndarray]) -> dict[str, float | int]:
    """The references' choice for one subject: the first epoch of best UF1 (1-based), UF1 and
    UAR there, and the best accuracy over all epochs."""
    best = int(np.argmax(curves["uf1"]))  # first maximum, as list.index(max(list))
    return {
        "epoch": best + 1,
        "uf1": float(curves["uf1"][best]),
        "uar": float(curves["uar"][best]),
        "acc": float(np.max(curves["acc"])),
    }


def _groups(subjects: Sequence[str]) -> dict[str, np.ndarray]:
    by = np.asarray(subjects, dtype=object)
    return {s: np.flatnonzero(by == s) for s in sorted(set(subjects))}


def select_per_subject(
    epoch_proba: np.ndarray, y_true: Sequence[int], subjects: Sequence[str]
) -> tuple[np.ndarray, dict[str, int]]:
    """``--select oracle-per-subject`` for one fold: each test subject's rows taken from its
    reference-best epoch. Returns (probabilities (clips, classes), subject -> epoch, 1-based)."""
    ep = np.asarray(epoch_proba, dtype=np.float64)
    if ep.ndim != 3 or ep.shape[0] == 0:
        raise ValueError("epoch_proba must be (epochs >= 1, clips, classes)")
    pred = ep.argmax(axis=2)
    truth = np.asarray(y_true, dtype=np.int64)
    out = ep[-1].copy()
    chosen: dict[str, int] = {}
    for subject, rows in _groups(subjects).items():
        best = reference_best(subject_curves(pred[:, rows], truth[rows]))
        chosen[subject] = int(best["epoch"])
        out[rows] = ep[chosen[subject] - 1, rows]
    return out, chosen


def _mean(rows: Sequence[Mapping[str, float | int]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in ("uf1", "uar", "acc")}


def _per_subject(folds: Sequence[FoldLike], pick) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``pick(fold index, truth, rows of one subject)`` for every test subject; (mean, rows)."""
    rows = []
    for i, f in enumerate(folds):
        truth = np.asarray(f.y_true, dtype=np.int64)
        for subject, idx in _groups(f.subjects).items():
            rows.append({"subject": subject, **pick(i, truth, idx)})
    return _mean(rows), rows


def published_scores(
    folds: Sequence[FoldLike], n_classes: int, *, optimistic: bool = False
) -> dict[str, Any]:
    """The as-published block of results.json for these (finished) fold records;
    ``optimistic``: the run's own predictions were chosen on the test fold (an oracle select),
    so its per-subject mean is optimistic too."""
    folds = [f for f in folds if len(f.y_true)]
    out: dict[str, Any] = {"note": NOTE}
    if not folds:
        return out

    def evaluated(i: int, truth: np.ndarray, idx: np.ndarray) -> dict[str, float]:
        return reference_subject_scores(truth[idx], np.asarray(folds[i].proba)[idx].argmax(axis=1))

    mean, _ = _per_subject(folds, evaluated)
    out["per_subject_mean"] = {
        **mean,
        "subjects": sum(len(set(f.subjects)) for f in folds),
        "optimistic": optimistic,
        "label": LABELS["per_subject_mean"],
        "source": SOURCES["per_subject_mean"],
    }
    kept = all(f.epoch_proba is not None and len(f.epoch_proba) for f in folds)
    for key in ("best_test_epoch_per_subject", "best_test_acc_per_fold_pooled"):
        out[key] = {"available": False, "label": LABELS[key], "reason": NOT_KEPT}
    if not kept:
        return out
    preds = [np.asarray(f.epoch_proba).argmax(axis=2) for f in folds]  # (epochs, clips) each

    def best_epoch(i: int, truth: np.ndarray, idx: np.ndarray) -> dict[str, float | int]:
        return reference_best(subject_curves(preds[i][:, idx], truth[idx]))

    mean, rows = _per_subject(folds, best_epoch)
    out["best_test_epoch_per_subject"] = {
        "available": True,
        **mean,
        "subjects": len(rows),
        "best_epochs": {r["subject"]: r["epoch"] for r in rows},
        "optimistic": True,
        "label": LABELS["best_test_epoch_per_subject"],
        "source": SOURCES["best_test_epoch_per_subject"],
    }
    truth_all, oracle_pred, last_pred = [], [], []
    for f, pred in zip(folds, preds):
        truth = np.asarray(f.y_true, dtype=np.int64)
        acc = (pred == truth[None, :]).mean(axis=1)
        oracle_pred.append(pred[int(np.argmax(acc))])  # first best, as EpochSelector keeps it
        last_pred.append(pred[-1])
        truth_all.append(truth)
    truth_cat = np.concatenate(truth_all)
    out["best_test_acc_per_fold_pooled"] = {
        "available": True,
        **_pooled(truth_cat, np.concatenate(oracle_pred), n_classes),
        "optimistic": True,
        "label": LABELS["best_test_acc_per_fold_pooled"],
        "source": SOURCES["best_test_acc_per_fold_pooled"],
    }
    last, _ = _per_subject(
        folds, lambda i, truth, idx: reference_subject_scores(truth[idx], last_pred[i][idx])
    )
    out["last_epoch"] = {
        "pooled": _pooled(truth_cat, np.concatenate(last_pred), n_classes),
        "per_subject_mean": last,
        "optimistic": False,
        "label": LABELS["last_epoch"],
    }
    return out


def _pooled(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    s = scores(truth, pred, n_classes)
    return {k: s[k] for k in ("uf1", "uar", "acc", "n")}
