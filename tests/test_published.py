"""The published protocols beside the honest numbers (mertrain.published).

- The references' per-subject metric on constructed predictions: the matrix sized by the
  largest label seen, absent classes at recall 0 / F1 about 0, UF1 = UAR = 1 for a fully right
  subject; and against an independent TensorFlow computation of the same definition.
- Best-TEST-epoch selection per subject (first best UF1; UAR at that epoch; ACC best over
  epochs independently; mean over subjects) and the best-accuracy-per-fold pooled protocol.
- End to end at a tiny size: ``select="oracle-per-subject"`` keeps every epoch's test
  probabilities, takes each subject's rows from its reference-best epoch, labels everything
  optimistic, and its last epoch is bit for bit the ``select="last"`` run's predictions (keeping
  the test predictions changes no training); a ``last`` run says the test-epoch numbers are not
  available.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from mertrain.published import (
    published_scores,
    reference_best,
    reference_subject_scores,
    select_per_subject,
    subject_curves,
)

EPS = 1e-7


def test_a_fully_right_subject_scores_one_whatever_its_classes():
    assert reference_subject_scores([0, 0], [0, 0]) == {"uf1": 1.0, "uar": 1.0, "acc": 1.0}
    assert reference_subject_scores([2], [2]) == {"uf1": 1.0, "uar": 1.0, "acc": 1.0}
    # the honest per-subject slice of the same clip is 1 too, but pooled it is one clip of many
    assert reference_subject_scores([1, 2, 0], [1, 2, 0])["uf1"] == 1.0


def test_absent_classes_count_up_to_the_largest_label_seen():
    # truth two surprise clips, one predicted negative: the matrix is 3x3 (labels 0..2), the
    # never-seen class 1 and the never-true class 0 score recall 0 and F1 about 0
    s = reference_subject_scores([2, 2], [2, 0])
    f1_surprise = 2 * (1.0 * 0.5) / (1.0 + 0.5 + EPS)
    assert s["uf1"] == pytest.approx(f1_surprise / 3, rel=1e-6)
    assert s["uar"] == pytest.approx(0.5 / 3, rel=1e-6)
    assert s["acc"] == 0.5
    # the MEGC2019 slice of the same predictions averages over the classes seen only
    from mertrain.metrics import scores

    megc = scores([2, 2], [2, 0], 3)
    assert megc["uf1"] == pytest.approx((0 + 2 / 3) / 2) and megc["uar"] == 0.5
    # a label larger than any seen sizes the matrix: here classes 0 and 1 only (2x2)
    s = reference_subject_scores([0, 0, 1], [0, 0, 0])
    f1_neg = 2 * (2 / 3 * 1.0) / (2 / 3 + 1.0 + EPS)
    assert s["uf1"] == pytest.approx(f1_neg / 2, rel=1e-6)
    assert s["uar"] == pytest.approx(0.5, rel=1e-6)
    # a present, perfectly recalled class still loses 1e-7 in F1 (the reference's epsilon)
    s = reference_subject_scores([0, 1], [0, 0])
    assert s["uf1"] < 1.0 and s["uar"] == pytest.approx(0.5)


def _tf_reference(y_true, y_pred):
    """The reference definition written with TensorFlow ops (confusion matrix sized by TF)."""
    import tensorflow as tf

    cm = tf.math.confusion_matrix(y_true, y_pred)
    acc = tf.reduce_sum(tf.linalg.diag_part(cm)) / tf.reduce_sum(cm)
    tp = tf.cast(tf.linalg.diag_part(cm), tf.float32)
    support = tf.reduce_sum(cm, axis=1)
    denom = tf.where(support == 0, tf.constant(EPS, tf.float32), tf.cast(support, tf.float32))
    recall = tp / denom
    precision = tp / tf.cast(tf.reduce_sum(cm, axis=0), tf.float32)
    precision = tf.where(tf.math.is_finite(precision), precision, tf.constant(EPS, tf.float32))
    f1 = 2 * precision * recall / (precision + recall + EPS)
    if float(acc) == 1.0:
        return 1.0, 1.0, 1.0
    return float(tf.reduce_mean(f1)), float(tf.reduce_mean(recall)), float(acc)


def test_reference_metric_matches_an_independent_tensorflow_computation():
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(7)
    for _ in range(150):
        n = int(rng.integers(1, 9))
        k = int(rng.integers(2, 6))
        y = rng.integers(0, k, n)
        p = np.where(rng.random(n) < 0.5, y, rng.integers(0, k, n))
        ours = reference_subject_scores(y, p)
        uf1, uar, acc = _tf_reference(y, p)
        assert (ours["uf1"], ours["uar"], ours["acc"]) == pytest.approx((uf1, uar, acc), abs=1e-7)


@dataclass
class Fold:
    y_true: list[int]
    proba: np.ndarray
    subjects: list[str]
    epoch_proba: np.ndarray | None


def _onehot(preds, k=3):
    """(epochs, clips) labels -> (epochs, clips, k) probabilities with that argmax."""
    p = np.full((*np.shape(preds), k), 0.1)
    np.put_along_axis(p, np.asarray(preds)[..., None], 0.8, axis=-1)
    return p


def test_best_test_epoch_per_subject_first_best_uf1_uar_there_acc_anywhere():
    # subject A (3 clips, truth 0 1 2): epoch 1 all 0 (acc 1/3), epoch 2 two right, epoch 3
    # all right (acc 1 -> UF1 = UAR = 1), epoch 4 all right again: the FIRST best is epoch 3
    truth_a = [0, 1, 2]
    a = [[0, 0, 0], [0, 1, 1], [0, 1, 2], [0, 1, 2]]
    # subject B (5 clips, truth 0 0 0 1 2): UF1 is best at epoch 2 (2/3, accuracy .6),
    # accuracy at epoch 4 (.8, UF1 .62): the reference takes each maximum separately and reads
    # UAR at the UF1 epoch
    truth_b = [0, 0, 0, 1, 2]
    b = [[0, 0, 0, 0, 0], [0, 1, 1, 1, 2], [0, 0, 0, 0, 0], [0, 0, 0, 0, 2]]
    cb = subject_curves(np.array(b), truth_b)
    best_b = reference_best(cb)
    assert best_b["epoch"] == int(np.argmax(cb["uf1"])) + 1
    # the constructed case does what it says: best UF1 and best ACC at different epochs
    assert int(np.argmax(cb["uf1"])) != int(np.argmax(cb["acc"]))
    assert best_b["epoch"] == 2 and best_b["uf1"] == pytest.approx(2 / 3, rel=1e-6)
    assert best_b["acc"] == pytest.approx(0.8) and best_b["uar"] == pytest.approx(7 / 9, rel=1e-6)
    ca = subject_curves(np.array(a), truth_a)
    assert reference_best(ca) == {"epoch": 3, "uf1": 1.0, "uar": 1.0, "acc": 1.0}

    # one fold per subject (LOSO) and a fold holding both subjects (k-fold): same per-subject
    # choices, the mean over subjects, and the per-subject selection of the rows
    loso = [
        Fold(truth_a, _onehot(a[-1]), ["s/a"] * 3, _onehot(a)),
        Fold(truth_b, _onehot(b[-1]), ["s/b"] * 5, _onehot(b)),
    ]
    both = [
        Fold(
            truth_a + truth_b,
            _onehot(a[-1] + b[-1]),
            ["s/a"] * 3 + ["s/b"] * 5,
            _onehot([ra + rb for ra, rb in zip(a, b)]),
        )
    ]
    for folds in (loso, both):
        pub = published_scores(folds, 3)
        best = pub["best_test_epoch_per_subject"]
        assert best["available"] and best["optimistic"] and best["subjects"] == 2
        assert best["best_epochs"] == {"s/a": 3, "s/b": best_b["epoch"]}
        assert best["uf1"] == pytest.approx((1.0 + best_b["uf1"]) / 2)
        assert best["uar"] == pytest.approx((1.0 + best_b["uar"]) / 2)
        assert best["acc"] == pytest.approx((1.0 + 0.8) / 2)
        # the honest side of the same training: the last epoch pooled (MEGC2019 definition)
        from mertrain.metrics import scores

        last = scores(truth_a + truth_b, a[-1] + b[-1], 3)
        assert pub["last_epoch"]["pooled"]["uf1"] == pytest.approx(last["uf1"])
    proba, chosen = select_per_subject(both[0].epoch_proba, both[0].y_true, both[0].subjects)
    assert chosen == {"s/a": 3, "s/b": best_b["epoch"]}
    assert proba.argmax(1).tolist() == a[2] + b[best_b["epoch"] - 1]


def test_best_accuracy_per_fold_pooled_is_the_oracle_protocol():
    truth = [0, 1, 2, 0]
    epochs = [[0, 0, 0, 0], [0, 1, 2, 1], [0, 1, 0, 0], [0, 1, 2, 1]]  # acc .5, .75, .75, .75
    fold = Fold(truth, _onehot(epochs[-1]), ["s/a"] * 4, _onehot(epochs))
    pub = published_scores([fold], 3)
    from mertrain.metrics import scores

    want = scores(truth, epochs[1], 3)  # the first epoch of best test accuracy
    got = pub["best_test_acc_per_fold_pooled"]
    assert got["optimistic"] and (got["uf1"], got["acc"]) == pytest.approx(
        (want["uf1"], want["acc"])
    )


def test_without_epoch_predictions_the_test_epoch_protocols_are_not_available():
    truth = [0, 1, 2]
    fold = Fold(truth, _onehot([0, 1, 1]), ["s/a"] * 3, None)
    pub = published_scores([fold], 3)
    assert pub["per_subject_mean"]["optimistic"] is False
    assert pub["per_subject_mean"]["uf1"] == pytest.approx(
        reference_subject_scores(truth, [0, 1, 1])["uf1"]
    )
    for key in ("best_test_epoch_per_subject", "best_test_acc_per_fold_pooled"):
        assert (
            pub[key]["available"] is False and "--select oracle-per-subject" in pub[key]["reason"]
        )
    assert "last_epoch" not in pub


# --------------------------------------------------------------------------- end to end


def test_oracle_per_subject_run_end_to_end(tmp_path):
    from test_run import write_store

    from mertrain.report import format_table
    from mertrain.train import RunConfig, run

    store = write_store(tmp_path / "s.h5")

    def config(select: str) -> RunConfig:
        return RunConfig.from_options(
            stores=[str(store)],
            out=str(tmp_path / select),
            model="stcnn-3dcnn",
            epochs=3,
            model_options={"size": 32},
            select=select,
        )

    honest = run(config("last"), progress=False)
    oracle = run(config("oracle-per-subject"), progress=False)
    label = "oracle-per-subject (optimistic)"
    assert oracle.results["select"] == label
    assert f"select {label}" in format_table(oracle.results).splitlines()[0]
    assert "OPTIMISTIC" in format_table(oracle.results)
    rows = (oracle.out / "predictions.csv").read_text().splitlines()
    assert rows[0].endswith(",select") and all(r.endswith(label) for r in rows[1:])
    for i in range(3):
        h = json.loads((honest.out / "folds" / f"{i:03d}.json").read_text())
        o = json.loads((oracle.out / "folds" / f"{i:03d}.json").read_text())
        assert "epoch_proba" not in h
        ep = np.array(o["epoch_proba"])
        assert ep.shape == (3, len(o["clip_ids"]), 3)
        # recording the test predictions changed no training: the last epoch is the honest run
        np.testing.assert_array_equal(ep[-1], np.array(h["proba"]))
        # each subject's rows come from its reference-best epoch (LOSO: one subject per fold)
        best = reference_best(subject_curves(ep.argmax(2), o["y_true"]))
        assert o["best_epoch"] == best["epoch"]
        np.testing.assert_array_equal(np.array(o["proba"]), ep[best["epoch"] - 1])
    pub = oracle.results["published"]
    assert pub["best_test_epoch_per_subject"]["available"]
    assert pub["last_epoch"]["pooled"]["uf1"] == pytest.approx(honest.results["uf1"])
    assert pub["best_test_epoch_per_subject"]["uf1"] >= pub["last_epoch"]["per_subject_mean"]["uf1"]
    table = format_table(honest.results)
    assert "not available" in table and "per-subject mean, reference metric" in table
    assert honest.results["published"]["per_subject_mean"]["optimistic"] is False
