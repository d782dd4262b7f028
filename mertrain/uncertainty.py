"""How sure a pooled UF1/UAR is: bootstrap intervals over subjects, paired differences between
two runs on the same split, and the spread over seeds.

Clips of one subject are not independent (one face, one session, one recording setup), so the
unit resampled is the subject: a resample draws S subjects with replacement and pools their
clips. A bootstrap over clips treats a 26-subject data set as 255 independent draws and gives
intervals that are too narrow (``tests/test_uncertainty.py`` measures both on simulated
classifiers). Everything is vectorised: per-subject confusion matrices are computed once, a
resample is a vector of subject counts, and its pooled matrix is one matrix product.

Intervals are percentile intervals of a seeded generator (``default_rng(seed)``), so a run
directory's results are the same every time they are recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mertrain.metrics import Labels

N_BOOT = 2000
LEVEL = 0.95
SEED = 0
METHOD = "percentile bootstrap over subjects"


def subject_confusions(
    y_true: Labels, y_pred: Labels, groups: Sequence[str], n_classes: int
) -> tuple[list[str], np.ndarray]:
    """(subjects in sorted order, confusion matrices (S, K, K), true classes on rows)."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    names, g = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    cms = np.zeros((len(names), n_classes, n_classes), dtype=np.int64)
    np.add.at(cms, (g.reshape(-1), t, p), 1)
    return [str(x) for x in names], cms


def uf1_uar(cms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UF1 and UAR (MEGC2019: as :func:`mertrain.metrics.scores`) of confusion matrices
    (..., K, K): F1 over the classes seen in truth or predictions, recall over the classes in
    the truth."""
    cm = np.asarray(cms, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)
    predicted = cm.sum(axis=-2)
    seen = support + predicted
    f1 = np.divide(2 * tp, seen, out=np.zeros_like(tp), where=seen > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        uf1 = f1.sum(axis=-1) / (seen > 0).sum(axis=-1)
        uar = recall.sum(axis=-1) / (support > 0).sum(axis=-1)
    return uf1, uar


def resample_counts(n_subjects: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, S) how often each subject is drawn in each resample (S draws with
    replacement)."""
    idx = rng.integers(0, n_subjects, size=(n_boot, n_subjects))
    flat = (np.arange(n_boot)[:, None] * n_subjects + idx).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_subjects)
    return counts.reshape(n_boot, n_subjects).astype(np.float64)


def _pool(counts: np.ndarray, cms: np.ndarray) -> np.ndarray:
    k = cms.shape[-1]
    return (counts @ cms.reshape(cms.shape[0], k * k).astype(np.float64)).reshape(-1, k, k)


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def bootstrap_ci(
    y_true: Labels,
    y_pred: Labels,
    groups: Sequence[str],
    n_classes: int,
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> dict[str, Any]:
    """The interval results.json carries for the pooled UF1/UAR: {"uf1": [lo, hi] | None,
    "uar": ..., "level", "n_boot", "seed", "n_subjects", "method"}. With fewer than two
    subjects there is nothing to resample (None)."""
    names, cms = subject_confusions(y_true, y_pred, groups, n_classes)
    out: dict[str, Any] = {
        "level": level,
        "n_boot": n_boot,
        "seed": seed,
        "n_subjects": len(names),
        "method": METHOD,
        "uf1": None,
        "uar": None,
    }
    if len(names) < 2:
        return out
    counts = resample_counts(len(names), n_boot, np.random.default_rng(seed))
    uf1, uar = uf1_uar(_pool(counts, cms))
    out["uf1"], out["uar"] = _interval(uf1, level), _interval(uar, level)
    return out


def paired_difference(
    y_true: Labels,
    pred_a: Labels,
    pred_b: Labels,
    groups: Sequence[str],
    n_classes: int,
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> dict[str, Any]:
    """B minus A on the same clips: the pooled UF1/UAR differences and their interval, both
    runs resampled with the SAME subjects each time (paired), so what the subjects share (hard
    faces, easy sessions) cancels. {"uf1": {"diff", "ci"}, "uar": {...}, "n_subjects", ...}."""
    names, cms_a = subject_confusions(y_true, pred_a, groups, n_classes)
    _, cms_b = subject_confusions(y_true, pred_b, groups, n_classes)
    ua, ra = uf1_uar(cms_a.sum(axis=0))
    ub, rb = uf1_uar(cms_b.sum(axis=0))
    out: dict[str, Any] = {
        "uf1": {"diff": float(ub - ua), "ci": None},
        "uar": {"diff": float(rb - ra), "ci": None},
        "n_subjects": len(names),
        "n_clips": int(len(np.asarray(y_true))),
        "level": level,
        "n_boot": n_boot,
        "seed": seed,
        "method": "paired " + METHOD,
    }
    if len(names) < 2:
        return out
    counts = resample_counts(len(names), n_boot, np.random.default_rng(seed))
    ba, bra = uf1_uar(_pool(counts, cms_a))
    bb, brb = uf1_uar(_pool(counts, cms_b))
    out["uf1"]["ci"] = _interval(bb - ba, level)
    out["uar"]["ci"] = _interval(brb - bra, level)
    return out


def t_quantile(df: int, level: float = LEVEL) -> float:
    """Student's t quantile for a two-sided ``level`` interval (scipy, imported when asked)."""
    from scipy.stats import t

    return float(t.ppf(1 - (1 - level) / 2, df))


def seed_spread(values: Sequence[float], level: float = LEVEL) -> dict[str, Any]:
    """Mean, sample sd and the t interval of the mean of one score over N seeds (the variation a
    different seed gives on the SAME subjects; it says nothing about other subjects)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    out: dict[str, Any] = {"n": int(len(v)), "mean": None, "sd": None, "ci": None}
    if not len(v):
        return out
    out["mean"] = float(v.mean())
    if len(v) > 1:
        sd = float(v.std(ddof=1))
        half = t_quantile(len(v) - 1, level) * sd / math.sqrt(len(v))
        out["sd"], out["ci"] = sd, [out["mean"] - half, out["mean"] + half]
    return out


def bootstrap_seed_mean(
    y_true: Labels,
    preds: Sequence[Labels],
    groups: Sequence[str],
    n_classes: int,
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> dict[str, Any]:
    """The interval of the seed-averaged pooled UF1/UAR over subjects: every resample draws
    the subjects once and scores every seed's predictions on them (seed noise averages out;
    the subjects' sampling remains)."""
    names = sorted(set(groups))
    out: dict[str, Any] = {"uf1": None, "uar": None, "n_subjects": len(names), "method": METHOD}
    if len(names) < 2 or not preds:
        return out
    counts = resample_counts(len(names), n_boot, np.random.default_rng(seed))
    uf1s, uars = [], []
    for pred in preds:
        _, cms = subject_confusions(y_true, pred, groups, n_classes)
        u, r = uf1_uar(_pool(counts, cms))
        uf1s.append(u)
        uars.append(r)
    out["uf1"] = _interval(np.mean(uf1s, axis=0), level)
    out["uar"] = _interval(np.mean(uars, axis=0), level)
    return out
