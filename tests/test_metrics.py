"""UF1 / UAR / ACC (MEGC2019 definitions) against scikit-learn, pooled and per subject, on
hypothesis-generated label vectors; results computed from fold records by the report."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.metrics import confusion_matrix as sk_confusion

from mertrain.metrics import confusion_matrix, scores, sliced_scores


@st.composite
def label_vectors(draw, min_size=1, max_size=60):
    n_classes = draw(st.integers(2, 7))
    n = draw(st.integers(min_size, max_size))
    labels = st.integers(0, n_classes - 1)
    y_true = draw(st.lists(labels, min_size=n, max_size=n))
    y_pred = draw(st.lists(labels, min_size=n, max_size=n))
    groups = draw(
        st.lists(
            st.sampled_from(["casme2/sub01", "samm/006", "smic/s01", "smic/s02"]),
            min_size=n,
            max_size=n,
        )
    )
    return n_classes, y_true, y_pred, groups


def _sklearn(y_true, y_pred):
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true"
        warnings.simplefilter("ignore")
        return (
            f1_score(y_true, y_pred, average="macro", zero_division=0),
            balanced_accuracy_score(y_true, y_pred),
            accuracy_score(y_true, y_pred),
        )


@settings(max_examples=200, deadline=None)
@given(label_vectors())
def test_scores_match_sklearn(data):
    n_classes, y_true, y_pred, _ = data
    s = scores(y_true, y_pred, n_classes)
    uf1, uar, acc = _sklearn(y_true, y_pred)
    assert s["uf1"] == pytest.approx(uf1, abs=1e-12)
    assert s["uar"] == pytest.approx(uar, abs=1e-12)
    assert s["acc"] == pytest.approx(acc, abs=1e-12)
    assert s["n"] == len(y_true)
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, n_classes),
        sk_confusion(y_true, y_pred, labels=list(range(n_classes))),
    )


@settings(max_examples=100, deadline=None)
@given(label_vectors())
def test_per_subject_slices_match_sklearn(data):
    n_classes, y_true, y_pred, groups = data
    per = sliced_scores(y_true, y_pred, groups, n_classes)
    assert list(per) == sorted(set(groups))
    for g, s in per.items():
        idx = [i for i, x in enumerate(groups) if x == g]
        uf1, uar, acc = _sklearn([y_true[i] for i in idx], [y_pred[i] for i in idx])
        assert (s["uf1"], s["uar"], s["acc"]) == pytest.approx((uf1, uar, acc), abs=1e-12)
        assert s["n"] == len(idx)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=3, max_size=50), st.randoms(use_true_random=False))
def test_pooled_scores_follow_the_megc2019_formula(y_true, rnd):
    """F1_c = 2TP/(2TP+FP+FN) and recall_c = TP/N_c averaged over the three classes, computed
    once on pooled predictions (not averaged over folds)."""
    y_true = [0, 1, 2] + y_true  # every class present, as in the composite
    y_pred = [rnd.randrange(3) for _ in y_true]
    t, p = np.array(y_true), np.array(y_pred)
    f1 = [
        2
        * np.sum((t == c) & (p == c))
        / (
            2 * np.sum((t == c) & (p == c))
            + np.sum((t != c) & (p == c))
            + np.sum((t == c) & (p != c))
        )
        for c in range(3)
    ]
    rec = [np.sum((t == c) & (p == c)) / np.sum(t == c) for c in range(3)]
    s = scores(y_true, y_pred, 3)
    assert s["uf1"] == pytest.approx(np.mean(f1)) and s["uar"] == pytest.approx(np.mean(rec))
    assert s["uf1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=0)
    )


def test_empty_and_perfect():
    assert scores([], [], 3) == {"uf1": None, "uar": None, "acc": None, "n": 0}
    assert scores([0, 1, 2], [0, 1, 2], 3)["uf1"] == 1.0


def test_results_from_fold_records_match_sklearn():
    """compute_results pools fold records, slices per dataset and subject: the numbers are
    scikit-learn's on the pooled vectors and on each slice."""
    from mertrain.config import RunConfig
    from mertrain.folds import FoldOutcome
    from mertrain.protocols import Fold, Splits
    from mertrain.recipe import Recipe
    from mertrain.report import LoadedRun, compute_results
    from mertrain.runrecord import RunRecord

    rng = np.random.default_rng(3)
    subjects = ["casme2/sub01", "casme2/sub02", "samm/006", "smic/s01"]
    folds, records = [], {}
    for i, subj in enumerate(subjects):
        n = 5 + i
        ids = [f"{subj}/c{j}" for j in range(n)]
        y = rng.integers(0, 3, n).tolist()
        proba = rng.dirichlet(np.ones(3), n).tolist()
        folds.append(Fold(subj, ids, []))
        records[i] = {
            "index": i,
            "name": subj,
            "seed": 0,
            "clip_ids": ids,
            "datasets": [subj.split("/")[0]] * n,
            "subjects": [subj] * n,
            "y_true": y,
            "proba": proba,
            "history": {},
            "seconds": 1.0,
        }
    splits = Splits("loso", "3class", ["negative", "positive", "surprise"], folds)
    record = RunRecord(
        RunConfig.from_options(stores=["s.h5"], model="m", select="oracle"), "m", {}, Recipe(), []
    )
    run = LoadedRun([], record, splits, {i: FoldOutcome.from_record(r) for i, r in records.items()})
    res = compute_results(run)
    y_true = [t for r in records.values() for t in r["y_true"]]
    y_pred = [int(np.argmax(p)) for r in records.values() for p in r["proba"]]
    assert (res["uf1"], res["uar"], res["acc"]) == pytest.approx(_sklearn(y_true, y_pred))
    ds = [r["datasets"][0] for r in records.values() for _ in r["y_true"]]
    for name in ("casme2", "samm", "smic"):
        idx = [i for i, d in enumerate(ds) if d == name]
        got = res["per_dataset"][name]
        assert (got["uf1"], got["uar"], got["acc"]) == pytest.approx(
            _sklearn([y_true[i] for i in idx], [y_pred[i] for i in idx])
        )
    for subj, r in zip(subjects, records.values()):
        got = res["per_subject"][subj]
        pred = [int(np.argmax(p)) for p in r["proba"]]
        assert (got["uf1"], got["uar"], got["acc"]) == pytest.approx(_sklearn(r["y_true"], pred))
    assert res["select"] == "oracle (optimistic)"
    assert np.sum(res["confusion"]) == len(y_true) and res["complete"]
